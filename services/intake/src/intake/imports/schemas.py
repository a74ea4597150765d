"""Imported cases (one row of a legacy file) and the bodies of the imports API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from intake.petitions.lifecycle import LOCAL_TIME
from intake.petitions.schemas import MAX_REPRESENTATIVES, PetitionerCreate
from xinfang_common.cloudevents import utcnow
from xinfang_common.domain import Channel, Outcome, PetitionType, RegionCode, ReplyStage, Satisfaction
from xinfang_common.events import MAX_EXTENSION_DAYS

CLOCK_SKEW = timedelta(minutes=5)
"""How far past the server's clock a historical time may lie (the legacy system's clock may run fast)."""

_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
)
"""Forms legacy Chinese exports use besides ISO 8601."""


def _as_aware(value: Any) -> Any:
    """A historical time: ISO 8601 or a common Chinese form; without an offset it is Beijing time."""
    if isinstance(value, bool | int | float):
        # pydantic would read a number as a Unix timestamp; no legacy export means that.
        raise ValueError("not a date and time: give e.g. 2019-04-25 09:32:09 or 2019-04-25T09:32:09+08:00")
    if isinstance(value, str):
        text = value.strip()
        parsed: datetime | None = None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            for form in _TIME_FORMATS:
                try:
                    parsed = datetime.strptime(text, form)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise ValueError(
                "not a date and time: give e.g. 2019-04-25 09:32:09 or 2019-04-25T09:32:09+08:00"
            )
        value = parsed
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TIME)
    return value


def _past_utc(value: datetime) -> datetime:
    if value > utcnow() + CLOCK_SKEW:
        raise ValueError("must not lie in the future")
    # In UTC like every other time the suite stores and publishes.
    return value.astimezone(UTC)


HistoricalTime = Annotated[datetime, BeforeValidator(_as_aware), AfterValidator(_past_utc)]
"""A past instant in UTC; a time without an offset is read as Asia/Shanghai local time."""


def _labels(names: dict[str, str]) -> Callable[[Any], Any]:
    """Accept the Chinese label of an enum value as well as the value itself."""

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return names.get(text, text.lower())
        return value

    return convert


CHANNEL_LABELS = {
    "来信": "letter",
    "来访": "visit",
    "来电": "phone",
    "网上信访": "online",
    "网上": "online",
    "转送": "forwarded",
}
TYPE_LABELS = {"建议意见类": "suggestion", "检举控告类": "report", "申诉求决类": "claim"}
OUTCOME_LABELS = {"支持": "supported", "解释说明": "explained", "不支持": "not_supported"}
SATISFACTION_LABELS = {"满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied"}

ImportedChannel = Annotated[Channel, BeforeValidator(_labels(CHANNEL_LABELS))]
ImportedType = Annotated[PetitionType, BeforeValidator(_labels(TYPE_LABELS))]
ImportedOutcome = Annotated[Outcome, BeforeValidator(_labels(OUTCOME_LABELS))]
ImportedSatisfaction = Annotated[Satisfaction, BeforeValidator(_labels(SATISFACTION_LABELS))]

_ROW = ConfigDict(extra="ignore", str_strip_whitespace=True)


class StepKind(StrEnum):
    """What happened to a case in its legacy history."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXTENDED = "extended"
    REPLIED = "replied"
    CLOSED = "closed"
    RATED = "rated"


class TimelineStep(BaseModel):
    """One step of an imported case's history; which fields it needs depends on ``kind``."""

    model_config = _ROW

    kind: StepKind
    at: HistoricalTime
    reason: str | None = Field(
        default=None, min_length=1, max_length=2000, description="declined, extended (required); closed"
    )
    days: int | None = Field(default=None, ge=1, le=MAX_EXTENSION_DAYS, description="extended (required)")
    approver: str | None = Field(
        default=None, min_length=1, max_length=64, description="extended (required): the approving head"
    )
    opinion: str | None = Field(
        default=None, min_length=1, max_length=20000, description="replied (required)"
    )
    outcome: ImportedOutcome | None = Field(default=None, description="replied; required for a claim")
    stage: ReplyStage = Field(default=ReplyStage.REPLY, description="replied: only reply can be imported")
    satisfaction: ImportedSatisfaction | None = Field(default=None, description="rated (required)")
    comment: str | None = Field(default=None, min_length=1, max_length=500, description="rated")


REQUIRED_STEP_FIELDS: dict[StepKind, tuple[str, ...]] = {
    StepKind.ACCEPTED: (),
    StepKind.DECLINED: ("reason",),
    StepKind.EXTENDED: ("days", "reason", "approver"),
    StepKind.REPLIED: ("opinion",),
    StepKind.CLOSED: (),
    StepKind.RATED: ("satisfaction",),
}
"""The fields each kind of step must carry (the events they become require them)."""


