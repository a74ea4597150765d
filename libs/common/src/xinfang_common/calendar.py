"""China's official holiday calendar: statutory rest days and make-up working days (调休).

The official years come from the ``chinesecalendar`` package, which transcribes the State
Council's yearly notice (国务院办公厅关于<year>年部分节假日安排的通知); an operator's override
file (YAML) adds a year the package does not have yet, or replaces one. A year neither covers is
*provisional*: only Saturdays, Sundays and the statutory holidays fixed to a Gregorian date count
as rest days there, and every computation that looked at it says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# A range in one holiday notice never spans more than a few days; a longer one is a typo.
_MAX_RANGE_DAYS = 31
_SATURDAY = 5

FIXED_DATE_HOLIDAYS: tuple[tuple[int, int], ...] = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))
"""(month, day) of the statutory holidays on a fixed Gregorian date (全国年节及纪念日放假办法,
2024 revision: 元旦, 劳动节 1-2 May, 国庆节 1-3 October); the lunar ones and the 调休 that
joins them into breaks are known only from each year's notice."""


class CalendarError(ValueError):
    """The holiday calendar file is missing, unreadable or says something impossible."""


@dataclass(frozen=True)
class CalendarYear:
    """One year's notice: the rest days it declares and the weekend days it makes working days."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str | None = None


class HolidayCalendar:
    """Answers whether a day is a working day; a year it does not cover is provisional.

    In a provisional year the rest days are Saturdays, Sundays and ``FIXED_DATE_HOLIDAYS``.

    A fallback is not silent: callers learn which years were uncovered through ``covers`` (the
    deadline arithmetic reports them with every result).
    """

    def __init__(self, years: Iterable[CalendarYear]) -> None:
        self.years: dict[int, CalendarYear] = {}
        holidays: set[date] = set()
        workdays: set[date] = set()
        for entry in years:
            if entry.year in self.years:
                raise CalendarError(f"year {entry.year} is listed twice")
            self.years[entry.year] = entry
            holidays |= entry.holidays
            workdays |= entry.workdays
        clash = holidays & workdays
        if clash:
            raise CalendarError(f"both holiday and make-up working day: {_dates(clash)}")
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)

    def covers(self, year: int) -> bool:
        """Whether the calendar has the official notice for ``year``."""
        return year in self.years

    def is_working_day(self, day: date) -> bool:
        """A weekday that is not a holiday, or a weekend day declared a make-up working day."""
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        if not self.covers(day.year) and (day.month, day.day) in FIXED_DATE_HOLIDAYS:
            return False
        return day.weekday() < _SATURDAY

    def is_rest_day(self, day: date) -> bool:
        """A statutory holiday, or a Saturday or Sunday that is not a make-up working day."""
        return not self.is_working_day(day)


class _YearModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, description="the notice this year comes from")
    holidays: list[date | str] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class _CalendarModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: dict[int, _YearModel]


def _dates(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days))


def _expand(entry: date | str, year: int) -> list[date]:
    """One holiday entry: a date, or an inclusive range written ``first..last``."""
    if isinstance(entry, date):
        return [entry]
    first_text, sep, last_text = entry.partition("..")
    try:
        if not sep:
            return [date.fromisoformat(entry.strip())]
        first, last = date.fromisoformat(first_text.strip()), date.fromisoformat(last_text.strip())
    except ValueError as exc:
        raise CalendarError(
            f"{year}: holiday {entry!r} is neither a date nor a range 'YYYY-MM-DD..YYYY-MM-DD'"
        ) from exc
    if last < first:
        raise CalendarError(f"{year}: holiday range {entry!r} ends before it starts")
    if (last - first).days >= _MAX_RANGE_DAYS:
        raise CalendarError(f"{year}: holiday range {entry!r} is longer than {_MAX_RANGE_DAYS} days")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _check_near_year(day: date, year: int, what: str) -> None:
    # A notice may reach into the neighbouring year (a New Year break that starts on 30
    # December), but a date further away means the year key or the date is wrong.
    if not date(year - 1, 12, 1) <= day <= date(year + 1, 1, 31):
        raise CalendarError(f"{year}: {what} {day.isoformat()} is not in or next to {year}")


def _year_from_model(year: int, model: _YearModel) -> CalendarYear:
    holidays: set[date] = set()
    for entry in model.holidays:
        for day in _expand(entry, year):
            _check_near_year(day, year, "holiday")
            holidays.add(day)
    workdays: set[date] = set()
    for day in model.workdays:
        _check_near_year(day, year, "make-up working day")
        if day.weekday() < _SATURDAY:
            raise CalendarError(
                f"{year}: make-up working day {day.isoformat()} is a weekday; "
                "only a Saturday or Sunday can be declared a working day"
            )
        workdays.add(day)
    clash = holidays & workdays
    if clash:
        raise CalendarError(f"{year}: both holiday and make-up working day: {_dates(clash)}")
    return CalendarYear(year, frozenset(holidays), frozenset(workdays), model.source)


def parse_calendar(data: Mapping[str, Any] | Any, *, origin: str = "holiday calendar") -> HolidayCalendar:
    """Validate parsed YAML (``{"years": {2026: {"holidays": [...], "workdays": [...]}}}``)."""
    try:
        model = _CalendarModel.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}" for err in exc.errors()
        )
        raise CalendarError(f"{origin}: {problems}") from exc
    try:
        return HolidayCalendar(_year_from_model(year, entry) for year, entry in model.years.items())
    except CalendarError as exc:
        raise CalendarError(f"{origin}: {exc}") from exc


def calendar_from_yaml(text: str, *, origin: str = "holiday calendar") -> HolidayCalendar:
    """Parse and validate a calendar from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{origin}: not valid YAML: {exc}") from exc
    except ValueError as exc:
        # PyYAML turns 2030-02-30 into a date itself and fails with ValueError.
        raise CalendarError(f"{origin}: an impossible date: {exc}") from exc
    return parse_calendar(data, origin=origin)


