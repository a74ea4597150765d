"""Which unit is responsible for a petition: pure, deterministic decisions (no Kafka, no I/O).

属地管理、分级负责，谁主管、谁负责: the unit in charge of the matter where it arises, at the
most specific level the tree knows; failing that, the petition office there, which forwards it;
failing that, the root. A report (检举控告) never goes to the unit it is about (Art. 30).
A petition without a category may take one from the text classifier, if it is confident enough.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from routing.configured_rules import RoutingRule, match_rule
from routing.org_tree import OrgTree, Unit
from xinfang_common.domain import PetitionType, UnitKind, region_contains, region_level


class Rule(StrEnum):
    """Id of the rule that decided; carried on CaseAssigned and used as a metric label."""

    REGION_CATEGORY = "region-category"
    CLASSIFIED_REGION_CATEGORY = "classified-region-category"
    REGION_PETITION_OFFICE = "region-petition-office"
    FALLBACK_ROOT = "fallback-root"
    REPORT_DISCIPLINE_INSPECTION = "report-discipline-inspection"
    REPORT_SUPERIOR = "report-superior"
    CROSS_REGION_LEAD = "cross-region-lead"
    IMPORTED = "imported"
    MANUAL_TRIAGE = "manual-triage"
    REPEAT_IN_PROGRESS = "repeat-in-progress"
    REVIEW_SUPERIOR = "review-superior"


class RoutingInput(Protocol):
    """What routing looks at in a petition (PetitionRegistered has all of it)."""

    @property
    def region(self) -> str: ...

    @property
    def category(self) -> str | None: ...

    @property
    def petition_type(self) -> PetitionType | None: ...

    @property
    def subject_unit(self) -> str | None: ...


@dataclass(frozen=True)
class Decision:
    """The responsible unit, the rule that chose it and why, in words for people.

    ``category`` is the one the decision went by: the petition's own, or the classifier's.
    """

    unit: Unit
    rule: str
    """A ``Rule`` value, or the id of a configured rule."""
    explanation: str
    category: str | None = None


class GuessOutcome(StrEnum):
    """How the text classifier fared on a petition without a category; a metric label."""

    CONFIDENT = "confident"
    UNSURE = "unsure"
    NO_MODEL = "no_model"


@dataclass(frozen=True)
class CategoryGuess:
    """The text classifier's category for a petition that has none, or why there is none."""

    label: str | None
    confidence: float
    min_confidence: float

    @property
    def outcome(self) -> GuessOutcome:
        """Whether routing may go by the guess."""
        if self.label is None:
            return GuessOutcome.NO_MODEL
        if self.confidence >= self.min_confidence:
            return GuessOutcome.CONFIDENT
        return GuessOutcome.UNSURE

    def phrase(self) -> str:
        """The guess in words, for explanations."""
        return f"category predicted by the text classifier: {self.label} (confidence {self.confidence:.2f})"


@dataclass(frozen=True)
class _WithCategory:
    """A petition seen with a category it did not bring (the classifier's)."""

    region: str
    category: str | None
    petition_type: PetitionType | None
    subject_unit: str | None
    channel: str | None = None
    title: str | None = None
    content: str | None = None


class NoLawfulUnit(ValueError):
    """No unit may receive this petition (a report about the unit that oversees every other)."""


@dataclass(frozen=True)
class _Match:
    """A unit whose regions contain the petition's region, and the most specific such region."""

    unit: Unit
    region: str


def _label(unit: Unit) -> str:
    return f"{unit.name} ({unit.code})"


def _matches(units: Iterable[Unit], region: str, tree: OrgTree) -> list[_Match]:
    """Units serving ``region``, most specific first: deepest region, deepest in tree, then code."""
    found: list[_Match] = []
    for unit in units:
        containing = [r for r in unit.regions if region_contains(r, region)]
        if containing:
            found.append(_Match(unit, max(containing, key=lambda r: (region_level(r), r))))
    found.sort(key=lambda m: (-region_level(m.region), -tree.depth(m.unit.code), m.unit.code))
    return found


