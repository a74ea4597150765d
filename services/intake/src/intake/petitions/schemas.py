"""Request and response bodies of the petitions API."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError

from intake import categories
from intake.petitions.lifecycle import Action, PetitionStatus
from xinfang_common.cloudevents import utcnow
from xinfang_common.domain import (
    Channel,
    DeadlineKind,
    Difficulty,
    LinkKind,
    Outcome,
    PetitionType,
    RegionCode,
)
from xinfang_common.events import MAX_EXTENSION_DAYS, MAX_HEARING_DAYS

MAX_REPRESENTATIVES = 5
"""A group visit sends at most five representatives (信访工作条例 Art. 20)."""

RECEIVED_AT_MAX_SKEW = timedelta(minutes=5)
"""How far in the future a client's clock may put ``received_at``."""

_IN = ConfigDict(extra="forbid", str_strip_whitespace=True)


PROVINCE_CODES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"}
    | {"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"}
    | {"71", "81", "82", "83"}
)
"""First two digits of a GB 11643 number: a province (or Taiwan, Hong Kong, Macao residence permits)."""


def validate_id_number(value: str) -> str:
    """A PRC resident ID number (18 characters, real birth date, GB 11643 checksum), upper-case X.

    The county digits are not checked against the county list of the birth year (as
    python-stdnum's full validation does): numbers issued after a county was renamed carry the
    new code with an earlier birth date, and such real numbers must be accepted.
    """
    number = ric.compact(value).upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("not a valid resident ID number: 18 characters, 17 digits then a digit or X")
    if number[:2] not in PROVINCE_CODES:
        raise ValueError("not a valid resident ID number: the first two digits are not a province code")
    try:
        born = ric.get_birth_date(number)
    except StdnumValidationError as exc:
        raise ValueError("not a valid resident ID number: digits 7-14 are not a birth date") from exc
    if born > utcnow().date():
        raise ValueError("not a valid resident ID number: the birth date lies in the future")
    if ric.calc_check_digit(number) != number[17]:
        raise ValueError("not a valid resident ID number: the check digit does not match")
    return number


def validate_phone(value: str) -> str:
    """A valid mainland number (mobile or landline with area code), returned in E.164."""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number in China (mobile, or landline with area code)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class PetitionerCreate(BaseModel):
    """A petitioner or representative as given at registration."""

    model_config = _IN

    name: str = Field(min_length=1, max_length=50, description="full name")
    id_number: str | None = Field(
        default=None, description="18-character resident ID number (居民身份证号码); checksum verified"
    )
    phone: str | None = Field(default=None, max_length=32, description="mobile or landline with area code")
    address: str | None = Field(default=None, max_length=200)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return None if value is None else validate_id_number(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else validate_phone(value)


MAX_ATTACHMENTS = 20


class AttachmentMeta(BaseModel):
    """What a submitted material is (材料); the file itself lives in the unit's document store."""

    model_config = _IN

    filename: str = Field(min_length=1, max_length=255, examples=["现场照片1.jpg"])
    content_type: str = Field(
        pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$",
        max_length=100,
        description="media type, e.g. image/jpeg or application/pdf",
    )
    size_bytes: int = Field(ge=0, le=1024**3)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="hex digest of the file")
    description: str | None = Field(default=None, min_length=1, max_length=200)


