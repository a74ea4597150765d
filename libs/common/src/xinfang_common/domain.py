"""Vocabulary shared by every service: channels, petition types, outcomes, deadline kinds, regions."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator


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


class ReviewStage(StrEnum):
    """What a petitioner asks the next superior unit for: a review (复查) or a recheck (复核)."""

    REVIEW = "review"
    RECHECK = "recheck"


class DeadlineKind(StrEnum):
    """Which legal period a deadline closes."""

    ACCEPTANCE = "acceptance"


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


RegionCode = Annotated[str, AfterValidator(_check_region)]
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
