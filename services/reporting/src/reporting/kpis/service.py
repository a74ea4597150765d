"""The KPIs, backlog, trends and surges: filters in, aggregates out, never a single case."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from reporting.access import Scope
from reporting.kpis import formulas, rollup_query
from reporting.kpis.contributions import day_end, local_day, local_month, month_start, next_month
from reporting.kpis.schemas import (
    BacklogRead,
    BacklogRow,
    CaseQuery,
    GroupBy,
    HandlingTime,
    Interval,
    KpiGroup,
    KpiQuery,
    KpiRead,
    Kpis,
    Ratio,
    SurgeRead,
    SurgesRead,
    TrendBy,
    TrendSeries,
    TrendsRead,
    Undetermined,
)
from reporting.readmodel.models import CaseFact as F
from reporting.readmodel.models import Surge
from reporting.readmodel.repository import CaseFilter, hidden_from_index, snapshot
from reporting.readmodel.units import UnitTree
from reporting.stats.service import InvalidPeriod, period_bounds
from xinfang_common.domain import region_prefix

DAY = 86400.0

AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-15", 0, 15),
    ("16-30", 16, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    (">90", 91, None),
)
"""Backlog age bands in whole days since registration: (label, first day, last day)."""

MAX_BUCKETS = 1000
"""A trend longer than this many buckets is refused (a day-by-day series over three years)."""

DEFAULT_TREND_SPAN = {Interval.DAY: 90, Interval.WEEK: 26 * 7, Interval.MONTH: 366}
"""Days a trend covers when `from` is not given."""


@dataclass(frozen=True)
class Selection:
    """A request's cases: the read-model filter, the instant of evaluation, the scope."""

    flt: CaseFilter
    as_of: datetime
    scope: Scope


def select_cases(query: CaseQuery, scope: Scope, zone: ZoneInfo, *, now: datetime) -> Selection:
    """The filter and ``as_of`` (min(to, now)) of ``query`` within ``scope``."""
    start, end = period_bounds(query.from_, query.to, zone)
    flt = CaseFilter(
        unit_codes=scope.unit_codes,
        region_prefix=None if query.region is None else region_prefix(query.region),
        start=start,
        end=end,
        category=query.category,
        channel=None if query.channel is None else query.channel.value,
        petition_type=None if query.type is None else query.type.value,
    )
    # The period's end is exclusive: "as of the end of 31 December" is the instant just before.
    as_of = now if end is None else min(end - timedelta(microseconds=1), now)
    return Selection(flt=flt, as_of=as_of, scope=scope)


def local_text(
    session: Session, column: Any, pattern: str, zone: ZoneInfo, at: datetime
) -> ColumnElement[str]:
    """``column`` as local text in ``zone``: ``pattern`` is one of "year", "month", "day".

    PostgreSQL converts with the zone's rules; SQLite shifts by the zone's offset at ``at``
    (exact for zones without daylight saving, such as Asia/Shanghai).
    """
    if session.get_bind().dialect.name == "postgresql":
        pg = {"year": "YYYY", "month": "YYYY-MM", "day": "YYYY-MM-DD"}[pattern]
        return func.to_char(func.timezone(zone.key, column), pg)
    sqlite = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}[pattern]
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return func.strftime(sqlite, column, f"{minutes:+d} minutes")


def _group_column(session: Session, group_by: GroupBy, zone: ZoneInfo, as_of: datetime) -> Any:
    if group_by is GroupBy.MONTH:
        return local_text(session, F.registered_at, "month", zone, as_of)
    return {
        GroupBy.UNIT: F.unit_code,
        GroupBy.CATEGORY: F.category,
        GroupBy.REGION: F.region,
        GroupBy.CHANNEL: F.channel,
        GroupBy.TYPE: F.petition_type,
    }[group_by]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _percentile(count: int, fraction: float, value_at: Callable[[int], float]) -> float | None:
    """``formulas.percentile`` over ``count`` sorted values, reading only the two it needs."""
    if count == 0:
        return None
    rank = (count - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, count - 1)
    weight = rank - low
    return value_at(low) + (value_at(high) - value_at(low)) * weight


