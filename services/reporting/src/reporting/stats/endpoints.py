"""``/v1/stats``: aggregate case counts by unit, region, channel and period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from reporting.access import resolve_scope
from reporting.deps import DatabaseDep, ReaderDep, SettingsDep
from reporting.readmodel.repository import CaseFilter
from reporting.readmodel.units import UnitTree
from reporting.stats.schemas import SummaryQuery, SummaryRead
from reporting.stats.service import InvalidPeriod, case_filter, summarize
from xinfang_common.cloudevents import utcnow
from xinfang_common.errors import Unavailable

router = APIRouter(prefix="/v1/stats", tags=["statistics"])


@router.get(
    "/summary",
    summary="Registered, assigned and waiting cases, by unit and by channel",
    responses={
        401: {"description": "No valid bearer token"},
        403: {"description": "Not a supervisor, auditor or admin"},
        503: {"description": "The read model's database cannot be reached just now"},
    },
)
async def summary(
    query: Annotated[SummaryQuery, Query()],
    principal: ReaderDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> SummaryRead:
    """Case counts under the filters; only aggregates, never a single case.

    A supervisor's counts cover the cases assigned within its subtree only.
    """
    try:
        flt = case_filter(query, settings.zone)
    except InvalidPeriod as exc:
        raise RequestValidationError(
            [{"loc": ("query", exc.field), "msg": str(exc), "type": "value_error"}]
        ) from exc

    def count(flt: CaseFilter) -> SummaryRead:
        session: Session
        with database.sessions() as session:
            tree = UnitTree.load(session)
        scope = resolve_scope(principal, tree, unit=None, subtree=True)
        if scope.unit_codes is not None:
            flt = CaseFilter(**{**flt.__dict__, "unit_codes": scope.unit_codes})
        with database.sessions() as session:
            return summarize(session, flt, now=utcnow())

    try:
        return await database.run(count, flt)
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable("the statistics database cannot be reached; try again shortly") from exc
