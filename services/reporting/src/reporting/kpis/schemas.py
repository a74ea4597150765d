"""Request and response shapes of the KPI, backlog, trend and surge API: aggregates only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from reporting.stats.schemas import When
from xinfang_common.domain import Channel, PetitionType, RegionCode


class GroupBy(StrEnum):
    """What the KPI rows are broken down by."""

    UNIT = "unit"
    CATEGORY = "category"
    REGION = "region"
    CHANNEL = "channel"
    TYPE = "type"
    MONTH = "month"


class Interval(StrEnum):
    """The width of a trend bucket (local calendar days, ISO weeks from Monday, months)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class TrendBy(StrEnum):
    """What the trend series are split by."""

    CATEGORY = "category"
    UNIT = "unit"


class CaseQuery(BaseModel):
    """Which cases: all optional, combined with AND; the period is the registration time."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: When | None = Field(
        default=None,
        alias="from",
        description="start of the registration period, inclusive: a date (that local day's start) "
        "or a date-time with offset",
        examples=["2026-01-01"],
    )
    to: When | None = Field(
        default=None,
        description="end of the registration period: a date includes that whole local day; a "
        "date-time is exclusive. The measures are evaluated as of min(to, now)",
        examples=["2026-12-31"],
    )
    unit: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^\S+$",
        description="cases whose current unit is this one (and, with subtree, any unit below it); "
        "a supervisor without it sees its own subtree",
        examples=["430104-zjj"],
    )
    subtree: bool = Field(default=True, description="include the units below `unit`")
    category: str | None = Field(default=None, min_length=1, max_length=100, description="exact category")
    region: RegionCode | None = Field(
        default=None,
        description="division where the matter arises, subdivisions included",
        examples=["430100"],
    )
    channel: Channel | None = None
    type: PetitionType | None = Field(default=None, description="petition type")


class KpiQuery(CaseQuery):
    """The KPI filters and an optional breakdown."""

    group_by: GroupBy | None = Field(
        default=None,
        description="one row per unit (with `unit` and subtree: the unit itself and each unit "
        "directly below it, with its subtree), category, region, channel, type or local month",
    )


class Ratio(BaseModel):
    """One measure: numerator over denominator; rate is null when the denominator is 0."""

    numerator: int = Field(ge=0)
    denominator: int = Field(ge=0)
    rate: float | None = Field(description="numerator / denominator, 0..1")

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Ratio:
        """The ratio, rate rounded to 6 places."""
        rate = None if denominator == 0 else round(numerator / denominator, 6)
        return cls(numerator=numerator, denominator=denominator, rate=rate)


class HandlingTime(BaseModel):
    """Days from registration to the first reply, over cases replied by as_of."""

    count: int = Field(ge=0)
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None


class Undetermined(BaseModel):
    """Decided or replied cases whose deadline reporting has not received (in no ratio)."""

    acceptance: int = Field(ge=0)
    completion: int = Field(ge=0)


class Kpis(BaseModel):
    """The measures of one set of cases."""

    cases: int = Field(ge=0, description="cases registered in the period under the filters")
    imported: int = Field(ge=0, description="of those, imported history (counted like live cases)")
    timely_acceptance: Ratio = Field(description="及时受理率")
    on_time_completion: Ratio = Field(description="按期办结率")
    participation: Ratio = Field(description="参评率")
    satisfaction: Ratio = Field(description="满意率")
    repeat_rate: Ratio = Field(description="重复信访率")
    by_status: dict[str, int] = Field(description="cases per stage at as_of; every stage is present")
    handling_days: HandlingTime
    overdue: int = Field(ge=0, description="cases alerts declared overdue by as_of")
    supervised: int = Field(ge=0, description="cases escalated to the superior unit (督办) by as_of")
    past_due_open: int = Field(ge=0, description="cases open at as_of and past their current deadline")
    undetermined: Undetermined


class KpiGroup(Kpis):
    """The measures of one group."""

    key: str | None = Field(description="the unit code, category, region, channel, type or YYYY-MM")
    label: str | None = Field(description="the unit's name for units; the key otherwise")


class KpiRead(BaseModel):
    """KPIs under the filters, with the breakdown when asked for."""

    as_of: AwareDatetime = Field(description="the instant the measures are evaluated at: min(to, now)")
    total: Kpis
    groups: list[KpiGroup] | None = None
    generated_at: AwareDatetime


class BacklogRow(BaseModel):
    """Open cases of one stage, by age band."""

    stage: str
    bands: dict[str, int]
    total: int


class BacklogRead(BaseModel):
    """Open cases by age since registration (whole days) and stage."""

    as_of: AwareDatetime
    bands: list[str] = Field(description="age bands in days, in order")
    stages: list[BacklogRow]
    total: int


class TrendSeries(BaseModel):
    """New cases per bucket for one category or unit."""

    key: str | None
    label: str | None
    counts: list[int] = Field(description="one count per bucket, aligned with `buckets`")
    total: int


class TrendsRead(BaseModel):
    """Registrations per day, week or month, split by category or unit."""

    interval: Interval
    buckets: list[str] = Field(description="bucket starts as local dates (YYYY-MM-DD)")
    series: list[TrendSeries]


class SurgeRead(BaseModel):
    """A surge signal from routing (counts only)."""

    category: str
    unit_code: str
    unit_name: str
    window_start: datetime
    window_end: datetime
    count: int
    baseline_mean: float
    baseline_windows: int
    detected_at: datetime


class SurgesRead(BaseModel):
    """Surge signals, newest first."""

    surges: list[SurgeRead]
