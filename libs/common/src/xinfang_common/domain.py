"""Vocabulary shared by every service: channels, petition types, outcomes, deadline kinds, regions."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema


class Channel(StrEnum):
    """How the petition reached us (来信/来访/来电/网上信访/转送)."""

    LETTER = "letter"
    VISIT = "visit"
    PHONE = "phone"
    ONLINE = "online"
    FORWARDED = "forwarded"


class PetitionType(StrEnum):
    """The three legal paths (Art. 29–31): 建议意见类, 检举控告类, 申诉求决类."""

    SUGGESTION = "suggestion"
    REPORT = "report"
    CLAIM = "claim"


class Outcome(StrEnum):
    """The finding of a written opinion on a claim (Art. 32): 支持, 解释说明, 不支持."""

    SUPPORTED = "supported"
    EXPLAINED = "explained"
    NOT_SUPPORTED = "not_supported"


class Satisfaction(StrEnum):
    """The petitioner's rating of a reply (满意, 基本满意, 不满意)."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class ReplyStage(StrEnum):
    """Which written answer a reply is: the first reply, the review (复查) or the recheck (复核)."""

    REPLY = "reply"
    REVIEW = "review"
    RECHECK = "recheck"


class Difficulty(StrEnum):
    """How hard the handling unit judges an accepted matter; an organisation's policy may set a
    stricter internal completion target per difficulty (简单、一般、疑难)."""

    SIMPLE = "simple"
    ORDINARY = "ordinary"
    DIFFICULT = "difficult"


class ReviewStage(StrEnum):
    """What a petitioner asks the next superior unit for: a review (复查) or a recheck (复核)."""

    REVIEW = "review"
    RECHECK = "recheck"


class AssignmentStage(StrEnum):
    """What an assignment is for: first handling, a review (复查) or a recheck (复核)."""

    HANDLING = "handling"
    REVIEW = "review"
    RECHECK = "recheck"


class LinkKind(StrEnum):
    """How a petition relates to an earlier similar one (重复信访)."""

    REPEAT = "repeat"
    """The earlier case was answered: the same matter raised again."""
    FINAL = "final"
    """The earlier case was closed after a recheck (复核): not accepted again (Art. 36)."""
    IN_PROGRESS = "in_progress"
    """The earlier case is still being handled: it goes to the same unit (Art. 19)."""


class DeadlineKind(StrEnum):
    """Which legal period a deadline closes."""

    ACCEPTANCE = "acceptance"
    FORWARD = "forward"
    """The petition office forwards or assigns a registered petition (Art. 22)."""
    OBJECTION = "objection"
    """Last moment a unit may object that a forwarded matter is not its own (Art. 23)."""
    COMPLETION = "completion"
    """The written opinion on an accepted case, extension included (Art. 34)."""
    REVIEW_REQUEST = "review_request"
    """The petitioner's window to ask for a review of the reply (Art. 35); informational."""
    REVIEW = "review"
    """The review (复查) answer (Art. 35)."""
    RECHECK_REQUEST = "recheck_request"
    """The petitioner's window to ask for a recheck of the review (Art. 36); informational."""
    RECHECK = "recheck"
    """The recheck (复核) answer (Art. 36)."""
    COMPLETION_TARGET = "completion_target"
    """The organisation's stricter internal target for the written opinion, by the difficulty the
    unit gave on acceptance; alerted on like a legal period, while the legal completion deadline
    (and the KPIs built on it) stands unchanged."""


class AlertTier(StrEnum):
    """How close to (or past) its deadline a case is when alerts warns about it."""

    APPROACHING = "approaching"
    DUE = "due"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    """Overdue for long enough that the superior unit is told (督办)."""


class UnitKind(StrEnum):
    """What a unit is; routing treats petition offices and discipline inspection specially."""

    PETITION_OFFICE = "petition_office"
    DEPARTMENT = "department"
    SUBSIDIARY = "subsidiary"
    DISCIPLINE_INSPECTION = "discipline_inspection"
    GOVERNMENT = "government"


class PeriodUnit(StrEnum):
    """Calendar days (日) or working days (工作日)."""

    CALENDAR_DAYS = "calendar_days"
    WORKING_DAYS = "working_days"


_REGION_RE = re.compile(r"^[1-8]\d{5}$")


def _check_region(code: str) -> str:
    if not _REGION_RE.match(code):
        raise ValueError("must be a 6-digit GB/T 2260 administrative division code, e.g. 330106")
    return code


RegionCode = Annotated[
    str,
    AfterValidator(_check_region),
    # Documented as a pattern so that clients (and generated tests) know the shape; checked by
    # _check_region, whose message says what a code looks like.
    WithJsonSchema({"type": "string", "pattern": r"^[1-8]\d{5}$", "examples": ["430104"]}),
]
"""A GB/T 2260 division code: province ``XX0000``, prefecture ``XXXX00`` or county ``XXXXXX``."""


def region_prefix(code: str) -> str:
    """The significant prefix of a division code: 330000 -> 33, 330100 -> 3301, 330106 -> 330106."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def region_contains(outer: str, inner: str) -> bool:
    """Whether division ``outer`` contains (or is) division ``inner``."""
    return inner.startswith(region_prefix(outer))


def region_level(code: str) -> int:
    """1 for a province, 2 for a prefecture, 3 for a county-level division."""
    return {2: 1, 4: 2}.get(len(region_prefix(code)), 3)
