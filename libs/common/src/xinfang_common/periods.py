"""Legal period arithmetic (民法典 Art. 201–203 as courts apply it): pure, no I/O.

Rules:
- Days are local days in the configured time zone (Asia/Shanghai): the start day is the local
  date of the starting event, and it is not counted.
- N calendar days (日): the last day is start day + N; if that is a rest day (a statutory
  holiday, or a Saturday/Sunday that is not a make-up working day), the last day becomes the
  first working day after it.
- N working days (工作日): counting from the day after the start day, only working days count
  (weekdays that are not holidays, plus make-up working days on weekends); the Nth is the last.
- A period ends at 24:00 of its last day. 24:00 of day D is represented as the aware datetime
  D+1 00:00 in the local zone (e.g. ``2026-03-18T00:00:00+08:00`` for a last day of 03-17), so
  an act is in time exactly when it happens strictly before ``due_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from xinfang_common.calendar import HolidayCalendar
from xinfang_common.domain import PeriodUnit

SHANGHAI = ZoneInfo("Asia/Shanghai")

# No legal period in the suite is longer than a year and a quarter; a larger value is a
# configuration or input mistake, and refusing it keeps every loop below bounded.
MAX_PERIOD = 400

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Due:
    """When a period that started at ``starts_at`` ends, and on which calendar data."""

    starts_at: datetime
    start_day: date
    period: int
    unit: PeriodUnit
    last_day: date
    due_at: datetime
    uncovered_years: frozenset[int]
    """Years the holiday calendar lacks that the computation looked at (weekends-only there)."""

    @property
    def calendar_covered(self) -> bool:
        """Whether every day looked at was covered by the official holiday calendar."""
        return not self.uncovered_years


class _Looker:
    """Asks the calendar about days and remembers which uncovered years it had to guess."""

    def __init__(self, calendar: HolidayCalendar) -> None:
        self.calendar = calendar
        self.uncovered: set[int] = set()

    def working(self, day: date) -> bool:
        if not self.calendar.covers(day.year):
            self.uncovered.add(day.year)
        return self.calendar.is_working_day(day)


def local_start_day(starts_at: datetime, tz: ZoneInfo = SHANGHAI) -> date:
    """The local date on which a period starts (the day that is not counted)."""
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise ValueError("starts_at must be timezone-aware")
    return starts_at.astimezone(tz).date()


def end_of_day(day: date, tz: ZoneInfo = SHANGHAI) -> datetime:
    """24:00 of ``day`` in ``tz``, i.e. 00:00 of the next day."""
    return datetime.combine(day + _ONE_DAY, time(0), tzinfo=tz)


def _last_calendar_day(start_day: date, period: int, look: _Looker) -> date:
    last = start_day + timedelta(days=period)
    while not look.working(last):
        last += _ONE_DAY
    return last


def _last_working_day(start_day: date, period: int, look: _Looker) -> date:
    day, counted = start_day, 0
    while counted < period:
        day += _ONE_DAY
        if look.working(day):
            counted += 1
    return day


def compute_due(
    starts_at: datetime,
    period: int,
    unit: PeriodUnit,
    calendar: HolidayCalendar,
    tz: ZoneInfo = SHANGHAI,
) -> Due:
    """The end of a period of ``period`` calendar or working days starting at ``starts_at``."""
    if not 0 < period <= MAX_PERIOD:
        raise ValueError(f"period must be between 1 and {MAX_PERIOD}, got {period}")
    start_day = local_start_day(starts_at, tz)
    look = _Looker(calendar)
    if unit is PeriodUnit.CALENDAR_DAYS:
        last_day = _last_calendar_day(start_day, period, look)
    elif unit is PeriodUnit.WORKING_DAYS:
        last_day = _last_working_day(start_day, period, look)
    else:  # pragma: no cover - PeriodUnit has exactly the two members above
        raise ValueError(f"unknown period unit {unit!r}")
    return Due(
        starts_at=starts_at,
        start_day=start_day,
        period=period,
        unit=unit,
        last_day=last_day,
        due_at=end_of_day(last_day, tz),
        uncovered_years=frozenset(look.uncovered),
    )
