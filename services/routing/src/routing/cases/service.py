"""What routing does with each event about a case, inside one database transaction.

Each handler reads and updates routing's own record of the case and returns the events to
publish; ``CaseService.process`` stores them with the input event's id, so a redelivered input
republishes the same events (same ids) instead of deciding again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routing.cases.database import Database
from routing.cases.models import CaseStatus, ProcessedEvent, RoutedCase, SurgeSignal
from routing.classifier import petition_text
from routing.configured_rules import RoutingRule
from routing.metrics import CLASSIFIER_PREDICTIONS
from routing.org_tree import OrgTree, Unit
from routing.rules import CategoryGuess, Decision, GuessOutcome, NoLawfulUnit, Rule, decide
from routing.similarity import jaccard, shingles
from routing.surge import SurgePolicy, detect
from xinfang_common.cloudevents import CloudEvent, build_event, decode_event, derived_event_id, utcnow
from xinfang_common.domain import AssignmentStage, LinkKind, PetitionType, ReplyStage, UnitKind
from xinfang_common.events import (
    CaseAssigned,
    CaseClosed,
    CaseDeclined,
    CaseLinked,
    CaseObjected,
    CaseReplied,
    PetitionRegistered,
    ReviewRequested,
    SurgeDetected,
    TriageQueued,
)
from xinfang_common.topics import (
    CASE_ASSIGNED,
    CASE_LINKED,
    CASE_TRIAGED,
    SURGE_DETECTED,
    TopicSpec,
    topic_by_name,
)

log = logging.getLogger(__name__)

MANUAL_TRIAGE = "manual-triage"
"""``ProcessedEvent.topic`` of a decision taken by hand through the triage API."""
CONFLICT_ATTEMPTS = 3
"""Times a decision is tried when it collides with a concurrent replica's write (see ``process``)."""


class Classifier(Protocol):
    """What routing needs of a text classifier."""

    def predict(self, text: str) -> tuple[str, float]: ...


def guess_category(classifier: Classifier | None, petition: Any, min_confidence: float) -> CategoryGuess:
    """What ``classifier`` makes of a petition's title and content (no label when there is no model)."""
    if classifier is None:
        return CategoryGuess(None, 0.0, min_confidence)
    label, confidence = classifier.predict(
        petition_text(getattr(petition, "title", None), getattr(petition, "content", None))
    )
    return CategoryGuess(label, confidence, min_confidence)


@dataclass(frozen=True)
class RoutingPolicy:
    """The configured thresholds routing decides by."""

    min_confidence: float = 0.6
    report_target: UnitKind = UnitKind.DISCIPLINE_INSPECTION
    repeat_similarity: float = 0.5
    repeat_window: timedelta = timedelta(days=180)
    surge: SurgePolicy = field(
        default_factory=lambda: SurgePolicy(timedelta(hours=24), baseline_windows=7, ratio=3.0, min_count=10)
    )


@dataclass(frozen=True)
class InForce:
    """The org tree, configured rules and classifier in force when an event is handled."""

    tree: OrgTree
    rules: Sequence[RoutingRule] = ()
    classifier: Classifier | None = None


@dataclass(frozen=True)
class Output:
    """An event to publish on the topic of ``spec``."""

    spec: TopicSpec
    event: CloudEvent[Any]

    def stored(self) -> dict[str, str]:
        """The form kept with the input event, to republish it on redelivery."""
        return {"topic": self.spec.name, "value": self.event.to_json_bytes().decode()}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Output:
        """Inverse of ``stored``."""
        spec = topic_by_name(stored["topic"])
        return cls(spec, decode_event(stored["value"], spec.schema, spec.event_type))


class CaseUnknown(LookupError):
    """Routing has no record of the case."""


class NotWaiting(ValueError):
    """The case is not in the triage queue."""


@dataclass(frozen=True)
class Link:
    """An earlier similar case and how the new one relates to it."""

    earlier: RoutedCase
    similarity: float
    kind: LinkKind


def _label(unit: Unit) -> str:
    return f"{unit.name} ({unit.code})"