class PetitionCreate(BaseModel):
    """A petition to register (登记)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "channel": "online",
                    "petition_type": "claim",
                    "category": "城乡建设",
                    "title": "小区楼下夜间施工噪音扰民",
                    "content": "某小区旁工地连续多日夜间施工，影响居民休息，请求相关部门处理。",
                    "region": "430104",
                    "subject_address": "长沙市岳麓区桃花岭路88号附近工地",
                    "petitioners": [{"name": "张三", "phone": "13812345678"}],
                    "attachments": [
                        {
                            "filename": "夜间施工现场照片.jpg",
                            "content_type": "image/jpeg",
                            "size_bytes": 482113,
                            "description": "2026年3月1日23时拍摄",
                        }
                    ],
                }
            ]
        },
    )

    channel: Channel
    petition_type: PetitionType | None = Field(
        default=None, description="leave out to let routing classify the text"
    )
    category: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="a category of the scheme (one of the seven top-level ones, or a path such as "
        "城乡建设/安全生产 when INTAKE_CATEGORY_SCHEME_PATH names the full scheme); leave out to let "
        "routing classify the text",
    )
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20000)
    region: RegionCode = Field(description="6-digit GB/T 2260 code of where the matter arises (属地)")
    subject_unit: str | None = Field(
        default=None, min_length=1, max_length=64, description="code of the unit complained about, if any"
    )
    subject_address: str | None = Field(
        default=None, min_length=1, max_length=200, description="where the matter arises (事发地址)"
    )
    received_at: AwareDatetime | None = Field(
        default=None, description="when the petition arrived (with offset); defaults to now"
    )
    anonymous: bool = False
    group_size: int | None = Field(
        default=None, ge=1, le=100000, description="people behind a group petition (集体访)"
    )
    petitioners: Annotated[
        list[PetitionerCreate],
        Field(
            default_factory=list,
            max_length=MAX_REPRESENTATIVES,
            validate_default=True,
            description="the petitioner, or up to 5 representatives; may be empty only if anonymous",
        ),
    ]
    attachments: list[AttachmentMeta] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="metadata of the materials handed in"
    )

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str | None) -> str | None:
        return None if value is None else categories.active().check(value)

    @field_validator("received_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > utcnow() + RECEIVED_AT_MAX_SKEW:
            raise ValueError("must not lie in the future")
        return value

    @field_validator("petitioners")
    @classmethod
    def _someone_unless_anonymous(
        cls, value: list[PetitionerCreate], info: ValidationInfo
    ) -> list[PetitionerCreate]:
        if not value and not info.data.get("anonymous", False):
            raise ValueError("at least one petitioner is required unless the petition is anonymous")
        group_size = info.data.get("group_size")
        if group_size is not None and group_size < len(value):
            raise ValueError(f"{len(value)} representatives but group_size is {group_size}")
        return value

    @property
    def petitioner_count(self) -> int:
        """People behind the petition: the group size when given, else the petitioners listed."""
        return self.group_size if self.group_size is not None else len(self.petitioners)


class PetitionCreated(BaseModel):
    """The registration receipt; the only place the tracking code is ever shown."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                    "tracking_code": "7KQ4-M9XD-2HWP-R3TV",
                    "status": "registered",
                    "channel": "online",
                    "region": "430104",
                    "received_at": "2026-03-02T09:30:00Z",
                    "registered_at": "2026-03-02T09:30:00Z",
                }
            ]
        }
    )

    id: str
    tracking_code: str = Field(
        description="查询码: give it to the petitioner; it is not stored and cannot be shown again"
    )
    status: str
    channel: Channel
    region: str
    received_at: datetime
    registered_at: datetime


class AssignedUnit(BaseModel):
    """The unit a case was forwarded or assigned to."""

    code: str
    name: str
    assigned_at: datetime


class PetitionerMasked(BaseModel):
    """A petitioner with personal data masked; the address is never shown here."""

    name: str
    id_number: str | None = None
    phone: str | None = None


class PetitionerRead(BaseModel):
    """A petitioner's personal data in full; every read of it is audited."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "张三丰",
                    "id_number": "11010519491231002X",
                    "phone": "+8613812345678",
                    "address": "长沙市岳麓区某街道1号",
                }
            ]
        }
    )

    name: str
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


class PetitionersRead(BaseModel):
    """The petitioners of a case, unmasked (this read is written to the audit log)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "case_id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                    "petitioners": [
                        {
                            "name": "张三丰",
                            "id_number": "11010519491231002X",
                            "phone": "+8613812345678",
                            "address": "长沙市岳麓区某街道1号",
                        }
                    ],
                }
            ]
        }
    )

    case_id: str
    petitioners: list[PetitionerRead]


class TimelineEntryRead(BaseModel):
    """One step of a case's history."""

    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