def _first_resolved(
    matches: Iterable[_Match], tree: OrgTree, allowed: Callable[[Unit], bool] = lambda _: True
) -> tuple[_Match, Unit, list[Unit]] | None:
    """The first match whose (successor-resolved) unit is active and allowed."""
    for match in matches:
        unit, passed = tree.resolve(match.unit)
        if unit is not None and allowed(unit):
            return match, unit, passed
    return None


def _succession(passed: list[Unit], unit: Unit) -> str:
    if not passed:
        return ""
    gone = ", then ".join(_label(u) for u in passed)
    return f" {gone} is no longer active; its successor {_label(unit)} takes the case."


def _category_phrase(category: str | None) -> str:
    return f"category {category}" if category else "no category"


def _no_category_reason(guess: CategoryGuess | None) -> str:
    if guess is None:
        return "The petition has no category yet"
    if guess.outcome is GuessOutcome.NO_MODEL:
        return "The petition has no category yet and no text classifier model is loaded"
    return (
        f"The petition has no category yet and the text classifier is unsure (best guess {guess.label}, "
        f"confidence {guess.confidence:.2f}, below the threshold {guess.min_confidence:.2f})"
    )


def _anywhere(_: Unit) -> bool:
    return True


def _base_decision(
    petition: RoutingInput,
    tree: OrgTree,
    guess: CategoryGuess | None = None,
    allowed: Callable[[Unit], bool] = _anywhere,
) -> Decision:
    """Rules (a) region-category, (b) region-petition-office, (c) fallback-root."""
    region, category = petition.region, petition.category
    if category:
        handling = (u for u in tree if category in u.categories)
        found = _first_resolved(_matches(handling, region, tree), tree, allowed)
        if found is not None:
            match, unit, passed = found
            return Decision(
                unit,
                Rule.REGION_CATEGORY,
                f"{_label(match.unit)} handles {category} for region {match.region}; it is the most "
                f"specific such unit for a petition from region {region}." + _succession(passed, unit),
            )
    offices = (u for u in tree if u.kind is UnitKind.PETITION_OFFICE)
    found = _first_resolved(_matches(offices, region, tree), tree, allowed)
    if found is not None:
        match, unit, passed = found
        reason = f"No unit handles {category} for region {region}" if category else _no_category_reason(guess)
        return Decision(
            unit,
            Rule.REGION_PETITION_OFFICE,
            f"{reason}, so it goes to {_label(match.unit)}, the petition office serving region "
            f"{match.region}, to forward it." + _succession(passed, unit),
        )
    if not allowed(tree.root):
        raise NoLawfulUnit(
            f"every unit that could take a petition from region {region} ({_category_phrase(category)}) "
            "is excluded; it needs manual triage"
        )
    return Decision(
        tree.root,
        Rule.FALLBACK_ROOT,
        f"No unit in the tree serves region {region} ({_category_phrase(category)}), so it goes to "
        f"the root unit {_label(tree.root)} to forward it by hand.",
    )


