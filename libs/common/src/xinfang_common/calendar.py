"""China's official holiday calendar (statutory holidays and make-up working days), from YAML."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# A range in one holiday notice never spans more than a few days; a longer one is a typo.
_MAX_RANGE_DAYS = 31
_SATURDAY = 5


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
    """Answers whether a day is a working day; years it does not cover fall back to weekends.

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


def load_calendar(path: Path | None = None) -> HolidayCalendar:
    """Load the calendar at ``path``, or the one shipped with the package when ``path`` is None."""
    if path is None:
        packaged = resources.files("xinfang_common").joinpath("data", "holidays_cn.yaml")
        return calendar_from_yaml(packaged.read_text(encoding="utf-8"), origin="packaged holidays_cn.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalendarError(f"cannot read holiday calendar {path}: {exc}") from exc
    return calendar_from_yaml(text, origin=str(path))
