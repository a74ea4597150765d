"""Routing rules an organisation configures in YAML: ordered, first match wins (pure, no I/O).

Each rule names what a petition must match (every given condition; a list means any of its
values) and the unit it goes to. They run before the built-in defaults of ``rules.py``; the
Art. 30 guard for reports overrides them like any other decision.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xinfang_common.domain import Channel, PetitionType, RegionCode, region_contains

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 5.0


def _as_tuple(value: object) -> object:
    """Accept one value where a list is expected."""
    if value is None:
        return ()
    if isinstance(value, str | int):
        return (value,)
    return value


class RuleMatch(BaseModel):
    """What a petition must match; an empty condition matches everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    petition_type: tuple[PetitionType, ...] = ()
    category: tuple[str, ...] = ()
    region: tuple[RegionCode, ...] = Field(default=(), description="contains the petition's region")
    subject_unit: tuple[str, ...] = ()
    channel: tuple[Channel, ...] = ()
    keywords: tuple[str, ...] = Field(default=(), description="any of them in title or content")

    @field_validator(
        "petition_type", "category", "region", "subject_unit", "channel", "keywords", mode="before"
    )
    @classmethod
    def _listify(cls, value: object) -> object:
        return _as_tuple(value)

    @field_validator("keywords")
    @classmethod
    def _no_blank_keyword(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v.strip() for v in values):
            raise ValueError("a keyword must not be blank")
        return values


class RuleAssign(BaseModel):
    """Where a matching petition goes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: str = Field(min_length=1, max_length=64)


class RoutingRule(BaseModel):
    """One configured rule: id, description, match, assign."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
    description: str = Field(default="", max_length=500)
    match: RuleMatch = RuleMatch()
    assign: RuleAssign


@dataclass(frozen=True)
class RuleHit:
    """A rule that matched, and the evidence: which condition matched what."""

    rule: RoutingRule
    evidence: tuple[str, ...]

    def phrase(self) -> str:
        """The match in words, for the explanation."""
        said = f" ({self.rule.description})" if self.rule.description else ""
        why = "; ".join(self.evidence) if self.evidence else "it matches every petition"
        return f"Configured rule {self.rule.id}{said} matched: {why}."


def match_rule(rule: RoutingRule, petition: Any) -> RuleHit | None:
    """The hit when every condition of ``rule`` holds for ``petition``; None otherwise."""
    m = rule.match
    evidence: list[str] = []
    petition_type = getattr(petition, "petition_type", None)
    if m.petition_type:
        if petition_type not in m.petition_type:
            return None
        evidence.append(f"petition type {petition_type}")
    category = getattr(petition, "category", None)
    if m.category:
        if category not in m.category:
            return None
        evidence.append(f"category {category}")
    region = getattr(petition, "region", "")
    if m.region:
        containing = [r for r in m.region if region_contains(r, region)]
        if not containing:
            return None
        evidence.append(f"region {region} lies in {containing[0]}")
    subject = getattr(petition, "subject_unit", None)
    if m.subject_unit:
        if subject not in m.subject_unit:
            return None
        evidence.append(f"subject unit {subject}")
    channel = getattr(petition, "channel", None)
    if m.channel:
        if channel not in m.channel:
            return None
        evidence.append(f"channel {channel}")
    if m.keywords:
        text = f"{getattr(petition, 'title', None) or ''}\n{getattr(petition, 'content', None) or ''}"
        found = [k for k in m.keywords if k in text]
        if not found:
            return None
        evidence.append("keyword(s) " + ", ".join(found) + " in the text")
    return RuleHit(rule, tuple(evidence))


class RulesError(ValueError):
    """The rules file is missing, unreadable or invalid; the message names rule and field."""


def parse_rules(document: Any, *, source: str = "routing rules") -> tuple[RoutingRule, ...]:
    """Validate a parsed YAML document (a list of rules, possibly empty) into rules."""
    if document is None:
        return ()
    if not isinstance(document, list):
        raise RulesError(f"{source}: expected a list of rules at the top level")
    rules: list[RoutingRule] = []
    problems: list[str] = []
    for index, item in enumerate(document):
        label = f"#{index + 1}"
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            label = str(item["id"])
        try:
            rules.append(RoutingRule.model_validate(item))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error.get("loc", ())) or "(rule)"
                problems.append(f"rule {label}, field {field}: {error.get('msg', 'invalid')}")
    ids = [r.id for r in rules]
    problems.extend(
        f"rule {i}, field id: used by more than one rule"
        for i in sorted({i for i in ids if ids.count(i) > 1})
    )
    if problems:
        raise RulesError(f"{source}: invalid routing rules:\n  " + "\n  ".join(problems))
    return tuple(rules)


def load_rules(path: Path | None) -> tuple[RoutingRule, ...]:
    """Read the rules file at ``path`` (None: no rules)."""
    if path is None:
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read routing rules file {path} (ROUTING_RULES_PATH): {exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from exc
    return parse_rules(document, source=str(path))


class RulesWatcher:
    """The rules in force; a changed file is swapped in, a broken one keeps the previous rules."""

    def __init__(self, path: Path | None, rules: Sequence[RoutingRule] = ()) -> None:
        self.path = path
        self.current: tuple[RoutingRule, ...] = tuple(rules)
        self.last_error: str | None = None
        self._seen: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def load(self) -> None:
        """Load the file now; RulesError when it is missing or invalid."""
        self._seen = self._stamp()
        self.current = load_rules(self.path)
        self.last_error = None

    def refresh(self) -> bool:
        """Reload the rules if the file changed; True when new rules are in force."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        try:
            rules = load_rules(self.path)
        except RulesError as exc:
            self.last_error = str(exc)
            log.error("routing rules not reloaded; the previous ones stay in force: %s", exc)
            return False
        self.current, self.last_error = rules, None
        log.info("routing rules loaded", extra={"path": str(self.path), "rules": len(rules)})
        return True

    async def watch(self, every_seconds: float = RELOAD_CHECK_SECONDS) -> None:
        """Call ``refresh`` every ``every_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # never let the watcher die: the next look may succeed
                log.exception("routing rules check failed")