def _guard_report(
    petition: RoutingInput,
    tree: OrgTree,
    base: Decision,
    subject_code: str,
    permitted: Callable[[Unit], bool] = _anywhere,
    target_kind: UnitKind = UnitKind.DISCIPLINE_INSPECTION,
) -> Decision:
    """Art. 30: send a report around the unit it is about and every unit under that unit."""
    region = petition.region
    disciplinary = [u for u in tree if u.kind is target_kind]
    subject = tree.get(subject_code)
    if subject is None:
        # Without the unit in the tree we cannot tell which units it oversees; the discipline
        # inspection unit is the one place a report can safely go.
        found = _first_resolved(_matches(disciplinary, region, tree), tree, permitted)
        if found is not None:
            match, unit, passed = found
            return Decision(
                unit,
                Rule.REPORT_DISCIPLINE_INSPECTION,
                f"This is a report about unit {subject_code}, which is not in the org tree; under "
                f"Art. 30 of the 信访工作条例 it goes to {_label(match.unit)}, the discipline "
                f"inspection unit serving region {match.region}." + _succession(passed, unit),
            )
        return Decision(
            tree.root,
            Rule.FALLBACK_ROOT,
            f"This is a report about unit {subject_code}, which is not in the org tree, and no "
            f"discipline inspection unit serves region {region}; it goes to the root unit "
            f"{_label(tree.root)} to forward it by hand, away from the unit reported on (Art. 30).",
        )

    excluded = tree.subtree(subject.code)
    successor, _ = tree.resolve(subject)
    if successor is not None:
        excluded |= tree.subtree(successor.code)
    about = f"This is a report about {_label(subject)}"
    if base.unit.code not in excluded and permitted(base.unit):
        return Decision(
            base.unit,
            base.rule,
            f"{base.explanation} {about}, which neither is nor oversees the assigned unit (Art. 30).",
        )

    def allowed(unit: Unit) -> bool:
        return unit.code not in excluded and permitted(unit)

    found = _first_resolved(_matches(disciplinary, region, tree), tree, allowed)
    if found is not None:
        match, unit, passed = found
        return Decision(
            unit,
            Rule.REPORT_DISCIPLINE_INSPECTION,
            f"{about}; under Art. 30 of the 信访工作条例 it must not go to that unit or any unit under "
            f"it, so it goes to {_label(match.unit)}, the discipline inspection unit serving region "
            f"{match.region} ({_category_phrase(petition.category)})." + _succession(passed, unit),
        )
    for ancestor in tree.ancestors(subject.code):
        superior, passed = tree.resolve(ancestor)
        if superior is not None and allowed(superior):
            return Decision(
                superior,
                Rule.REPORT_SUPERIOR,
                f"{about}; under Art. 30 of the 信访工作条例 it must not go to that unit or any unit "
                f"under it, and no discipline inspection unit outside it serves region {region}, so it "
                f"goes to {_label(ancestor)}, a superior of the unit reported on "
                f"({_category_phrase(petition.category)})." + _succession(passed, superior),
            )
    # The unit reported on oversees the whole tree (it is the root). A discipline inspection unit
    # supervises it by law even where the tree files it underneath, so that is where it goes.
    outside_subject = [u for u in disciplinary if u.code != subject.code]
    found = _first_resolved(
        _matches(outside_subject, region, tree),
        tree,
        lambda u: u.code != subject.code and (successor is None or u.code != successor.code) and permitted(u),
    )
    if found is not None:
        match, unit, passed = found
        return Decision(
            unit,
            Rule.REPORT_DISCIPLINE_INSPECTION,
            f"{about}, the top of the org tree; under Art. 30 of the 信访工作条例 it must not go to that "
            f"unit, so it goes to {_label(match.unit)}, the discipline inspection unit serving region "
            f"{match.region}, which supervises it ({_category_phrase(petition.category)})."
            + _succession(passed, unit),
        )
    raise NoLawfulUnit(
        f"report about {_label(subject)}: every unit serving region {region} is that unit or under it, "
        "and no discipline inspection unit serves the region; it needs manual triage"
    )


def _view(petition: RoutingInput, category: str | None) -> _WithCategory:
    """What the rules read of ``petition``, with ``category`` in place of its own."""
    return _WithCategory(
        petition.region,
        category,
        petition.petition_type,
        petition.subject_unit,
        getattr(petition, "channel", None),
        getattr(petition, "title", None),
        getattr(petition, "content", None),
    )


