"""HTTP API of alerts: deadlines by unit and by case, and a due-date calculator for anyone."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field, PlainValidator, field_validator

from alerts import metrics
from alerts.deadlines import CaseState, DeadlineState, deadline_id
from alerts.notify.endpoints import visible_units
from alerts.policies import parse_period
from xinfang_common.auth import Forbidden, PrincipalDep
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.domain import DeadlineKind, PeriodUnit
from xinfang_common.errors import NotFound
from xinfang_common.periods import MAX_PERIOD, compute_due


class DeadlinesNotFound(NotFound):
    """No deadline is known for this case."""


class DeadlineRead(BaseModel):
    """One deadline of a case, as last announced."""

    case_id: str
    deadline_id: str
    kind: DeadlineKind
    version: int
    unit_code: str
    starts_at: datetime
    due_at: datetime = Field(description="24:00 local time of the last day (00:00 of the next day)")
    last_day: date
    period: int
    period_unit: PeriodUnit
    policy_version: str
    legal_basis: str
    provisional: bool
    stopped: bool
    stopped_at: datetime | None
    alerting: bool
    event_id: str = Field(description="id of the DeadlineScheduled event that announced this version")
    scheduled_at: datetime = Field(description="when alerts announced this version")


class CaseDeadlinesRead(BaseModel):
    """Every deadline of a case."""

    case_id: str
    policy_version: str
    imported: bool
    deadlines: list[DeadlineRead]


class DueRequest(BaseModel):
    """A period to compute: when it starts and how long it is."""

    start: AwareDatetime = Field(description="when the period starts, with a UTC offset")
    period: str = Field(description='"60d" (calendar days, 日) or "5wd" (working days, 工作日)')

    @field_validator("period")
    @classmethod
    def _is_period(cls, value: str) -> str:
        parse_period(value)
        return value


class DueAnswer(BaseModel):
    """When a period ends, and whether the holiday calendar was official all the way."""

    start_day: date = Field(description="local day the period starts; it is not counted")
    period: int
    period_unit: PeriodUnit
    last_day: date = Field(description="last day of the period, after moving off rest days")
    due_at: datetime = Field(description="24:00 local time of the last day (00:00 of the next day)")
    timezone: str
    provisional: bool = Field(
        description="true when a year looked at has no official holiday notice yet (only weekends and "
        "fixed-date holidays counted there): the date may still move"
    )
    uncovered_years: list[int]


class DuePreview(BaseModel):
    """When a period starting at ``start`` would end (GET form, kept for existing callers)."""

    start_day: date
    period: int
    period_unit: PeriodUnit
    last_day: date
    due_at: datetime
    timezone: str
    calendar_covered: bool
    uncovered_years: list[int]


def _parse_start(value: object) -> datetime | date:
    if isinstance(value, datetime | date):
        parsed: datetime | date = value
    else:
        # An unencoded "+08:00" in a URL arrives as " 08:00": put the plus sign back.
        text = re.sub(r"(T[\d:.]+) (\d{2}:?\d{2})$", r"\1+\2", str(value).strip())
        try:
            parsed = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(_START_FORMAT) from None
    if isinstance(parsed, datetime) and parsed.utcoffset() is None:
        raise ValueError(f"a datetime needs a UTC offset; {_START_FORMAT}")
    return parsed


_START_FORMAT = "expected a datetime with offset (2026-03-02T20:00:00Z) or a local date (2026-03-03)"
Start = Annotated[datetime | date, PlainValidator(_parse_start, json_schema_input_type=str)]


def _table(request: Request) -> Any:
    return request.app.state.stream.cases


def _calendar(request: Request) -> HolidayCalendar:
    calendar: HolidayCalendar = request.app.state.tracker.calendar
    return calendar


def _zone(request: Request) -> ZoneInfo:
    zone: ZoneInfo = request.app.state.settings.zone
    return zone


Table = Annotated[Any, Depends(_table)]
Calendar = Annotated[HolidayCalendar, Depends(_calendar)]
Zone = Annotated[ZoneInfo, Depends(_zone)]


def _read(state: CaseState, d: DeadlineState) -> DeadlineRead:
    return DeadlineRead(
        case_id=state.case_id,
        deadline_id=deadline_id(state.case_id, d.kind),
        kind=d.kind,
        version=d.version,
        unit_code=d.unit_code,
        starts_at=d.starts_at,
        due_at=d.due_at,
        last_day=d.last_day,
        period=d.period,
        period_unit=d.period_unit,
        policy_version=state.policy.version,
        legal_basis=d.legal_basis,
        provisional=d.provisional,
        stopped=d.stopped,
        stopped_at=d.stopped_at,
        alerting=d.alerting,
        event_id=d.event_id,
        scheduled_at=d.announced_at,
    )


calendar_router = APIRouter(prefix="/v1/calendar", tags=["calendar"])


@calendar_router.post("/due", summary="When does a period end?")
async def compute_due_date(calendar: Calendar, zone: Zone, body: DueRequest) -> DueAnswer:
    """The end of a legal period on the official holiday calendar; no authentication needed."""
    n, unit = parse_period(body.period)
    due = compute_due(body.start, n, unit, calendar, zone)
    metrics.note_uncovered(due.uncovered_years)
    return DueAnswer(
        start_day=due.start_day,
        period=due.period,
        period_unit=due.unit,
        last_day=due.last_day,
        due_at=due.due_at,
        timezone=str(zone),
        provisional=not due.calendar_covered,
        uncovered_years=sorted(due.uncovered_years),
    )


router = APIRouter(prefix="/v1/deadlines", tags=["deadlines"])

_AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "No valid bearer token"}}


@router.get(
    "",
    summary="Running deadlines, soonest first",
    responses={**_AUTH, 403: {"description": "The unit asked for is not visible to the caller"}},
)
async def list_deadlines(
    request: Request,
    table: Table,
    principal: PrincipalDep,
    unit: Annotated[str | None, Query(max_length=64, description="the unit the deadline binds")] = None,
    due_before: Annotated[AwareDatetime | None, Query(description="due strictly before this instant")] = None,
    include_stopped: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[DeadlineRead]:
    """Deadlines held by this instance (with several replicas, each holds its partitions' cases)."""
    allowed = visible_units(request, principal)
    if unit is not None and allowed is not None and unit not in allowed:
        raise Forbidden(f"deadlines of {unit} are not visible to you")
    found: list[DeadlineRead] = []
    for raw in list(table.values()):
        if not raw:
            continue
        state = CaseState.from_json_bytes(raw)
        for d in state.deadlines.values():
            if d.stopped and not include_stopped:
                continue
            if unit is not None and d.unit_code != unit:
                continue
            if unit is None and allowed is not None and d.unit_code not in allowed:
                continue
            if due_before is not None and d.due_at >= due_before:
                continue
            found.append(_read(state, d))
    found.sort(key=lambda r: (r.due_at, r.case_id))
    return found[:limit]


@router.get("/preview", summary="Compute a due date without scheduling anything")
async def preview_due_date(
    calendar: Calendar,
    zone: Zone,
    start: Annotated[Start, Query(description="a datetime with offset, or a local date")],
    days: Annotated[int, Query(ge=1, le=MAX_PERIOD, description="length of the period")] = 15,
    unit: Annotated[PeriodUnit, Query(description="calendar_days (日) or working_days (工作日)")] = (
        PeriodUnit.CALENDAR_DAYS
    ),
) -> DuePreview:
    """The due date of a period (see also POST /v1/calendar/due)."""
    starts_at = start if isinstance(start, datetime) else datetime.combine(start, time(0), tzinfo=zone)
    due = compute_due(starts_at, days, unit, calendar, zone)
    metrics.note_uncovered(due.uncovered_years)
    return DuePreview(
        start_day=due.start_day,
        period=due.period,
        period_unit=due.unit,
        last_day=due.last_day,
        due_at=due.due_at,
        timezone=str(zone),
        calendar_covered=due.calendar_covered,
        uncovered_years=sorted(due.uncovered_years),
    )


@router.get(
    "/{case_id}",
    summary="The deadlines of a case",
    responses={**_AUTH, 404: {"description": "No deadline of this case that the caller may see"}},
)
async def read_case(
    request: Request,
    table: Table,
    principal: PrincipalDep,
    case_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> CaseDeadlinesRead:
    """Every deadline of the case, stopped ones included, from this instance's share of the table."""
    raw = table.get(case_id)
    if not raw:
        raise DeadlinesNotFound(f"no deadline is known for case {case_id}")
    state = CaseState.from_json_bytes(raw)
    allowed = visible_units(request, principal)
    if allowed is not None and not any(d.unit_code in allowed for d in state.deadlines.values()):
        raise DeadlinesNotFound(f"no deadline is known for case {case_id}")
    deadlines = sorted((_read(state, d) for d in state.deadlines.values()), key=lambda r: r.due_at)
    return CaseDeadlinesRead(
        case_id=case_id, policy_version=state.policy.version, imported=state.imported, deadlines=deadlines
    )
