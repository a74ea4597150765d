"""The statistics: turn the API's filters into a read-model filter and count."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from reporting.readmodel import repository
from reporting.stats.schemas import SummaryQuery, SummaryRead, UnitAssigned
from xinfang_common.domain import Channel, region_prefix


class InvalidPeriod(ValueError):
    """The period is empty or too long; ``field`` is the query field to blame."""

    def __init__(self, message: str, field: str = "to") -> None:
        super().__init__(message)
        self.field = field


def _start(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=zone)


def _end(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value
    # A date as the end means the whole of that day.
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=zone)


def period_bounds(
    from_: date | datetime | None, to: date | datetime | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """The registration period [start, end) of ``from``/``to``; dates are whole days in ``zone``."""
    start = None if from_ is None else _start(from_, zone)
    end = None if to is None else _end(to, zone)
    if start is not None and end is not None and end <= start:
        raise InvalidPeriod("must be later than from")
    return start, end


def case_filter(
    query: SummaryQuery, zone: ZoneInfo, unit_codes: frozenset[str] | None = None
) -> repository.CaseFilter:
    """The read-model filter for ``query``; dates are whole days in ``zone``."""
    start, end = period_bounds(query.from_, query.to, zone)
    return repository.CaseFilter(
        unit_code=query.unit,
        region_prefix=None if query.region is None else region_prefix(query.region),
        start=start,
        end=end,
        unit_codes=unit_codes,
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
