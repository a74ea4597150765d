"""Which part of a KPI query the rollups answer, and the rollup queries themselves.

The rollups answer the cases registered in whole local months of the period, for at most one
dimension among the filters and the breakdown (unit, category, region, channel or type; month
breakdowns work with any). The rest of the period (a partial first or last month) is counted
case by case, and so is everything when two dimensions are involved or the rollups are not
built for the zone asked about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, and_, func, literal, select
from sqlalchemy.orm import Session

from reporting.kpis.contributions import dim_of, dim_value, local_month, month_start, next_month
from reporting.kpis.rollups import rollup_zone
from reporting.kpis.schemas import GroupBy
from reporting.readmodel.models import KPI_MEASURES, kpi_counts, kpi_handling_days
from reporting.readmodel.repository import CaseFilter

_GROUP_GRAINS = {
    GroupBy.UNIT: "unit",
    GroupBy.CATEGORY: "category",
    GroupBy.REGION: "region",
    GroupBy.CHANNEL: "channel",
    GroupBy.TYPE: "type",
}


@dataclass(frozen=True)
class RollupPlan:
    """The grain to read, its dimension filter, the whole months it covers, and the rest."""

    grain: str
    dims: tuple[str, ...] | None
    """Stored dimension values to keep (None: all)."""
    dim_prefix: str | None
    """Or: stored dimension values starting with this (a region and its subdivisions)."""
    month_from: int | None
    month_to: int | None
    """Registration months ``yyyymm`` covered: from inclusive, to exclusive; None: unbounded."""
    covered: CaseFilter
    """The cases the rollups count, as a case filter (for the per-case corrections)."""
    edges: tuple[CaseFilter, ...]
    """Parts of the period outside whole months, counted case by case."""


def plan_rollup(
    session: Session, flt: CaseFilter, group_by: GroupBy | None, zone: ZoneInfo
) -> RollupPlan | None:
    """How the rollups answer ``flt`` broken down by ``group_by``; None: count case by case."""
    built = rollup_zone(session)
    if built is None or built.key != zone.key:
        return None
    wanted: dict[str, Any] = {}
    if flt.unit_code is not None or flt.unit_codes is not None:
        codes = set(flt.unit_codes) if flt.unit_codes is not None else {flt.unit_code}
        if flt.unit_code is not None:
            codes &= {flt.unit_code}
        wanted["unit"] = tuple(sorted(dim_value(c) for c in codes))
    if flt.region_prefix is not None:
        wanted["region"] = None
    for grain, value in (("category", flt.category), ("channel", flt.channel), ("type", flt.petition_type)):
        if value is not None:
            wanted[grain] = (dim_value(value),)
    grains = set(wanted)
    if group_by is not None and group_by is not GroupBy.MONTH:
        grains.add(_GROUP_GRAINS[group_by])
    if len(grains) > 1:
        return None
    grain = grains.pop() if grains else "all"

    month_from = month_to = None
    edges: list[CaseFilter] = []
    covered_start, covered_end = flt.start, flt.end
    if flt.start is not None:
        month_from = local_month(flt.start, zone)
        if month_start(month_from, zone) < flt.start:
            month_from = next_month(month_from)
        covered_start = month_start(month_from, zone)
        if flt.start < covered_start:
            edges.append(CaseFilter(**{**flt.__dict__, "end": min(covered_start, flt.end or covered_start)}))
    if flt.end is not None:
        month_to = local_month(flt.end, zone)
        covered_end = month_start(month_to, zone)
        if covered_end < flt.end and (covered_start is None or covered_start < flt.end):
            edges.append(
                CaseFilter(**{**flt.__dict__, "start": max(covered_end, covered_start or covered_end)})
            )
    if month_from is not None and month_to is not None and month_from >= month_to:
        return None
    return RollupPlan(
        grain=grain,
        dims=wanted.get(grain),
        dim_prefix=None if flt.region_prefix is None else dim_value(flt.region_prefix),
        month_from=month_from,
        month_to=month_to,
        covered=CaseFilter(**{**flt.__dict__, "start": covered_start, "end": covered_end}),
        edges=tuple(edges),
    )


def _where(plan: RollupPlan, table: Table) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [table.c.grain == plan.grain]
    if plan.grain == "all":
        # The only dimension value of "all". Named, so that the primary key's range on the
        # month is used: without it SQLite skip-scans every dimension of every grain.
        clauses.append(table.c.dim == "")
    if plan.dims is not None:
        clauses.append(table.c.dim.in_(plan.dims))
    if plan.dim_prefix is not None:
        # Division codes are digits only, so the prefix needs no LIKE escaping.
        clauses.append(table.c.dim.startswith(plan.dim_prefix))
    if plan.month_from is not None:
        clauses.append(table.c.reg_month >= plan.month_from)
    if plan.month_to is not None:
        clauses.append(table.c.reg_month < plan.month_to)
    return clauses


def _key(plan: RollupPlan, table: Table, group_by: GroupBy | None) -> Any:
    if group_by is None:
        return literal(None)
    if group_by is GroupBy.MONTH:
        return table.c.reg_month
    return table.c.dim


def _decode(group_by: GroupBy | None, value: Any) -> str | None:
    if group_by is None:
        return None
    if group_by is GroupBy.MONTH:
        return f"{int(value) // 100:04d}-{int(value) % 100:02d}"
    return dim_of(str(value))


def rolled_counts(
    session: Session, plan: RollupPlan, *, through_day: int, group_by: GroupBy | None
) -> Iterable[tuple[str | None, dict[str, int]]]:
    """The counts of the covered cases as of the end of local day ``through_day``, per group."""
    key = _key(plan, kpi_counts, group_by)
    stmt = (
        select(key.label("key"), *(func.sum(kpi_counts.c[m]).label(m) for m in KPI_MEASURES))
        .where(*_where(plan, kpi_counts), kpi_counts.c.change_day <= through_day)
        .group_by(key)
    )
    for row in session.execute(stmt).mappings():
        yield _decode(group_by, row["key"]), {m: int(row[m] or 0) for m in KPI_MEASURES}


def rolled_handling_days(
    session: Session, plan: RollupPlan, *, replied_before_month: int, group_by: GroupBy | None
) -> Iterable[tuple[str | None, int, int]]:
    """(group, whole days of handling, cases) of the covered cases replied before that month."""
    key = _key(plan, kpi_handling_days, group_by)
    table = kpi_handling_days
    stmt = (
        select(key.label("key"), table.c.handling_day, func.sum(table.c.cases))
        .where(*_where(plan, table), table.c.replied_month < replied_before_month)
        .group_by(key, table.c.handling_day)
    )
    for group_key, day, n in session.execute(stmt):
        yield _decode(group_by, group_key), int(day), int(n or 0)


def covered_and(
    plan: RollupPlan, *clauses: ColumnElement[bool], unindexed: bool = False
) -> ColumnElement[bool]:
    """The covered cases that also meet ``clauses`` (``unindexed``: see ``CaseFilter.cases``)."""
    return and_(plan.covered.cases(unindexed=unindexed), *clauses)