class ImportedCase(BaseModel):
    """One historical case from a legacy system, with its whole timeline."""

    model_config = ConfigDict(
        extra="ignore",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "external_id": "WX-2019-002549",
                    "channel": "online",
                    "petition_type": "claim",
                    "category": "城乡建设",
                    "title": "A2区景蓉华苑物业管理有问题",
                    "content": "小区物业公司扬言退出，业委会未召开业主大会即制定停车收费方案，请求调查处理。",
                    "region": "430102",
                    "unit_code": "430102-zjj",
                    "received_at": "2019-04-25 09:32:09",
                    "timeline": [
                        {"kind": "accepted", "at": "2019-04-26 10:00:00"},
                        {
                            "kind": "replied",
                            "at": "2019-05-10 14:56:53",
                            "opinion": "经调查核实，已责成街道督促业委会依法召开业主大会重新表决。",
                            "outcome": "supported",
                        },
                        {"kind": "rated", "at": "2019-05-12 08:00:00", "satisfaction": "basically_satisfied"},
                        {"kind": "closed", "at": "2019-05-13 09:00:00"},
                    ],
                }
            ]
        },
    )

    external_id: str = Field(min_length=1, max_length=100, description="the case's id in the legacy system")
    channel: ImportedChannel = Channel.ONLINE
    petition_type: ImportedType | None = None
    category: str | None = Field(default=None, min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20000)
    region: RegionCode = Field(description="6-digit GB/T 2260 code; default INTAKE_IMPORT_DEFAULT_REGION")
    subject_unit: str | None = Field(default=None, min_length=1, max_length=64)
    unit_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="the unit that handled it; default ?unit="
    )
    anonymous: bool = False
    petitioners: list[PetitionerCreate] = Field(default_factory=list, max_length=MAX_REPRESENTATIVES)
    received_at: HistoricalTime
    registered_at: HistoricalTime | None = Field(default=None, description="defaults to received_at")
    timeline: list[TimelineStep] = Field(default_factory=list)


class ImportFormat(StrEnum):
    """The file formats an import takes."""

    JSONL = "jsonl"
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES: dict[ImportFormat, str] = {
    ImportFormat.JSONL: "application/x-ndjson",
    ImportFormat.CSV: "text/csv",
    ImportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ImportStatus(StrEnum):
    """Where an import job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_JOB = "3f6c2a9e-8b1d-4c57-a0e4-5d2b7c9f1e08"
_LINKS: JsonDict = {"self": f"/v1/imports/{_JOB}", "errors": f"/v1/imports/{_JOB}/errors"}
_ERROR_EXAMPLE: JsonDict = {
    "line": 6,
    "external_id": "岳信〔2019〕2557号",
    "field": "replied_at",
    "reason": "2019-04-20T01:49:42+00:00 is before registered_at (2019-04-24T07:07:30+00:00): "
    "steps must be in time order",
}


class ImportLinks(BaseModel):
    """Where to read the job and its errors."""

    self: str
    errors: str


class ImportAccepted(BaseModel):
    """The answer to an upload: the job is stored and will run."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": _JOB, "status": "queued", "links": _LINKS}]}
    )

    id: str
    status: ImportStatus
    links: ImportLinks


class ImportRowErrorRead(BaseModel):
    """Why one row (or one field of it) was not imported."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ERROR_EXAMPLE]})

    line: int = Field(description="line of the CSV or JSON Lines file, row of the XLSX sheet")
    external_id: str | None
    field: str = Field(description="the column or field at fault (timeline[2].opinion in JSON Lines)")
    reason: str


class ImportJobRead(BaseModel):
    """An import job's progress, counts and first errors."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _JOB,
                    "status": "done",
                    "format": "csv",
                    "filename": "岳麓区2019年网上信访.csv",
                    "unit": "430104-xfj",
                    "total": 2816,
                    "processed": 2816,
                    "imported": 2790,
                    "skipped_existing": 24,
                    "failed": 2,
                    "failure": None,
                    "created_at": "2026-03-02T01:30:00Z",
                    "started_at": "2026-03-02T01:30:01Z",
                    "finished_at": "2026-03-02T01:30:15Z",
                    "created_by": None,
                    "errors": [
                        _ERROR_EXAMPLE,
                        {
                            "line": 9,
                            "external_id": "岳信〔2019〕2580号",
                            "field": "title",
                            "reason": "Field required",
                        },
                    ],
                    "errors_truncated": False,
                    "links": _LINKS,
                }
            ]
        }
    )

    id: str
    status: ImportStatus
    format: ImportFormat
    filename: str | None
    unit: str | None = Field(description="the default unit_code of the job's rows")
    total: int | None = Field(description="rows in the file, known once the file has been read through")
    processed: int
    imported: int
    skipped_existing: int = Field(description="rows whose external_id was imported before")
    failed: int = Field(description="rows not imported; see errors")
    failure: str | None = Field(description="why the whole job failed (an unreadable file), if it did")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_by: str | None
    errors: list[ImportRowErrorRead] = Field(description="the first errors; all of them at links.errors")
    errors_truncated: bool
    links: ImportLinks


class ImportErrorPage(BaseModel):
    """A page of a job's row errors in file order; pass ``next_cursor`` back for the next page."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ERROR_EXAMPLE], "next_cursor": "ZTozOQ=="}]}
    )

    items: list[ImportRowErrorRead]
    next_cursor: str | None
