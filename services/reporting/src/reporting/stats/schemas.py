"""Request and response shapes of the statistics API: aggregates only, never a case's row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator

from xinfang_common.domain import RegionCode


def _parse_when(value: Any) -> date | datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "must be a date (2026-03-01) or a date-time with offset (2026-03-01T08:00:00+08:00)"
            ) from None
    else:
        raise ValueError("must be a date or a date-time")
    if moment.tzinfo is None:
        raise ValueError("a date-time must carry an offset (e.g. +08:00 or Z), or give a date")
    return moment


When = Annotated[date | datetime, PlainValidator(_parse_when, json_schema_input_type=str)]
"""A date (a whole local day) or a date-time with an offset."""


class SummaryQuery(BaseModel):
    """Filters of the summary; all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    unit: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^\S+$",
        description="only cases assigned to this unit code",
        examples=["430104-zjj"],
    )
    region: RegionCode | None = Field(
        default=None,
        description="only cases arising in this division or its subdivisions (430000 = the province)",
        examples=["430100"],
    )
    from_: When | None = Field(
        default=None,
        alias="from",
        description="start of the registration period, inclusive: a date (that local day's start) "
        "or a date-time with offset; every count is over the cases registered in the period",
        examples=["2026-03-01"],
    )
    to: When | None = Field(
        default=None,
        description="end of the registration period: a date includes that whole local day; a "
        "date-time is exclusive",
        examples=["2026-03-31"],
    )


class UnitAssigned(BaseModel):
    """Cases assigned to one unit."""

    unit_code: str
    unit_name: str
    assigned: int = Field(ge=0)


class SummaryRead(BaseModel):
    """Counts of the cases registered under the filters; registered = assigned + awaiting."""

    registered: int = Field(ge=0, description="cases registered (in the period)")
    assigned: int = Field(ge=0, description="of those, cases assigned to a unit")
    awaiting_assignment: int = Field(ge=0, description="of those, cases not assigned to any unit yet")
    by_unit: list[UnitAssigned] = Field(description="assigned cases per unit (current unit), most first")
    by_channel: dict[str, int] = Field(
        description="registered cases per channel; every channel is present",
        examples=[{"letter": 0, "visit": 1, "phone": 0, "online": 7, "forwarded": 0}],
    )
    generated_at: AwareDatetime
