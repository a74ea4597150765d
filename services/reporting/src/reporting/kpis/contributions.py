"""What one case adds to the KPI rollups: its counts as steps in time, per grain.

Every count of ``formulas.aggregate_columns`` and every stage is, for one case, a step
function of ``as_of``: each ``happened(column, as_of)`` flips exactly at the column's instant.
So a case is described by its value before any milestone (at the "base", day 0) and the
changes at each instant. Summing the changes of the selected cases up to the end of a local day
gives the counts as of that instant exactly, the same as evaluating the formulas then; that
is what ``kpi_counts`` stores, per registration month and change day.

Handling times go to ``kpi_handling_days`` by whole day of handling and month of the reply, so
that a percentile's rank is found there and only that day's values are read case by case.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reporting.kpis.formulas import SATISFIED

DAY_SECONDS = 86400
BASE_DAY = 0
"""The change day of what a case counts before any of its milestones."""

GRAIN_COLUMNS: dict[str, str | None] = {
    "all": None,
    "unit": "unit_code",
    "category": "category",
    "region": "region",
    "channel": "channel",
    "type": "petition_type",
}
"""Each grain of the rollups and the case column it keeps apart."""

CountKey = tuple[str, str, int, int]
"""(grain, dim, registration month, change day)"""
HandlingKey = tuple[str, str, int, int, int]
"""(grain, dim, registration month, reply month, whole days of handling)"""

READ_COLUMNS = (
    "case_id",
    "registered_at",
    "imported",
    "unit_code",
    "category",
    "region",
    "channel",
    "petition_type",
    "assigned_at",
    "acceptance_due_at",
    "completion_due_at",
    "accepted_at",
    "declined_at",
    "decided_at",
    "replied_at",
    "handling_seconds",
    "closed_at",
    "rated_at",
    "satisfaction",
    "review_requested_at",
    "review_replied_at",
    "recheck_requested_at",
    "recheck_replied_at",
    "linked_at",
    "overdue_at",
    "escalated_at",
)
"""The case columns the contributions read."""

_STAGE_COLUMNS = (
    "declined_at",
    "recheck_requested_at",
    "recheck_replied_at",
    "review_requested_at",
    "review_replied_at",
    "closed_at",
    "replied_at",
    "accepted_at",
    "assigned_at",
)
_PAST_DUE_COLUMNS = (
    "decided_at",
    "replied_at",
    "closed_at",
    "acceptance_due_at",
    "accepted_at",
    "declined_at",
    "completion_due_at",
)

_ONCE = (("linked_at", "linked"), ("overdue_at", "overdue_flagged"), ("escalated_at", "supervised"))
"""Counts that start at one instant and stay."""


def dim_value(value: str | None) -> str:
    """A dimension value as stored: "" for missing, so that "" itself stays apart as "="."""
    return "" if value is None else f"={value}"


def dim_of(stored: str) -> str | None:
    """The dimension value back from its stored form."""
    return None if stored == "" else stored[1:]


def local_month(at: datetime, zone: ZoneInfo) -> int:
    """``yyyymm`` of ``at``'s local date."""
    local = at.astimezone(zone)
    return local.year * 100 + local.month


