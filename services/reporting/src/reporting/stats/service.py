"""The statistics: turn the API's filters into a read-model filter and count."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from reporting.readmodel import repository
from reporting.stats.schemas import SummaryQuery, SummaryRead, UnitAssigned
from xinfang_common.domain import Channel, region_prefix


class InvalidPeriod(ValueError):
    """``to`` is not after ``from``."""


def _start(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=zone)


def _end(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value
    # A date as the end means the whole of that day.
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=zone)


def case_filter(query: SummaryQuery, zone: ZoneInfo) -> repository.CaseFilter:
    """The read-model filter for ``query``; dates are whole days in ``zone``."""
    start = None if query.from_ is None else _start(query.from_, zone)
    end = None if query.to is None else _end(query.to, zone)
    if start is not None and end is not None and end <= start:
        raise InvalidPeriod("must be later than from")
    return repository.CaseFilter(
        unit_code=query.unit,
        region_prefix=None if query.region is None else region_prefix(query.region),
        start=start,
        end=end,
    )


def summarize(session: Session, flt: repository.CaseFilter, *, now: datetime) -> SummaryRead:
    """Counts by state, by unit and by channel under ``flt``."""
    counts = repository.count_cases(session, flt)
    channels = counts.registered_by_channel()
    return SummaryRead(
        registered=counts.registered,
        assigned=counts.assigned,
        awaiting_assignment=counts.awaiting_assignment,
        by_unit=[
            UnitAssigned(unit_code=u.unit_code, unit_name=u.unit_name, assigned=u.assigned)
            for u in counts.by_unit
        ],
        by_channel={channel.value: channels.get(channel.value, 0) for channel in Channel},
        generated_at=now,
    )