def _handling_time(count: int, total_seconds: int, value_at: Callable[[int], float]) -> HandlingTime:
    return HandlingTime(
        count=count,
        mean=_rounded(total_seconds / DAY / count) if count else None,
        p50=_rounded(_percentile(count, 0.5, value_at)),
        p90=_rounded(_percentile(count, 0.9, value_at)),
        p95=_rounded(_percentile(count, 0.95, value_at)),
    )


def _handling_of(seconds: list[int]) -> HandlingTime:
    seconds.sort()
    return _handling_time(len(seconds), sum(seconds), lambda rank: seconds[rank] / DAY)


def _kpis(counts: Mapping[str, int], handling: HandlingTime) -> Kpis:
    replied = counts.get("replied", 0)
    return Kpis(
        cases=counts.get("cases", 0),
        imported=counts.get("imported", 0),
        timely_acceptance=Ratio.of(counts.get("acc_num", 0), counts.get("acc_den", 0)),
        on_time_completion=Ratio.of(counts.get("comp_num", 0), counts.get("comp_den", 0)),
        participation=Ratio.of(counts.get("rated", 0), replied),
        satisfaction=Ratio.of(counts.get("satisfied", 0), counts.get("rated", 0)),
        repeat_rate=Ratio.of(counts.get("linked", 0), counts.get("cases", 0)),
        by_status={name: counts.get(f"stage_{name}", 0) for name in formulas.STAGES},
        handling_days=handling,
        overdue=counts.get("overdue_flagged", 0),
        supervised=counts.get("supervised", 0),
        past_due_open=counts.get("past_due_open", 0),
        undetermined=Undetermined(
            acceptance=counts.get("acc_undetermined", 0), completion=counts.get("comp_undetermined", 0)
        ),
    )


def _add(into: dict[str, int], row: Mapping[str, Any], sign: int = 1) -> None:
    for name, value in row.items():
        if name == "stage":
            into[f"stage_{value}"] = into.get(f"stage_{value}", 0) + sign * int(row["cases"] or 0)
        elif name != "key":
            into[name] = into.get(name, 0) + sign * int(value or 0)


def _count_stmt(key: Any, as_of: datetime, where: ColumnElement[bool]) -> Any:
    """The per-case counts of the cases ``where`` as of ``as_of``, per ``key`` and stage."""
    columns = formulas.aggregate_columns(as_of)
    current = formulas.stage(as_of).label("stage")
    if key is None:
        return select(literal(None).label("key"), current, *columns).where(where).group_by(current)
    return select(key.label("key"), current, *columns).where(where).group_by(key, current)


def _read(
    tree: UnitTree,
    as_of: datetime,
    now: datetime,
    group_by: GroupBy | None,
    totals: dict[str, int],
    grouped: Mapping[str | None, dict[str, int]],
    handling: Callable[[str | None], HandlingTime],
) -> KpiRead:
    groups = None
    if group_by is not None:
        groups = [
            KpiGroup(
                key=group_key,
                label=tree.name(group_key) if group_by is GroupBy.UNIT and group_key else group_key,
                **_kpis(counts, handling(group_key)).model_dump(),
            )
            for group_key, counts in sorted(
                grouped.items(), key=lambda item: (item[0] is None, item[0] or "")
            )
            if counts.get("cases", 0) != 0
        ]
    return KpiRead(as_of=as_of, total=_kpis(totals, handling(TOTAL)), groups=groups, generated_at=now)


TOTAL = "\x00total"
"""The key under which the handling times of all the selected cases are gathered."""


def compute_kpis(
    session: Session,
    selection: Selection,
    *,
    group_by: GroupBy | None,
    tree: UnitTree,
    zone: ZoneInfo,
    now: datetime,
) -> KpiRead:
    """The KPIs of the selected cases, overall and per group: from the rollups where they can."""
    snapshot(session)
    plan = rollup_query.plan_rollup(session, selection.flt, group_by, zone)
    if plan is None:
        return _kpis_per_case(session, selection, group_by=group_by, tree=tree, zone=zone, now=now)
    return _kpis_rolled_up(session, selection, plan, group_by=group_by, tree=tree, zone=zone, now=now)


