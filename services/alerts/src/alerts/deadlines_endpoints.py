"""HTTP API of alerts: a case's deadlines, and a due-date calculator for operators."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, PlainValidator

from alerts import metrics
from alerts.tables import read_case_deadlines
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.domain import PeriodUnit
from xinfang_common.errors import NotFound
from xinfang_common.events import DeadlineScheduled
from xinfang_common.periods import MAX_PERIOD, compute_due


class DeadlinesNotFound(NotFound):
    """No deadline is known for this case."""


class DeadlineRead(DeadlineScheduled):
    """One deadline of a case, with the event that announced it."""

    event_id: str = Field(description="id of the DeadlineScheduled event")
    scheduled_at: datetime = Field(description="when alerts computed it")


class CaseDeadlinesRead(BaseModel):
    """Every deadline of a case."""

    case_id: str
    deadlines: list[DeadlineRead]


class DuePreview(BaseModel):
    """When a period starting at ``start`` would end."""

    start_day: date = Field(description="local day the period starts; it is not counted")
    period: int
    period_unit: PeriodUnit
    last_day: date = Field(description="last day of the period, after moving off rest days")
    due_at: datetime = Field(description="24:00 local time of the last day (00:00 of the next day)")
    timezone: str
    calendar_covered: bool = Field(
        description="false when a year looked at is missing from the holiday calendar, so only "
        "weekends counted as rest days there"
    )
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
        # Without an offset the local day, and so the whole period, would be a guess.
        raise ValueError(f"a datetime needs a UTC offset; {_START_FORMAT}")
    return parsed


_START_FORMAT = "expected a datetime with offset (2026-03-02T20:00:00Z) or a local date (2026-03-03)"
Start = Annotated[datetime | date, PlainValidator(_parse_start, json_schema_input_type=str)]


def _table(request: Request) -> Any:
    return request.app.state.stream.deadlines


def _calendar(request: Request) -> HolidayCalendar:
    calendar: HolidayCalendar = request.app.state.calendar
    return calendar


def _zone(request: Request) -> ZoneInfo:
    zone: ZoneInfo = request.app.state.settings.zone
    return zone


Table = Annotated[Any, Depends(_table)]
Calendar = Annotated[HolidayCalendar, Depends(_calendar)]
Zone = Annotated[ZoneInfo, Depends(_zone)]

router = APIRouter(prefix="/v1/deadlines", tags=["deadlines"])


@router.get("/preview", summary="Compute a due date without scheduling anything")
async def preview_due_date(
    calendar: Calendar,
    zone: Zone,
    start: Annotated[
        Start,
        Query(
            description="when the period starts: a datetime with offset (2026-03-02T20:00:00Z) "
            "or a local date (2026-03-03)",
        ),
    ],
    days: Annotated[int, Query(ge=1, le=MAX_PERIOD, description="length of the period")] = 15,
    unit: Annotated[PeriodUnit, Query(description="calendar_days (日) or working_days (工作日)")] = (
        PeriodUnit.CALENDAR_DAYS
    ),
) -> DuePreview:
    """The due date of a period, on the same calendar and rules as scheduled deadlines."""
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


@router.get("/{case_id}", summary="The deadlines of a case")
async def read_case(
    table: Table,
    case_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> CaseDeadlinesRead:
    """The case's deadlines, from this instance's share of the ``deadlines_by_case`` table.

    With several alerts instances the table is partitioned like the CaseAssigned topic: an
    instance holds only the partitions assigned to it, so a request may have to go to the
    instance owning the case's partition (not handled yet; one instance holds all of them).
    """
    stored = read_case_deadlines(table, case_id)
    if stored is None:
        raise DeadlinesNotFound(f"no deadline is known for case {case_id}")
    deadlines = [
        DeadlineRead(**event.data.model_dump(), event_id=event.id, scheduled_at=event.time)
        for event in sorted(stored.root.values(), key=lambda e: e.data.due_at)
    ]
    return CaseDeadlinesRead(case_id=case_id, deadlines=deadlines)
