"""Open311 requests as ordinary online petitions, and their progress in the spec's terms."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from sqlalchemy.orm import Session

from intake.crypto import PersonalDataCipher
from intake.errors import PetitionNotFound
from intake.open311.catalog import BY_CATEGORY, BY_CODE, GROUP, SERVICES
from intake.open311.schemas import (
    JURISDICTION,
    Service,
    ServiceRequestCreate,
    ServiceRequestCreated,
    ServiceRequestRead,
)
from intake.petitions import service as petitions
from intake.petitions.models import TimelineEntry
from intake.petitions.repository import PetitionRepository
from intake.petitions.schemas import PetitionCreate, PetitionCreated
from xinfang_common.domain import Channel

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 100
TITLE_LENGTH = 30

# A declined case is still open until the unit closes it (the close action).
CLOSED_STATUSES = frozenset({"closed"})

# Plain words for each case action, never its reason or opinion: anyone with the id can read them.
_ACTION_NOTES = {
    "accepted": "已受理，正在办理。",
    "declined": "经审查不予受理，已告知信访人。",
    "objected": "承办单位认为不属于其职权范围，正在重新转送。",
    "extended": "经批准延长办理期限。",
    "replied": "已出具处理意见。",
    "rated": "信访人已评价。",
    "review_requested": "信访人已请求复查。",
    "reviewed": "已出具复查意见。",
    "recheck_requested": "信访人已请求复核。",
    "rechecked": "已出具复核意见。",
    "closed": "已办结。",
}

SUBMITTED_NOTICE = "已登记为网上信访事项，将转送有权处理的机关。请保存查询码，凭它查询办理进展和评价结果。"

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class InvalidRequest(Exception):
    """A request the client must fix: each error names the field and the reason."""

    def __init__(self, errors: list[tuple[str, str]], status_code: int = 400) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors))
        self.errors = errors
        self.status_code = status_code


def _form_fields(text: str) -> dict[str, Any]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise InvalidRequest([("body", f"more than {MAX_FIELDS} fields")]) from exc
    fields: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in fields:
            repeated.append((key, "given more than once"))
        fields[key] = value
    if repeated:
        raise InvalidRequest(repeated)
    return fields


def _json_fields(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest([("body", f"not valid JSON: {exc.msg}")]) from exc
    if not isinstance(document, dict):
        raise InvalidRequest([("body", "expected a JSON object")])
    fields = {key: value for key, value in document.items() if key != "attribute"}
    attributes = document.get("attribute")
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise InvalidRequest([("attribute", "expected an object of attribute codes to values")])
        fields.update({f"attribute[{code}]": value for code, value in attributes.items()})
    return fields


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request's fields from a form (as the spec posts them) or a JSON object; blanks dropped."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if media_type != FORM and not is_json:
        raise InvalidRequest([("content-type", f"send {FORM} or application/json")], status_code=415)
    try:
        # The spec requires UTF-8 everywhere.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest([("body", "not UTF-8")]) from exc
    fields = _json_fields(text) if is_json else _form_fields(text)
    # Forms send empty inputs as empty strings; they mean "not given".
    return {key: value for key, value in fields.items() if value is not None and value != ""}


def validation_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """Each bad field (as the client named it) with the reason."""
    return [
        (
            ".".join(str(part) for part in error["loc"]) or "body",
            str(error["msg"]).removeprefix("Value error, "),
        )
        for error in exc.errors()
    ]


def read_request(fields: dict[str, Any], *, jurisdiction: str) -> ServiceRequestCreate:
    """Validate a request's fields; raises InvalidRequest naming every bad field."""
    try:
        return ServiceRequestCreate.model_validate(fields, context={JURISDICTION: jurisdiction})
    except ValidationError as exc:
        raise InvalidRequest(validation_errors(exc)) from exc


def list_services() -> list[Service]:
    """The service types: one per top-level petition category."""
    return [
        Service(
            service_code=s.code,
            service_name=s.category,
            description=s.description,
            metadata=False,
            type="realtime",
            keywords=",".join(s.keywords),
            group=GROUP,
        )
        for s in SERVICES
    ]