def compute_kpis_per_case(
    session: Session,
    selection: Selection,
    *,
    group_by: GroupBy | None,
    tree: UnitTree,
    zone: ZoneInfo,
    now: datetime,
) -> KpiRead:
    """The KPIs evaluated on every selected case (the reference the rollups must agree with)."""
    snapshot(session)
    return _kpis_per_case(session, selection, group_by=group_by, tree=tree, zone=zone, now=now)


def _kpis_per_case(
    session: Session,
    selection: Selection,
    *,
    group_by: GroupBy | None,
    tree: UnitTree,
    zone: ZoneInfo,
    now: datetime,
) -> KpiRead:
    as_of, flt = selection.as_of, selection.flt
    key = None if group_by is None else _group_column(session, group_by, zone, as_of)
    stmt = _count_stmt(key, as_of, flt.cases())
    value_key = literal(None) if key is None else key
    value_stmt = select(value_key.label("key"), F.handling_seconds).where(
        flt.cases(), formulas.happened(F.replied_at, as_of), F.handling_seconds.is_not(None)
    )

    regroup = _regrouper(group_by, selection.scope, tree)
    totals: dict[str, int] = {}
    grouped: dict[str | None, dict[str, int]] = defaultdict(dict)
    for row in session.execute(stmt).mappings():
        if row["cases"] == 0:
            continue
        _add(totals, dict(row))
        _add(grouped[regroup(row["key"])], dict(row))
    seconds: dict[str | None, list[int]] = defaultdict(list)
    for group_key, value in session.execute(value_stmt):
        seconds[TOTAL].append(int(value or 0))
        seconds[regroup(group_key)].append(int(value or 0))
    return _read(tree, as_of, now, group_by, totals, grouped, lambda k: _handling_of(seconds[k]))


def _kpis_rolled_up(
    session: Session,
    selection: Selection,
    plan: rollup_query.RollupPlan,
    *,
    group_by: GroupBy | None,
    tree: UnitTree,
    zone: ZoneInfo,
    now: datetime,
) -> KpiRead:
    """Rollups for the whole months, cases for the rest, and cases for today's later changes."""
    as_of = selection.as_of
    key = None if group_by is None else _group_column(session, group_by, zone, as_of)
    regroup = _regrouper(group_by, selection.scope, tree)
    totals: dict[str, int] = {}
    grouped: dict[str | None, dict[str, int]] = defaultdict(dict)

    def add(group_key: str | None, row: Mapping[str, Any], sign: int = 1) -> None:
        _add(totals, row, sign)
        _add(grouped[regroup(group_key)], row, sign)

    day = local_day(as_of, zone)
    for group_key, counts in rollup_query.rolled_counts(session, plan, through_day=day, group_by=group_by):
        add(group_key, counts)
    for edge in plan.edges:
        for row in session.execute(_count_stmt(key, as_of, edge.cases())).mappings():
            add(row["key"], dict(row))
    end = day_end(as_of, zone)
    unindexed = _steers_index(session)
    if as_of < end and _changes_after(session, as_of):
        # The rollups count up to the day's end; cases changing between as_of and then are
        # re-counted here (only off-midnight instants can fall in that span, deadlines cannot).
        # Normally none do when as_of is now, and the check above reads one index entry.
        late = rollup_query.covered_and(plan, F.last_unaligned_at > as_of, unindexed=unindexed)
        for instant, sign in ((as_of, 1), (end, -1)):
            for row in session.execute(_count_stmt(key, instant, late)).mappings():
                add(row["key"], dict(row), sign)

    days = _handling_days(session, selection, plan, key, regroup, zone, group_by)
    value_key = _registration_month(days, zone) if group_by is GroupBy.MONTH else key
    values = _handling_values(session, selection, value_key, regroup, days)

    def handling(group_key: str | None) -> HandlingTime:
        counts = totals if group_key == TOTAL else grouped.get(group_key, {})
        histogram = sorted(days.get(group_key, {}).items())

        def value_at(rank: int) -> float:
            below = 0
            for handling_day, n in histogram:
                if rank < below + n:
                    read = values.get(group_key, [])
                    return read[bisect_left(read, handling_day * int(DAY)) + rank - below] / DAY
                below += n
            raise AssertionError(f"rank {rank} beyond the {below} handling times counted")

        return _handling_time(counts.get("handling_count", 0), counts.get("handling_sum", 0), value_at)

    return _read(tree, as_of, now, group_by, totals, grouped, handling)