def official_years() -> list[CalendarYear]:
    """The years whose notice the ``chinesecalendar`` package carries (2004 up to its last year)."""
    from chinese_calendar.constants import holidays, workdays  # type: ignore[import-untyped]

    version = getattr(chinese_calendar, "__version__", "?")
    by_year: dict[int, tuple[set[date], set[date]]] = {}
    for day in holidays:
        by_year.setdefault(day.year, (set(), set()))[0].add(day)
    for day in workdays:
        # The package lists every working day it knows of; only weekend ones are news.
        if day.weekday() >= _SATURDAY:
            by_year.setdefault(day.year, (set(), set()))[1].add(day)
    return [
        CalendarYear(
            year,
            frozenset(rest),
            frozenset(work),
            f"国务院办公厅关于{year}年部分节假日安排的通知 (chinesecalendar {version})",
        )
        for year, (rest, work) in sorted(by_year.items())
    ]


def calendar_with_overrides(overrides: HolidayCalendar | None = None) -> HolidayCalendar:
    """The official years, each year in ``overrides`` replacing (or adding) that whole year."""
    years = {entry.year: entry for entry in official_years()}
    if overrides is not None:
        years.update(overrides.years)
    return HolidayCalendar(years.values())


def load_calendar(path: Path | None = None) -> HolidayCalendar:
    """The official calendar, with the operator's override file at ``path`` applied if given.

    The override file has the same shape as ``calendar_from_yaml`` reads; a year in it replaces
    the package's data for that year entirely (a notice is taken whole, never merged).
    """
    if path is None:
        return calendar_with_overrides()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalendarError(f"cannot read holiday calendar {path}: {exc}") from exc
    return calendar_with_overrides(calendar_from_yaml(text, origin=str(path)))