def petitioner_name(first_name: str | None, last_name: str | None) -> str | None:
    """The full name: surname first and unspaced for Chinese names, else "first last"."""
    parts = [p for p in (first_name, last_name) if p]
    if not parts:
        return None
    if _CJK.search("".join(parts)):
        return f"{last_name or ''}{first_name or ''}"
    return " ".join(parts)


def _content(data: ServiceRequestCreate) -> str:
    # The place and picture are part of the matter, for the unit that handles it.
    extra = []
    if data.address_string:
        extra.append(f"地点：{data.address_string}")
    if data.address_id:
        extra.append(f"地址编号：{data.address_id}")
    if data.lat is not None and data.long is not None:
        extra.append(f"坐标：{data.lat}, {data.long}")
    if data.media_url:
        extra.append(f"图片：{data.media_url}")
    return "\n\n".join([data.description, "\n".join(extra)]) if extra else data.description


def petition_from_request(data: ServiceRequestCreate, *, default_region: str) -> PetitionCreate:
    """The online petition an Open311 request stands for; email and device are left out."""
    name = petitioner_name(data.first_name, data.last_name)
    petitioners = [{"name": name, "phone": data.phone}] if name else []
    return PetitionCreate.model_validate(
        {
            "channel": Channel.ONLINE,
            "category": BY_CODE[data.service_code].category,
            "title": " ".join(data.description.split())[:TITLE_LENGTH],
            "content": _content(data),
            "region": data.region or default_region,
            "anonymous": not petitioners,
            "petitioners": petitioners,
        }
    )


def request_created(created: PetitionCreated) -> ServiceRequestCreated:
    """The Open311 answer for a registered petition."""
    return ServiceRequestCreated(
        service_request_id=created.id,
        service_notice=SUBMITTED_NOTICE,
        x_tracking_code=created.tracking_code,
    )


def submit_request(
    session: Session,
    *,
    data: ServiceRequestCreate,
    cipher: PersonalDataCipher,
    default_region: str,
    within: Callable[[Session, ServiceRequestCreated], None] | None = None,
) -> ServiceRequestCreated:
    """Register the request as a petition; the answer carries the tracking code, shown once.

    ``within`` runs in the registration's transaction with the answer (see register_petition).
    """
    petition = petition_from_request(data, default_region=default_region)

    def within_registration(tx: Session, created: PetitionCreated) -> None:
        if within is not None:
            within(tx, request_created(created))

    created = petitions.register_petition(
        session, data=petition, cipher=cipher, within=within_registration if within else None
    )
    return request_created(created)


def status_notes(entry: TimelineEntry | None) -> str:
    """The latest step of a case in plain words, without anything the detail might reveal."""
    if entry is None or entry.kind == "registered":
        return "已登记，正在转送有权处理的机关。"
    if entry.kind == "assigned":
        unit = entry.detail.get("unit_name")
        return f"已转送{unit}办理。" if isinstance(unit, str) and unit else "已转送有权处理的机关办理。"
    return _ACTION_NOTES.get(entry.kind, "办理情况已更新。")


def get_request(session: Session, *, service_request_id: str) -> ServiceRequestRead:
    """A case's progress in Open311 terms; raises PetitionNotFound."""
    petition = PetitionRepository(session).get(service_request_id)
    if petition is None:
        raise PetitionNotFound(f"no service request with id {service_request_id}")
    known = BY_CATEGORY.get(petition.category or "")
    return ServiceRequestRead(
        service_request_id=petition.id,
        status="closed" if petition.status in CLOSED_STATUSES else "open",
        status_notes=status_notes(petition.timeline[-1] if petition.timeline else None),
        service_name=petition.category,
        service_code=known.code if known else None,
        agency_responsible=petition.assigned_unit_name,
        requested_datetime=petition.received_at,
        updated_datetime=petition.updated_at,
    )