def _handling_days(
    session: Session,
    selection: Selection,
    plan: rollup_query.RollupPlan,
    key: Any,
    regroup: Callable[[str | None], str | None],
    zone: ZoneInfo,
    group_by: GroupBy | None,
) -> dict[str | None, dict[int, int]]:
    """Replied cases per whole day of handling, per group and in total (key TOTAL)."""
    as_of = selection.as_of
    days: dict[str | None, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def add(group_key: str | None, handling_day: int, n: int) -> None:
        days[TOTAL][handling_day] += n
        days[regroup(group_key)][handling_day] += n

    month = local_month(as_of, zone)
    # as_of at a month's last instant (a period ending with its month): that month's replies
    # are all in, and the rollups hold them; else they are counted case by case.
    whole_months_before = local_month(as_of + timedelta(microseconds=1), zone)
    for group_key, handling_day, n in rollup_query.rolled_handling_days(
        session, plan, replied_before_month=whole_months_before, group_by=group_by
    ):
        add(group_key, handling_day, n)
    replied = formulas.happened(F.replied_at, as_of)
    parts = [and_(edge.cases(), replied, F.handling_seconds.is_not(None)) for edge in plan.edges]
    if whole_months_before == month:
        # Through the reply-time index: a month of replies, not the period's registrations.
        unindexed = _steers_index(session)
        handled = hidden_from_index(F.handling_seconds) if unindexed else F.handling_seconds
        this_month = and_(F.replied_at >= month_start(month, zone), replied, handled.is_not(None))
        parts.append(rollup_query.covered_and(plan, this_month, unindexed=unindexed))
    group_key_column = literal(None) if key is None else key
    day_column = (F.handling_seconds // int(DAY)).label("handling_day")
    for part in parts:
        stmt = (
            select(group_key_column.label("key"), day_column, func.count())
            .where(part)
            .group_by(group_key_column, day_column)
        )
        for group_key, hday, n in session.execute(stmt):
            add(group_key, int(hday), int(n))
    return days


def _handling_values(
    session: Session,
    selection: Selection,
    key: Any,
    regroup: Callable[[str | None], str | None],
    days: Mapping[str | None, Mapping[int, int]],
) -> dict[str | None, list[int]]:
    """Per group, the sorted handling seconds read: every value of the days that hold a
    percentile's rank in any group, so each of those days is complete for every group."""
    wanted: set[int] = set()
    for histogram in days.values():
        count = sum(histogram.values())
        if count == 0:
            continue
        ranks: set[int] = set()
        for fraction in (0.5, 0.9, 0.95):
            low = math.floor((count - 1) * fraction)
            ranks |= {low, min(low + 1, count - 1)}
        below = 0
        for handling_day, n in sorted(histogram.items()):
            if any(below <= r < below + n for r in ranks):
                wanted.add(handling_day)
            below += n
    values: dict[str | None, list[int]] = defaultdict(list)
    if not wanted:
        return values
    as_of = selection.as_of
    group_key_column = literal(None) if key is None else key
    seconds = F.handling_seconds
    # Through the handling-time index: a few days' values, not every selected case.
    unindexed = _steers_index(session)
    replied_at = hidden_from_index(F.replied_at) if unindexed else F.replied_at
    selected = and_(selection.flt.cases(unindexed=unindexed), formulas.happened(replied_at, as_of))
    # One index range per run of consecutive days, as a UNION ALL: an OR of ranges makes
    # SQLite collect row ids and read the table rows, and PostgreSQL use a bitmap scan of the
    # table, where one range each reads the covering index only.
    ranges = [
        select(group_key_column.label("key"), seconds.label("seconds")).where(
            selected, seconds >= first * int(DAY), seconds < (last + 1) * int(DAY)
        )
        for first, last in _runs(sorted(wanted))
    ]
    stmt = ranges[0] if len(ranges) == 1 else union_all(*ranges)
    # A plain connection's rows: the ORM's result processing cost more than the query here.
    by_key: dict[str | None, list[int]] = defaultdict(list)
    for group_key, value in session.connection().execute(stmt).all():
        by_key[group_key].append(value)
    for group_key, found in by_key.items():
        values[TOTAL].extend(found)
        values[regroup(group_key)].extend(found)
    for found in values.values():
        found.sort()
    return values


def _registration_month(days: Mapping[str | None, Any], zone: ZoneInfo) -> ColumnElement[str] | None:
    """The local month of registration, "yyyy-mm", as a CASE over the months in ``days``.

    Cheaper per row than formatting each time in the zone, and the values read for a percentile
    are tens of thousands of rows. Every case those rows come from was counted in ``days`` under
    its month, so every row's month is among them.
    """
    months = sorted(k for k in days if k is not None and k != TOTAL)
    if not months:
        return None

    def end(month: str) -> datetime:
        return month_start(next_month(int(month[:4]) * 100 + int(month[5:7])), zone)

    *earlier, last = months
    if not earlier:
        return literal(last)
    return case(*((F.registered_at < end(m), literal(m)) for m in earlier), else_=literal(last))


def _runs(days: list[int]) -> list[tuple[int, int]]:
    """Sorted ``days`` as runs of consecutive days: (first, last) each."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _steers_index(session: Session) -> bool:
    """Whether the side queries name the index to read (SQLite, whose planner has no range
    statistics); PostgreSQL's planner estimates the ranges and picks well by itself."""
    return session.get_bind().dialect.name == "sqlite"


def _changes_after(session: Session, as_of: datetime) -> bool:
    """Whether any case has a KPI change off a local midnight after ``as_of``."""
    found = session.scalar(select(F.case_id).where(F.last_unaligned_at > as_of).limit(1))
    return found is not None


def _group_order(item: tuple[str | None, Any]) -> tuple[bool, str]:
    return (item[0] is None, item[0] or "")


def _regrouper(group_by: GroupBy | None, scope: Scope, tree: UnitTree) -> Any:
    """Maps a row's group key to the reported group (units roll up under the unit asked about)."""
    if group_by is GroupBy.UNIT and scope.unit is not None and scope.subtree:
        top = scope.unit

        def roll_up(code: str | None) -> str | None:
            return None if code is None else tree.group_under(top, code) or code

        return roll_up
    return lambda value: value


def _band(as_of: datetime) -> ColumnElement[str]:
    whens = []
    for label, _, last in AGE_BANDS:
        if last is None:
            break
        # Whole days of age <= last  <=>  registered after as_of - (last + 1) days.
        whens.append((F.registered_at > as_of - timedelta(days=last + 1), literal(label)))
    return case(*whens, else_=literal(AGE_BANDS[-1][0]))


def compute_backlog(session: Session, selection: Selection) -> BacklogRead:
    """Open cases at ``as_of`` by stage and age band."""
    snapshot(session)
    as_of = selection.as_of
    current = formulas.stage(as_of)
    band = _band(as_of)
    stmt = (
        select(current.label("stage"), band.label("band"), func.count())
        .where(selection.flt.cases(), F.registered_at <= as_of, current.in_(formulas.OPEN_STAGES))
        .group_by(current, band)
    )
    labels = [label for label, _, _ in AGE_BANDS]
    table: dict[str, dict[str, int]] = {s: dict.fromkeys(labels, 0) for s in formulas.OPEN_STAGES}
    for stage_name, band_label, n in session.execute(stmt):
        table[stage_name][band_label] += int(n)
    rows = [BacklogRow(stage=s, bands=b, total=sum(b.values())) for s, b in table.items()]
    return BacklogRead(as_of=as_of, bands=labels, stages=rows, total=sum(r.total for r in rows))


def _bucket_start(day: date, interval: Interval) -> date:
    if interval is Interval.DAY:
        return day
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_bucket(start: date, interval: Interval) -> date:
    if interval is Interval.DAY:
        return start + timedelta(days=1)
    if interval is Interval.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def trend_selection(
    query: CaseQuery, scope: Scope, zone: ZoneInfo, *, interval: Interval, now: datetime
) -> Selection:
    """The selection of a trend: without `from`, the last 90 days, 26 weeks or 12 months."""
    selection = select_cases(query, scope, zone, now=now)
    if selection.flt.start is not None:
        return selection
    start = selection.as_of - timedelta(days=DEFAULT_TREND_SPAN[interval])
    flt = CaseFilter(**{**selection.flt.__dict__, "start": start})
    return Selection(flt=flt, as_of=selection.as_of, scope=scope)


def compute_trends(
    session: Session, selection: Selection, *, interval: Interval, by: TrendBy, tree: UnitTree, zone: ZoneInfo
) -> TrendsRead:
    """Registrations per bucket, per category or unit."""
    as_of, flt = selection.as_of, selection.flt
    assert flt.start is not None
    first = _bucket_start(flt.start.astimezone(zone).date(), interval)
    last = _bucket_start(as_of.astimezone(zone).date(), interval)
    buckets: list[date] = []
    current = first
    while current <= last:
        buckets.append(current)
        if len(buckets) > MAX_BUCKETS:
            raise InvalidPeriod(
                f"more than {MAX_BUCKETS} {interval.value} buckets: shorten the period", "from"
            )
        current = _next_bucket(current, interval)
    index = {b: i for i, b in enumerate(buckets)}
    day = local_text(session, F.registered_at, "day", zone, as_of)
    key = F.category if by is TrendBy.CATEGORY else F.unit_code
    stmt = select(day, key, func.count()).where(flt.cases(), F.registered_at <= as_of).group_by(day, key)
    series: dict[str | None, list[int]] = {}
    for day_text, group_key, n in session.execute(stmt):
        bucket = _bucket_start(date.fromisoformat(str(day_text)), interval)
        if bucket not in index:
            continue
        series.setdefault(group_key, [0] * len(buckets))[index[bucket]] += int(n)
    rows = [
        TrendSeries(
            key=k,
            label=tree.name(k) if by is TrendBy.UNIT and k else k,
            counts=counts,
            total=sum(counts),
        )
        for k, counts in series.items()
    ]
    rows.sort(key=lambda r: (-r.total, r.key or ""))
    return TrendsRead(interval=interval, buckets=[b.isoformat() for b in buckets], series=rows)


def list_surges(session: Session, selection: Selection, *, tree: UnitTree, limit: int = 200) -> SurgesRead:
    """Surge signals detected in the period (by detection time) for units in scope, newest first."""
    flt = selection.flt
    clauses: list[ColumnElement[bool]] = [Surge.detected_at <= selection.as_of]
    if flt.start is not None:
        clauses.append(Surge.detected_at >= flt.start)
    if flt.unit_codes is not None:
        clauses.append(Surge.unit_code.in_(sorted(flt.unit_codes)))
    if flt.category is not None:
        clauses.append(Surge.category == flt.category)
    stmt = select(Surge).where(and_(*clauses)).order_by(Surge.detected_at.desc()).limit(limit)
    return SurgesRead(
        surges=[
            SurgeRead(
                category=s.category,
                unit_code=s.unit_code,
                unit_name=tree.name(s.unit_code),
                window_start=s.window_start,
                window_end=s.window_end,
                count=s.count,
                baseline_mean=s.baseline_mean,
                baseline_windows=s.baseline_windows,
                detected_at=s.detected_at,
            )
            for s in session.scalars(stmt)
        ]
    )


def utc(value: datetime) -> datetime:
    """``value`` in UTC."""
    return value.astimezone(UTC)


def group_counts(rows: Iterable[tuple[str | None, int]]) -> list[tuple[str, int]]:
    """(key, count) pairs most first, then by key; a missing key reads as "(none)"."""
    merged: dict[str, int] = defaultdict(int)
    for key, n in rows:
        merged[key or "(none)"] += int(n)
    return sorted(merged.items(), key=lambda item: (-item[1], item[0]))


__all__ = ["KpiQuery", "compute_backlog", "compute_kpis", "compute_trends", "list_surges", "select_cases"]