def decide(
    petition: RoutingInput,
    tree: OrgTree,
    guess: CategoryGuess | None = None,
    *,
    rules: Sequence[RoutingRule] = (),
    excluded: Collection[str] = frozenset(),
    report_target: UnitKind = UnitKind.DISCIPLINE_INSPECTION,
) -> Decision:
    """The unit responsible for ``petition``, the rule that chose it and the reason.

    ``guess`` is the text classifier's category for a petition without one; routing goes by it
    only when it is confident, and otherwise says why it did not. ``rules`` are the configured
    rules, tried first; ``excluded`` are units that may not receive it (they objected), together
    with every unit that would only forward to them through succession.
    """
    if not petition.category and guess is not None and guess.outcome is GuessOutcome.CONFIDENT:
        decision = _decide(_view(petition, guess.label), tree, None, rules, excluded, report_target)
        rule = Rule.CLASSIFIED_REGION_CATEGORY if decision.rule is Rule.REGION_CATEGORY else decision.rule
        return replace(
            decision,
            rule=rule,
            explanation=f"No category was given; {guess.phrase()}. {decision.explanation}",
            category=guess.label,
        )
    return _decide(petition, tree, guess, rules, excluded, report_target)


def _decide(
    petition: RoutingInput,
    tree: OrgTree,
    guess: CategoryGuess | None,
    rules: Sequence[RoutingRule],
    excluded: Collection[str],
    report_target: UnitKind,
) -> Decision:
    def allowed(unit: Unit) -> bool:
        return unit.code not in excluded

    guess = guess if not petition.category else None
    base = _configured(petition, tree, rules, allowed)
    if base is None and petition.petition_type != PetitionType.REPORT:
        base = _cross_region(petition, tree, guess, allowed)
    if base is None:
        base = _base_decision(petition, tree, guess, allowed)
    if petition.petition_type == PetitionType.REPORT and petition.subject_unit:
        base = _guard_report(petition, tree, base, petition.subject_unit, allowed, report_target)
    return replace(base, category=petition.category or None)


def _configured(
    petition: RoutingInput, tree: OrgTree, rules: Sequence[RoutingRule], allowed: Callable[[Unit], bool]
) -> Decision | None:
    """The first configured rule that matches and names a unit that can take the case."""
    for rule in rules:
        hit = match_rule(rule, petition)
        if hit is None:
            continue
        named = tree.get(rule.assign.unit)
        if named is None:
            # A rule may name a unit not (yet) in the tree: it is passed over, not fatal.
            continue
        unit, passed = tree.resolve(named)
        if unit is None or not allowed(unit):
            continue
        return Decision(
            unit,
            rule.id,
            f"{hit.phrase()} It assigns the case to {_label(named)}." + _succession(passed, unit),
        )
    return None


def _cross_region(
    petition: RoutingInput, tree: OrgTree, guess: CategoryGuess | None, allowed: Callable[[Unit], bool]
) -> Decision | None:
    """Art. 24: a matter that arises in one region about a unit of another goes to their common superior.

    PetitionRegistered has one region; a subject unit that serves neither that region nor a part
    of it is how a matter spanning regions shows. The unit that would handle the matter where it
    arises and the subject unit are joined at their lowest common superior, named lead unit.
    """
    code = petition.subject_unit
    subject = tree.get(code) if code else None
    if subject is None or subject.serves(petition.region):
        return None
    local = _base_decision(petition, tree, guess, allowed)
    resolved, _ = tree.resolve(subject)
    other = resolved or subject
    lead = tree.lowest_common_ancestor([local.unit.code, other.code])
    unit, passed = tree.resolve(lead)
    while unit is None or not allowed(unit):
        ancestors = tree.ancestors(lead.code)
        if not ancestors:
            return None
        lead = ancestors[0]
        unit, passed = tree.resolve(lead)
    return Decision(
        unit,
        Rule.CROSS_REGION_LEAD,
        f"The matter arises in region {petition.region} but concerns {_label(subject)}, which serves "
        f"{', '.join(subject.regions)}: it spans regions, so under Art. 24 of the 信访工作条例 it goes to "
        f"{_label(lead)}, the lowest common superior of {_label(local.unit)} and {_label(other)}, "
        "as lead unit." + _succession(passed, unit),
    )