class DeadlineRead(BaseModel):
    """A legal deadline of the case as alerts scheduled it."""

    kind: DeadlineKind
    due_at: datetime = Field(description="the instant the period ends (24:00 local time of its last day)")
    provisional: bool = Field(
        default=False,
        description="computed without the official holiday notice for a year it reaches; may still move",
    )
    stopped: bool = Field(default=False, description="the period no longer runs (its step was taken)")


class PetitionRead(BaseModel):
    """A case as staff see it without the right to unmask petitioners."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                    "status": "accepted",
                    "channel": "online",
                    "petition_type": "claim",
                    "category": "城乡建设",
                    "title": "小区楼下夜间施工噪音扰民",
                    "content": "某小区旁工地连续多日夜间施工，影响居民休息，请求相关部门处理。",
                    "region": "430104",
                    "subject_unit": None,
                    "anonymous": False,
                    "group_size": None,
                    "petitioner_count": 1,
                    "received_at": "2026-03-02T09:30:00Z",
                    "registered_at": "2026-03-02T09:30:00Z",
                    "assigned_unit": {
                        "code": "430104-zjj",
                        "name": "岳麓区住房和城乡建设局",
                        "assigned_at": "2026-03-02T09:30:02Z",
                    },
                    "extended_days": None,
                    "outcome": None,
                    "allowed_actions": ["extend", "hearing", "reply"],
                    "deadlines": [{"kind": "acceptance", "due_at": "2026-03-17T16:00:00Z"}],
                    "petitioners": [
                        {"name": "张*丰", "id_number": "1101**********002X", "phone": "138****5678"}
                    ],
                    "timeline": [
                        {
                            "at": "2026-03-02T09:30:00Z",
                            "kind": "registered",
                            "actor": "clerk-0007",
                            "detail": {"channel": "online", "received_at": "2026-03-02T09:30:00+00:00"},
                        },
                        {
                            "at": "2026-03-02T09:30:02Z",
                            "kind": "assigned",
                            "actor": "routing",
                            "detail": {
                                "unit_code": "430104-zjj",
                                "unit_name": "岳麓区住房和城乡建设局",
                                "rule": "region-category",
                                "explanation": "serves region 430104 and handles 城乡建设",
                            },
                        },
                        {
                            "at": "2026-03-03T10:15:00Z",
                            "kind": "accepted",
                            "actor": "staff-0427",
                            "detail": {"unit_code": "430104-zjj"},
                        },
                    ],
                }
            ]
        }
    )

    id: str
    status: str
    channel: Channel
    petition_type: PetitionType | None
    category: str | None
    title: str
    content: str
    region: str
    subject_unit: str | None
    subject_address: str | None = None
    attachments: list[AttachmentMeta] = Field(default_factory=list)
    anonymous: bool
    group_size: int | None
    petitioner_count: int
    received_at: datetime
    registered_at: datetime
    assigned_unit: AssignedUnit | None
    extended_days: int | None = Field(description="days of the one approved extension, if any")
    outcome: Outcome | None = Field(description="the outcome given with the reply, if any")
    linked_case_id: str | None = Field(
        default=None, description="the earlier case on the same matter routing linked this one to"
    )
    link_kind: LinkKind | None = Field(
        default=None,
        description="repeat; in_progress (sent to the unit handling the earlier case); final (the "
        "earlier matter was closed after recheck, so this one is not accepted, Art. 36)",
    )
    allowed_actions: list[Action] = Field(
        description="what the assigned unit may do now (POST .../actions); empty while routing decides"
    )
    deadlines: list[DeadlineRead] = Field(description="legal deadlines alerts scheduled, earliest first")
    petitioners: list[PetitionerMasked]
    timeline: list[TimelineEntryRead]


class PetitionSummary(BaseModel):
    """A line of the case list."""

    id: str
    status: str
    channel: Channel
    petition_type: PetitionType | None
    region: str
    title: str
    registered_at: datetime
    assigned_unit_code: str | None


class PetitionPage(BaseModel):
    """A page of cases, newest first; pass ``next_cursor`` back to get the next page."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                            "status": "routed",
                            "channel": "letter",
                            "petition_type": "suggestion",
                            "region": "430104",
                            "title": "建议在麓山路增设公交站点",
                            "registered_at": "2026-03-02T09:30:00Z",
                            "assigned_unit_code": "430104-jtj",
                        }
                    ],
                    "next_cursor": "MjAyNi0wMy0wMlQwOTozMDowMCswMDowMHwwYjdlM2Y4ZQ==",
                }
            ]
        }
    )

    items: list[PetitionSummary]
    next_cursor: str | None


