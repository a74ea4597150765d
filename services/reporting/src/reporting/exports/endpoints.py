"""``/v1/exports``: the KPI table as CSV or XLSX, and the annual report of Art. 41 as XLSX."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from reporting.deps import DatabaseDep, ReaderDep, SettingsDep
from reporting.exports import render
from reporting.exports.service import annual_report
from reporting.kpis import service
from reporting.kpis.endpoints import RESPONSES, run_scoped
from reporting.kpis.schemas import CaseQuery, KpiQuery, KpiRead
from reporting.readmodel.units import UnitTree
from xinfang_common.cloudevents import utcnow

router = APIRouter(prefix="/v1/exports", tags=["exports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AnnualQuery(BaseModel):
    """The year (local calendar year of registration) and the unit scope."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100, description="calendar year of registration, local time")
    unit: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^\S+$")
    subtree: bool = True


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _kpis(
    query: KpiQuery, principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> KpiRead:
    return await run_scoped(
        database,
        principal,
        query,
        settings.zone,
        lambda session, selection, tree: service.compute_kpis(
            session, selection, group_by=query.group_by, tree=tree, zone=settings.zone, now=utcnow()
        ),
    )


@router.get(
    "/kpis.csv",
    summary="The KPI table as CSV (Chinese headers, UTF-8 with BOM)",
    responses={**RESPONSES, 200: {"content": {"text/csv": {}}}},
    response_class=Response,
)
async def kpis_csv(
    query: Annotated[KpiQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """The same figures as /v1/kpis, one line per group and a 合计 line."""
    result = await _kpis(query, principal, database, settings)
    return _attachment(render.kpis_csv(result), "text/csv; charset=utf-8", "kpis.csv")


@router.get(
    "/kpis.xlsx",
    summary="The KPI table as XLSX, with a chart sheet",
    responses={**RESPONSES, 200: {"content": {XLSX: {}}}},
    response_class=Response,
)
async def kpis_xlsx(
    query: Annotated[KpiQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """Sheets 指标 (the table), 图表 (the four rates as bars) and 说明 (as-of time, basis)."""
    result = await _kpis(query, principal, database, settings)
    return _attachment(render.kpis_xlsx(result), XLSX, "kpis.xlsx")


@router.get(
    "/annual-report.xlsx",
    summary="The annual report of Art. 41 as XLSX",
    responses={**RESPONSES, 200: {"content": {XLSX: {}}}},
    response_class=Response,
)
async def annual_report_xlsx(
    query: Annotated[AnnualQuery, Query()], principal: ReaderDep, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """Volumes, subject areas, units most complained about, forwarding and supervision counts."""
    scope_query = CaseQuery.model_validate({"unit": query.unit, "subtree": query.subtree})

    def work(session: Session, selection: service.Selection, tree: UnitTree) -> bytes:
        report = annual_report(
            session, year=query.year, scope=selection.scope, tree=tree, zone=settings.zone, now=utcnow()
        )
        return render.annual_report_xlsx(report)

    body = await run_scoped(database, principal, scope_query, settings.zone, work)
    return _attachment(body, XLSX, f"annual-report-{query.year}.xlsx")