class CaseService:
    """Handles case events against routing's database; every method but ``process`` runs in a session."""

    def __init__(
        self, database: Database, policy: RoutingPolicy, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.database = database
        self.policy = policy
        self.clock = clock

    # --- plumbing ------------------------------------------------------------------------------

    def process(
        self, event_id: str, topic: str, handler: Callable[[Session], list[Output]]
    ) -> tuple[list[Output], bool]:
        """Run ``handler`` once per event id; returns its outputs and whether it ran before.

        The decision and the events to publish are committed in one transaction. They need no
        outbox mark: the input's offset is committed only after they are published, so a crash in
        between redelivers the input, which republishes them from here.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.database.sessions.begin() as session:
                    seen = session.get(ProcessedEvent, event_id)
                    if seen is not None:
                        return [Output.from_stored(o) for o in seen.outputs], True
                    outputs = handler(session)
                    session.add(self._processed(event_id, topic, outputs, outbox=False))
                return outputs, False
            except IntegrityError:
                with self.database.sessions() as session:
                    seen = session.get(ProcessedEvent, event_id)
                    if seen is not None:
                        # Another replica handled the same event meanwhile (a rebalance): take its result.
                        return [Output.from_stored(o) for o in seen.outputs], True
                # Another replica wrote a row this decision also writes (the same surge signalled,
                # the same case under another event id) between our read and our insert. Deciding
                # again sees that row; a conflict that comes back every time is the message's.
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info(
                    "decision conflicted with another replica's; deciding again",
                    extra={"event_id": event_id, "attempt": attempt},
                )

    def _processed(
        self, event_id: str, topic: str, outputs: Sequence[Output], *, outbox: bool
    ) -> ProcessedEvent:
        """The record of a decision; with ``outbox``, unpublished until ``mark_published``."""
        now = self.clock()
        return ProcessedEvent(
            event_id=event_id,
            topic=topic,
            outputs=[o.stored() for o in outputs],
            processed_at=now,
            published_at=None if outbox and outputs else now,
        )

    def mark_published(self, event_id: str) -> None:
        """Record that every event ``event_id`` caused was acknowledged by the broker."""
        with self.database.sessions.begin() as session:
            session.execute(
                update(ProcessedEvent)
                .where(ProcessedEvent.event_id == event_id, ProcessedEvent.published_at.is_(None))
                .values(published_at=self.clock())
            )

    def unpublished(self) -> list[tuple[str, list[Output]]]:
        """Decisions whose events may not have reached the broker, oldest first."""
        with self.database.sessions() as session:
            rows = session.scalars(
                select(ProcessedEvent)
                .where(ProcessedEvent.published_at.is_(None))
                .order_by(ProcessedEvent.processed_at, ProcessedEvent.event_id)
            ).all()
            return [(row.event_id, [Output.from_stored(o) for o in row.outputs]) for row in rows]

    # --- PetitionRegistered --------------------------------------------------------------------

    def registered(
        self, session: Session, event: CloudEvent[PetitionRegistered], now: InForce
    ) -> list[Output]:
        """Decide a new petition: imported, repeat of a case in progress, rules, or triage."""
        petition = event.data
        if session.get(RoutedCase, petition.case_id) is not None:
            log.info("petition already routed under another event id", extra={"case_id": petition.case_id})
            return []
        text = shingles(petition_text(petition.title, petition.content))
        case = RoutedCase(
            case_id=petition.case_id,
            petition=petition.model_dump_json(),
            region=petition.region,
            category=petition.category or None,
            subject_unit=petition.subject_unit,
            petition_type=petition.petition_type.value if petition.petition_type else None,
            status=CaseStatus.TRIAGE,
            objectors=[],
            registered_at=petition.registered_at,
            imported=petition.imported,
            updated_at=self.clock(),
        )
        session.add(case)
        if petition.imported and petition.imported_unit and petition.imported_unit in now.tree:
            decision = self._imported(now.tree, petition.imported_unit)
            return [self._assign(case, event.id, decision, at=petition.registered_at)]

        guess = None
        if not petition.category:
            guess = guess_category(now.classifier, petition, self.policy.min_confidence)
            CLASSIFIER_PREDICTIONS.labels(guess.outcome.value).inc()
            if guess.outcome is GuessOutcome.CONFIDENT:
                case.category = guess.label
        outputs: list[Output] = []
        link = None if petition.imported else self._find_repeat(session, case, text)
        if link is not None:
            outputs.append(self._linked(event, case, link))
        at = petition.registered_at if petition.imported else self.clock()
        note = ""
        if petition.imported:
            note = (
                f"Imported case; its legacy unit {petition.imported_unit} is not in the org tree, so it "
                "is decided as usual. "
                if petition.imported_unit
                else "Imported case without its legacy unit: decided as usual, as of its registration. "
            )
        repeat = self._repeat_in_progress(now.tree, petition, link)
        if repeat is not None:
            decision = repeat
        else:
            if guess is not None and guess.outcome is GuessOutcome.UNSURE:
                reason = (
                    f"the text classifier is unsure (best guess {guess.label}, confidence "
                    f"{guess.confidence:.2f}, below {guess.min_confidence:.2f})"
                )
                outputs.append(self._to_triage(case, event.id, reason, guess))
                return outputs
            try:
                decision = decide(
                    petition, now.tree, guess, rules=now.rules, report_target=self.policy.report_target
                )
            except NoLawfulUnit as exc:
                outputs.append(self._to_triage(case, event.id, str(exc), guess))
                return outputs
        if note:
            decision = Decision(decision.unit, decision.rule, note + decision.explanation, decision.category)
        outputs.append(self._assign(case, event.id, decision, at=at))
        if not petition.imported:
            outputs.extend(self._surge(session, case, event.id))
        return outputs

    def _imported(self, tree: OrgTree, code: str) -> Decision:
        legacy = tree.get(code)
        assert legacy is not None
        unit, passed = tree.resolve(legacy)
        if unit is None:
            unit = tree.root
            tail = f" It is no longer active and has no successor, so the root {_label(unit)} takes it."
        elif passed:
            tail = f" It is no longer active; its successor {_label(unit)} takes it."
        else:
            tail = ""
        return Decision(
            unit,
            Rule.IMPORTED,
            f"Imported case: {_label(legacy)} handled it in the legacy system.{tail}",
        )

    def _repeat_in_progress(
        self, tree: OrgTree, petition: PetitionRegistered, link: Link | None
    ) -> Decision | None:
        """Art. 19: a matter still being handled goes to the unit handling it, not to a new one."""
        if link is None or link.kind is not LinkKind.IN_PROGRESS or link.earlier.unit_code is None:
            return None
        earlier = tree.get(link.earlier.unit_code)
        if earlier is None:
            return None
        unit, _ = tree.resolve(earlier)
        if unit is None:
            return None
        if petition.petition_type == PetitionType.REPORT and petition.subject_unit in tree:
            subject = tree.get(petition.subject_unit or "")
            if subject is not None and unit.code in tree.subtree(subject.code):
                # Art. 30 wins: the normal decision takes it around the unit reported on.
                return None
        return Decision(
            unit,
            Rule.REPEAT_IN_PROGRESS,
            f"The same matter is already being handled as case {link.earlier.case_id} by {_label(unit)} "
            f"(text similarity {link.similarity:.2f}), so this petition goes there too (Art. 19).",
        )

    def _find_repeat(self, session: Session, case: RoutedCase, text: frozenset[str]) -> Link | None:
        """The most similar earlier case on the same subject unit, or the same region and category."""
        same: list[Any] = []
        if case.subject_unit:
            same.append(RoutedCase.subject_unit == case.subject_unit)
        if case.category:
            same.append((RoutedCase.region == case.region) & (RoutedCase.category == case.category))
        if not same:
            return None
        since = case.registered_at - self.policy.repeat_window
        candidates = session.scalars(
            select(RoutedCase).where(
                or_(*same),
                RoutedCase.case_id != case.case_id,
                # A report and a claim on the same facts take different legal paths: not repeats.
                RoutedCase.petition_type.is_(None)
                if case.petition_type is None
                else RoutedCase.petition_type == case.petition_type,
                RoutedCase.registered_at >= since,
                RoutedCase.registered_at <= case.registered_at,
            )
        ).all()
        best: tuple[float, datetime, RoutedCase] | None = None
        for other in candidates:
            told = PetitionRegistered.model_validate_json(other.petition)
            score = jaccard(text, shingles(petition_text(told.title, told.content)))
            if score >= self.policy.repeat_similarity and (
                best is None or (score, other.registered_at) > (best[0], best[1])
            ):
                best = (score, other.registered_at, other)
        if best is None:
            return None
        earlier = best[2]
        kind = (
            LinkKind.FINAL if earlier.final else LinkKind.REPEAT if earlier.answered else LinkKind.IN_PROGRESS
        )
        return Link(earlier, round(best[0], 4), kind)

    def _linked(self, event: CloudEvent[PetitionRegistered], case: RoutedCase, link: Link) -> Output:
        data = CaseLinked(
            case_id=case.case_id,
            earlier_case_id=link.earlier.case_id,
            similarity=link.similarity,
            kind=link.kind,
            earlier_unit=link.earlier.unit_code,
            at=self.clock(),
        )
        return Output(
            CASE_LINKED,
            build_event(
                data,
                event_type=CASE_LINKED.event_type,
                source=CASE_LINKED.source,
                case_id=case.case_id,
                event_id=derived_event_id(event.id, CASE_LINKED.event_type),
            ),
        )

    def _surge(self, session: Session, case: RoutedCase, cause_id: str) -> list[Output]:
        """A SurgeDetected when this petition lifts its category and unit above their usual level."""
        if not case.category or not case.first_unit:
            return []
        surge = self.policy.surge
        end = case.registered_at
        since = end - surge.window * (surge.baseline_windows + 1)
        times = list(
            session.scalars(
                select(RoutedCase.registered_at).where(
                    RoutedCase.category == case.category,
                    RoutedCase.first_unit == case.first_unit,
                    RoutedCase.imported.is_(False),
                    RoutedCase.registered_at > since,
                    RoutedCase.registered_at <= end,
                )
            ).all()
        )
        found = detect(times, end, surge)
        if found is None:
            return []
        key = f"{case.category}|{case.first_unit}"
        signal = session.get(SurgeSignal, key)
        if signal is not None and signal.window_end > end - surge.window:
            return []  # the same surge, already signalled
        if signal is None:
            session.add(SurgeSignal(key=key, window_end=end))
        else:
            signal.window_end = end
        data = SurgeDetected(
            key=key,
            category=case.category,
            unit_code=case.first_unit,
            window_start=found.window_start,
            window_end=found.window_end,
            count=found.count,
            baseline_mean=round(found.baseline_mean, 3),
            baseline_windows=surge.baseline_windows,
            detected_at=self.clock(),
        )
        return [
            Output(
                SURGE_DETECTED,
                build_event(
                    data,
                    event_type=SURGE_DETECTED.event_type,
                    source=SURGE_DETECTED.source,
                    key=key,
                    event_id=derived_event_id(cause_id, SURGE_DETECTED.event_type),
                ),
            )
        ]

    # --- assignments and triage ----------------------------------------------------------------

    def _assign(
        self,
        case: RoutedCase,
        cause_id: str,
        decision: Decision,
        *,
        at: datetime,
        stage: AssignmentStage = AssignmentStage.HANDLING,
    ) -> Output:
        case.status = CaseStatus.ASSIGNED
        case.unit_code = decision.unit.code
        case.first_unit = case.first_unit or decision.unit.code
        case.category = decision.category or case.category
        case.triage_reason = case.triage_prediction = None
        case.triage_confidence = None
        case.triage_since = None
        case.updated_at = self.clock()
        data = CaseAssigned(
            case_id=case.case_id,
            unit_code=decision.unit.code,
            unit_name=decision.unit.name,
            region=case.region,
            category=case.category,
            petition_type=PetitionType(case.petition_type) if case.petition_type else None,
            rule=str(decision.rule),
            explanation=decision.explanation,
            assigned_at=at,
            stage=stage,
        )
        return Output(
            CASE_ASSIGNED,
            build_event(
                data,
                event_type=CASE_ASSIGNED.event_type,
                source=CASE_ASSIGNED.source,
                case_id=case.case_id,
                event_id=derived_event_id(cause_id, CASE_ASSIGNED.event_type),
            ),
        )

    def _to_triage(
        self, case: RoutedCase, cause_id: str, reason: str, guess: CategoryGuess | None = None
    ) -> Output:
        """Put the case in the triage queue; returns the TriageQueued that says so."""
        case.status = CaseStatus.TRIAGE
        case.unit_code = None
        case.triage_reason = reason
        case.triage_prediction = guess.label if guess else None
        case.triage_confidence = guess.confidence if guess and guess.label else None
        case.triage_since = self.clock()
        case.updated_at = self.clock()
        log.info("case waits in manual triage", extra={"case_id": case.case_id, "reason": reason[:200]})
        data = TriageQueued(case_id=case.case_id, reason=reason[:2000], at=case.triage_since)
        return Output(
            CASE_TRIAGED,
            build_event(
                data,
                event_type=CASE_TRIAGED.event_type,
                source=CASE_TRIAGED.source,
                case_id=case.case_id,
                event_id=derived_event_id(cause_id, CASE_TRIAGED.event_type),
            ),
        )

    def _case(self, session: Session, case_id: str) -> RoutedCase:
        case = session.get(RoutedCase, case_id, with_for_update=True)
        if case is None:
            raise CaseUnknown(f"routing has no record of case {case_id}")
        return case

    # --- CaseObjected --------------------------------------------------------------------------

    def objected(self, session: Session, event: CloudEvent[CaseObjected], now: InForce) -> list[Output]:
        """Art. 23: decide again without the objecting units; a second objection goes to triage."""
        objection = event.data
        case = self._case(session, objection.case_id)
        if case.status != CaseStatus.ASSIGNED or case.unit_code != objection.unit_code:
            log.info(
                "objection from a unit the case is not assigned to; ignored",
                extra={"case_id": case.case_id, "unit": objection.unit_code, "assigned": case.unit_code},
            )
            return []
        case.objectors = [*case.objectors, objection.unit_code]
        said = f"{objection.unit_code} objected that the matter is not its own: “{objection.reason}”."
        if len(case.objectors) >= 2:
            return [self._to_triage(case, event.id, f"second objection. {said}")]
        petition = PetitionRegistered.model_validate_json(case.petition)
        view = petition.model_copy(update={"category": case.category})
        try:
            decision = decide(
                view,
                now.tree,
                rules=now.rules,
                excluded=frozenset(case.objectors),
                report_target=self.policy.report_target,
            )
        except NoLawfulUnit as exc:
            return [self._to_triage(case, event.id, f"{said} {exc}")]
        decision = Decision(
            decision.unit,
            decision.rule,
            f"{said} Decided again without it. {decision.explanation}",
            decision.category,
        )
        return [self._assign(case, event.id, decision, at=self.clock())]

    # --- ReviewRequested -----------------------------------------------------------------------

    def review_requested(
        self, session: Session, event: CloudEvent[ReviewRequested], now: InForce
    ) -> list[Output]:
        """Art. 35-36: the review or recheck goes to the next active superior of the contested unit."""
        request = event.data
        case = self._case(session, request.case_id)
        stage = AssignmentStage(request.stage.value)
        what = "review (复查)" if stage is AssignmentStage.REVIEW else "recheck (复核)"
        contested = now.tree.get(request.unit_code)
        if contested is None:
            reason = f"{what} requested of the superior of {request.unit_code}, not in the org tree"
            return [self._to_triage(case, event.id, reason)]
        skipped: list[Unit] = []
        for ancestor in now.tree.ancestors(contested.code):
            if ancestor.active:
                break
            skipped.append(ancestor)
        else:
            reason = f"{what} requested, but {_label(contested)} has no active superior"
            return [self._to_triage(case, event.id, reason)]
        passed = (
            " " + ", ".join(_label(u) for u in skipped) + " is no longer active and is skipped."
            if skipped
            else ""
        )
        decision = Decision(
            ancestor,
            Rule.REVIEW_SUPERIOR,
            f"The petitioner asked for a {what} of the answer of {_label(contested)}; it goes to "
            f"{_label(ancestor)}, the next superior unit (Art. 35-36).{passed}",
            case.category,
        )
        case.answered = False
        return [self._assign(case, event.id, decision, at=self.clock(), stage=stage)]

    # --- CaseReplied ---------------------------------------------------------------------------

    def replied(self, session: Session, event: CloudEvent[CaseReplied]) -> list[Output]:
        """Remember that the case was answered, and whether after a recheck (then it is final)."""
        case = session.get(RoutedCase, event.data.case_id)
        if case is None:
            return []
        case.answered = True
        if event.data.stage is ReplyStage.RECHECK:
            case.final = True
        case.updated_at = self.clock()
        return []

    # --- CaseDeclined, CaseClosed --------------------------------------------------------------

    def ended(
        self, session: Session, event: CloudEvent[CaseDeclined] | CloudEvent[CaseClosed]
    ) -> list[Output]:
        """A declined (不予受理) or closed case is no longer in progress: its repeats are not Art. 19's."""
        case = session.get(RoutedCase, event.data.case_id)
        if case is None:
            return []
        # Whether it was final is the replies' to say (a recheck answer); ending does not change it.
        case.answered = True
        case.updated_at = self.clock()
        return []

    # --- manual triage -------------------------------------------------------------------------

    def waiting(self, session: Session) -> list[RoutedCase]:
        """Cases in the triage queue, longest waiting first."""
        return list(
            session.scalars(
                select(RoutedCase)
                .where(RoutedCase.status == CaseStatus.TRIAGE)
                .order_by(RoutedCase.triage_since, RoutedCase.case_id)
            ).all()
        )

    def assign_by_hand(
        self,
        session: Session,
        case_id: str,
        unit: Unit,
        *,
        tree: OrgTree,
        category: str | None,
        note: str,
    ) -> tuple[Output, str, str | None]:
        """Assign a waiting case to ``unit``; returns the CaseAssigned, the text and the label."""
        case = session.get(RoutedCase, case_id, with_for_update=True)
        if case is None:
            raise CaseUnknown(f"routing has no record of case {case_id}")
        if case.status != CaseStatus.TRIAGE:
            raise NotWaiting(f"case {case_id} is not waiting in triage (it is assigned to {case.unit_code})")
        petition = PetitionRegistered.model_validate_json(case.petition)
        if category:
            case.category = category
        reason = case.triage_reason or "waiting"
        decision = Decision(
            unit,
            Rule.MANUAL_TRIAGE,
            f"Assigned by hand from the triage queue (it waited because {reason}). Note: {note}",
            case.category,
        )
        output = self._assign(
            case,
            f"{case_id}/triage/{len(case.objectors)}/{self.clock().isoformat()}",
            decision,
            at=self.clock(),
        )
        # In the outbox with the decision: a crash before the publish is repaired at start.
        # No Kafka message will come again for this one: the outbox row is what gets it out.
        session.add(self._processed(output.event.id, MANUAL_TRIAGE, [output], outbox=True))
        return output, petition_text(petition.title, petition.content), case.category


def report_forbids(tree: OrgTree, case_petition: str, unit: Unit) -> str | None:
    """Why Art. 30 forbids giving this case to ``unit``, if it does."""
    petition = PetitionRegistered.model_validate_json(case_petition)
    if petition.petition_type != PetitionType.REPORT or not petition.subject_unit:
        return None
    subject = tree.get(petition.subject_unit)
    if subject is None:
        return None
    excluded = tree.subtree(subject.code)
    successor, _ = tree.resolve(subject)
    if successor is not None:
        excluded |= tree.subtree(successor.code)
    if unit.code in excluded:
        return (
            f"the case is a report about {subject.code}; under Art. 30 it may not go to that unit or any "
            "unit under it"
        )
    return None