def month_start(month: int, zone: ZoneInfo) -> datetime:
    """The instant local month ``yyyymm`` starts, in UTC."""
    return datetime(month // 100, month % 100, 1, tzinfo=zone).astimezone(UTC)


def next_month(month: int) -> int:
    """The ``yyyymm`` after ``month``."""
    return month + 89 if month % 100 == 12 else month + 1


def local_day(at: datetime, zone: ZoneInfo) -> int:
    """The ordinal of ``at``'s local date."""
    return at.astimezone(zone).date().toordinal()


def _happened(at: datetime | None, as_of: datetime) -> bool:
    return at is not None and at <= as_of


def stage_at(fact: Any, as_of: datetime) -> str:
    """The case's stage at ``as_of``: ``formulas.stage`` in Python."""
    if _happened(fact.declined_at, as_of):
        return "declined"
    if _happened(fact.recheck_requested_at, as_of) and not _happened(fact.recheck_replied_at, as_of):
        return "recheck"
    if _happened(fact.review_requested_at, as_of) and not _happened(fact.review_replied_at, as_of):
        return "review"
    if _happened(fact.closed_at, as_of):
        return "closed"
    if _happened(fact.replied_at, as_of):
        return "replied"
    if _happened(fact.accepted_at, as_of):
        return "in_progress"
    if fact.unit_code is not None and _happened(fact.assigned_at, as_of):
        return "awaiting_acceptance"
    return "awaiting_assignment"


def past_due_open_at(fact: Any, as_of: datetime) -> bool:
    """``formulas.past_due_open`` in Python."""
    settled = _happened(fact.replied_at, as_of) or _happened(fact.closed_at, as_of)
    deciding = (
        not _happened(fact.decided_at, as_of) and not settled and _happened(fact.acceptance_due_at, as_of)
    )
    answering = (
        _happened(fact.accepted_at, as_of)
        and not _happened(fact.declined_at, as_of)
        and not settled
        and _happened(fact.completion_due_at, as_of)
    )
    return deciding or answering


def _instants(fact: Any, columns: Iterable[str]) -> list[datetime]:
    return sorted({value for name in columns if (value := getattr(fact, name)) is not None})


def _earliest(first: datetime, second: datetime | None) -> datetime:
    return first if second is None or first <= second else second


def steps(fact: Any) -> list[tuple[datetime | None, str, int]]:
    """The case's counts as (instant, measure, change); instant None: from the start."""
    out: list[tuple[datetime | None, str, int]] = [(None, "cases", 1), (None, "stage_awaiting_assignment", 1)]
    if fact.imported is True:
        out.append((None, "imported", 1))
    decided, replied = fact.decided_at, fact.replied_at
    if fact.acceptance_due_at is not None:
        if decided is not None and decided < fact.acceptance_due_at:
            out.append((decided, "acc_num", 1))
        out.append((_earliest(fact.acceptance_due_at, decided), "acc_den", 1))
    elif decided is not None:
        out.append((decided, "acc_undetermined", 1))
    if fact.completion_due_at is not None:
        if replied is not None and replied < fact.completion_due_at:
            out.append((replied, "comp_num", 1))
        out.append((_earliest(fact.completion_due_at, replied), "comp_den", 1))
    elif replied is not None:
        out.append((replied, "comp_undetermined", 1))
    if replied is not None:
        out.append((replied, "replied", 1))
        if fact.rated_at is not None:
            rated = max(fact.rated_at, replied)
            out.append((rated, "rated", 1))
            if fact.satisfaction in SATISFIED:
                out.append((rated, "satisfied", 1))
        if fact.handling_seconds is not None:
            out.append((replied, "handling_count", 1))
            out.append((replied, "handling_sum", int(fact.handling_seconds)))
    for column, measure in (
        ("linked_at", "linked"),
        ("overdue_at", "overdue_flagged"),
        ("escalated_at", "supervised"),
    ):
        if (at := getattr(fact, column)) is not None:
            out.append((at, measure, 1))
    stage = "awaiting_assignment"
    for at in _instants(fact, _STAGE_COLUMNS):
        now = stage_at(fact, at)
        if now != stage:
            out.append((at, f"stage_{stage}", -1))
            out.append((at, f"stage_{now}", 1))
            stage = now
    past_due = False
    for at in _instants(fact, _PAST_DUE_COLUMNS):
        now_due = past_due_open_at(fact, at)
        if now_due != past_due:
            out.append((at, "past_due_open", 1 if now_due else -1))
            past_due = now_due
    return out


def is_local_midnight(at: datetime, zone: ZoneInfo) -> bool:
    """Whether ``at`` starts a local day (deadlines fall there: 24:00 of their last day)."""
    local = at.astimezone(zone)
    return local.hour == 0 and local.minute == 0 and local.second == 0 and local.microsecond == 0


@dataclass
class Contribution:
    """What one case adds to each rollup table, and its latest change off a local midnight."""

    counts: dict[CountKey, dict[str, int]] = field(default_factory=dict)
    handling: dict[HandlingKey, int] = field(default_factory=dict)
    last_unaligned_at: datetime | None = None


def contribution(fact: Any, zone: ZoneInfo) -> Contribution:
    """The rows ``fact`` adds to the rollups in ``zone``; nothing before it is registered."""
    result = Contribution()
    if fact.registered_at is None:
        return result
    reg_month = local_month(fact.registered_at, zone)
    by_day: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for at, measure, change in steps(fact):
        if at is None:
            by_day[BASE_DAY][measure] += change
            continue
        by_day[local_day(at, zone)][measure] += change
        if not is_local_midnight(at, zone) and (
            result.last_unaligned_at is None or at > result.last_unaligned_at
        ):
            result.last_unaligned_at = at
    changes = {day: {m: n for m, n in counts.items() if n} for day, counts in by_day.items()}
    handling_at: tuple[int, int] | None = None
    if fact.replied_at is not None and fact.handling_seconds is not None:
        handling_at = (local_month(fact.replied_at, zone), int(fact.handling_seconds) // DAY_SECONDS)
    for grain, column in GRAIN_COLUMNS.items():
        dim = "" if column is None else dim_value(getattr(fact, column))
        for day, counts in changes.items():
            if counts:
                result.counts[(grain, dim, reg_month, day)] = counts
        if handling_at is not None:
            result.handling[(grain, dim, reg_month, *handling_at)] = 1
    return result


def difference(before: Contribution, after: Contribution) -> Contribution:
    """``after`` minus ``before``: what a change of the case moves in the rollups."""
    counts: dict[CountKey, dict[str, int]] = {}
    for key in before.counts.keys() | after.counts.keys():
        old, new = before.counts.get(key, {}), after.counts.get(key, {})
        moved = {m: new.get(m, 0) - old.get(m, 0) for m in old.keys() | new.keys()}
        moved = {m: n for m, n in moved.items() if n}
        if moved:
            counts[key] = moved
    handling = {
        key: after.handling.get(key, 0) - before.handling.get(key, 0)
        for key in before.handling.keys() | after.handling.keys()
    }
    return Contribution(
        counts=counts,
        handling={k: n for k, n in handling.items() if n},
        last_unaligned_at=after.last_unaligned_at,
    )


def day_end(as_of: datetime, zone: ZoneInfo) -> datetime:
    """The last microsecond of ``as_of``'s local day."""
    local = as_of.astimezone(zone)
    next_day = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return next_day - timedelta(microseconds=1)