Reason = Annotated[str, Field(min_length=1, max_length=2000, description="why, in plain words")]


class AcceptAction(BaseModel):
    """Accept the case for handling (受理); the completion period starts."""

    model_config = _IN

    action: Literal["accept"]
    difficulty: Difficulty | None = Field(
        default=None,
        description="simple, ordinary or difficult: selects the organisation's internal completion "
        "target where its deadline policy sets one; the legal period is not changed",
    )


class DeclineAction(BaseModel):
    """Decline the case (不予受理), with the reason the petitioner is told."""

    model_config = _IN

    action: Literal["decline"]
    reason: Reason


class ObjectAction(BaseModel):
    """Object that the matter is not this unit's (Art. 23), within 5 working days of assignment."""

    model_config = _IN

    action: Literal["object"]
    reason: Reason


class ExtendAction(BaseModel):
    """Extend the completion period once, by at most 30 days, with the unit head's approval."""

    model_config = _IN

    action: Literal["extend"]
    days: int = Field(ge=1, le=MAX_EXTENSION_DAYS, description="days added (1-30)")
    reason: Reason
    approver: str = Field(min_length=1, max_length=64, description="id of the approving unit head")


class HearingAction(BaseModel):
    """Record a hearing (听证) held or scheduled while an answer is pending; where the deadline
    policy says so (the recheck, Art. 36), its days do not count towards the answer's period."""

    model_config = _IN

    action: Literal["hearing"]
    started_on: date = Field(description="first day of the hearing (local date)")
    ended_on: date = Field(description="last day, the same day or later; both days are excluded")

    @field_validator("ended_on")
    @classmethod
    def _after_start(cls, ended_on: date, info: ValidationInfo) -> date:
        started_on = info.data.get("started_on")
        if isinstance(started_on, date):
            if ended_on < started_on:
                raise ValueError("must be on or after started_on")
            if (ended_on - started_on).days + 1 > MAX_HEARING_DAYS:
                raise ValueError(f"a hearing record spans at most {MAX_HEARING_DAYS} days")
        return ended_on


class _Answer(BaseModel):
    """A written answer: the opinion, and for a claim its outcome (Art. 32)."""

    model_config = _IN

    opinion: str = Field(min_length=1, max_length=20000)
    outcome: Outcome | None = Field(
        default=None, description="supported, explained or not_supported; required for a claim"
    )


class ReplyAction(_Answer):
    """Issue the written opinion (信访处理意见书); a claim also needs its outcome."""

    action: Literal["reply"]


class ReviewReplyAction(_Answer):
    """The superior unit's review answer (复查意见) to a requested review; it can be rated again."""

    action: Literal["review_reply"]


class RecheckReplyAction(_Answer):
    """The recheck answer (复核意见) to a requested recheck; after it the matter is final."""

    action: Literal["recheck_reply"]


class CloseAction(BaseModel):
    """Close a replied, reviewed, rechecked or declined case (办结)."""

    model_config = _IN

    action: Literal["close"]
    reason: str | None = Field(default=None, min_length=1, max_length=2000)


CaseActionRequest = Annotated[
    AcceptAction
    | DeclineAction
    | ObjectAction
    | ExtendAction
    | HearingAction
    | ReplyAction
    | ReviewReplyAction
    | RecheckReplyAction
    | CloseAction,
    Field(discriminator="action"),
]
"""The body of ``POST /v1/petitions/{id}/actions``, told apart by ``action``."""


class TransitionConflict(BaseModel):
    """The 409 answer to an action the case's state does not allow."""

    error: Literal["TransitionNotAllowed"]
    detail: str
    status: PetitionStatus
    allowed_actions: list[Action]
