"""``/v1/kpis``, ``/v1/backlog``, ``/v1/trends`` and ``/v1/surges``: aggregates only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from reporting.access import resolve_scope
from reporting.deps import DatabaseDep, ReaderDep, SettingsDep
from reporting.kpis import service
from reporting.kpis.schemas import (
    BacklogRead,
    CaseQuery,
    Interval,
    KpiQuery,
    KpiRead,
    SurgesRead,
    TrendBy,
    TrendsRead,
)
from reporting.readmodel.database import Database
from reporting.readmodel.units import UnitTree
from reporting.stats.service import InvalidPeriod
from xinfang_common.auth import Principal
from xinfang_common.cloudevents import utcnow
from xinfang_common.errors import Unavailable

router = APIRouter(prefix="/v1", tags=["kpis"])

T = TypeVar("T")

RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Not a supervisor, auditor or admin; or a unit outside the supervisor's subtree"},
    422: {"description": "A filter is invalid; `fields` names it"},
    503: {"description": "The read model's database cannot be reached just now"},
}


class TrendsQuery(CaseQuery):
    """The case filters, the bucket width and the split."""

    interval: Interval = Field(default=Interval.MONTH, description="bucket width")
    by: TrendBy = Field(default=TrendBy.CATEGORY, description="one series per category or per unit")


def invalid(field: str, message: str) -> RequestValidationError:
    """A 422 naming a query field."""
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


async def run_scoped(
    database: Database,
    principal: Principal,
    query: CaseQuery,
    settings_zone: ZoneInfo,
    work: Callable[[Session, service.Selection, UnitTree], T],
) -> T:
    """Resolve the caller's scope and the filters, then run ``work`` in the database pool."""

    def run() -> T:
        with database.sessions() as session:
            tree = UnitTree.load(session)
        scope = resolve_scope(principal, tree, unit=query.unit, subtree=query.subtree)
        selection = service.select_cases(query, scope, settings_zone, now=utcnow())
        with database.sessions() as session:
            return work(session, selection, tree)

    try:
        return await database.run(run)
    except InvalidPeriod as exc:
        raise invalid(exc.field, str(exc)) from exc
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable("the statistics database cannot be reached; try again shortly") from exc


@router.get(
    "/kpis", summary="及时受理率, 按期办结率, 参评率, 满意率, repeat rate and more", responses=RESPONSES
)
async def kpis(
    query: Annotated[KpiQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> KpiRead:
    """The measures of DOMAIN.md over the cases registered in the period, as of min(to, now)."""
    return await run_scoped(
        database,
        principal,
        query,
        settings.zone,
        lambda session, selection, tree: service.compute_kpis(
            session, selection, group_by=query.group_by, tree=tree, zone=settings.zone, now=utcnow()
        ),
    )


@router.get("/backlog", summary="Open cases by age band and stage", responses=RESPONSES)
async def backlog(
    query: Annotated[CaseQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> BacklogRead:
    """Cases open at min(to, now) by whole days since registration and by stage."""
    return await run_scoped(
        database,
        principal,
        query,
        settings.zone,
        lambda session, selection, _: service.compute_backlog(session, selection),
    )


@router.get("/trends", summary="New cases per day, week or month, by category or unit", responses=RESPONSES)
async def trends(
    query: Annotated[TrendsQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> TrendsRead:
    """Registrations per local day, ISO week or month; without `from`, a recent window."""

    def work(session: Session, selection: service.Selection, tree: UnitTree) -> TrendsRead:
        selection = service.trend_selection(
            query, selection.scope, settings.zone, interval=query.interval, now=utcnow()
        )
        return service.compute_trends(
            session, selection, interval=query.interval, by=query.by, tree=tree, zone=settings.zone
        )

    return await run_scoped(database, principal, query, settings.zone, work)


@router.get("/surges", summary="Surges of new petitions signalled by routing", responses=RESPONSES)
async def surges(
    query: Annotated[CaseQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> SurgesRead:
    """Surge signals detected in the period for the units in scope, newest first (at most 200)."""
    return await run_scoped(
        database,
        principal,
        query,
        settings.zone,
        lambda session, selection, tree: service.list_surges(session, selection, tree=tree),
    )
