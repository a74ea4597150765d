"""CloudEvents 1.0 envelope (structured JSON mode) with a pydantic-validated ``data``."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xinfang_common.tracing import current_traceparent

if TYPE_CHECKING:
    from xinfang_common.topics import TopicSpec

DataT = TypeVar("DataT", bound=BaseModel)

# Namespace for event ids derived from other events, so that a re-processed input yields the
# same output id and every consumer can drop the duplicate.
_DERIVED_ID_NAMESPACE = uuid.UUID("8f6d7d7e-2f55-4c3e-9a53-6a1f0c1d0b11")


def new_event_id() -> str:
    """A fresh random event id."""
    return str(uuid.uuid4())


def derived_event_id(cause_id: str, event_type: str) -> str:
    """A deterministic event id for the event of ``event_type`` caused by event ``cause_id``."""
    return str(uuid.uuid5(_DERIVED_ID_NAMESPACE, f"{cause_id}/{event_type}"))


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event; ``subject`` and ``partitionkey`` carry the case id.

    (On the one topic that is not about cases, the units topic, they carry the unit code.)
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=new_event_id, min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    partitionkey: str | None = None
    # CloudEvents distributed-tracing extension: the W3C Trace Context of the producing span.
    traceparent: str | None = None
    data: DataT

    @field_validator("time")
    @classmethod
    def _time_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone offset (RFC 3339)")
        return value

    def to_json_bytes(self) -> bytes:
        """Serialise as a CloudEvents structured-mode JSON document."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Headers that let brokers and tools route without parsing the body."""
        headers = [
            ("content-type", b"application/cloudevents+json; charset=utf-8"),
            ("ce_type", self.type.encode()),
            ("ce_id", self.id.encode()),
        ]
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        return headers


MAX_EVENT_BYTES = 512 * 1024
"""Largest message a consumer decodes. The largest legitimate events, a petition or a reply opinion
of 20,000 characters, are 60-82 KB as producers write them (UTF-8) and under 250 KB even with every
character escaped as a surrogate pair (tests/contract/test_event_limits.py); Kafka's own default
limit is 1 MB. Anything bigger is not an event of ours and is dead-lettered before it is parsed."""

SPEC_VERSION = "1.0"
_VERSIONED_TYPE = re.compile(r"^(?P<base>.+)\.v(?P<version>\d+)$")


class EventDecodeError(ValueError):
    """A Kafka message that is not a valid CloudEvent of the expected type."""


def _size_of(raw: bytes | str) -> int:
    return len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)


def _type_mismatch(expected: str, got: object) -> str:
    found, wanted = _VERSIONED_TYPE.match(str(got)), _VERSIONED_TYPE.match(expected)
    if found and wanted and found["base"] == wanted["base"]:
        return (
            f"event type {got!r} is version {found['version']} of {found['base']}; this consumer reads "
            f"only version {wanted['version']} ({expected!r}): a new version travels on a topic of its own"
        )
    return f"expected event type {expected!r}, got {got!r}"


def _envelope_problem(raw: bytes | str, event_type: str) -> str | None:
    """What is wrong with the envelope itself (specversion, type), read only after validation failed,
    so that the reason names it instead of the data fields of a payload of another shape."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    version = document.get("specversion")
    if version != SPEC_VERSION:
        return f"unsupported CloudEvents specversion {version!r} (this consumer reads {SPEC_VERSION!r})"
    if document.get("type") != event_type:
        return _type_mismatch(event_type, document.get("type"))
    return None


def decode_event(raw: bytes | str | None, data_model: type[DataT], event_type: str) -> CloudEvent[DataT]:
    """Parse and validate one message; raise EventDecodeError saying what is wrong."""
    if raw is None:
        raise EventDecodeError("empty message (tombstone) where an event was expected")
    size = _size_of(raw)
    if size > MAX_EVENT_BYTES:
        raise EventDecodeError(f"message of {size} bytes is over the {MAX_EVENT_BYTES}-byte event limit")
    try:
        event = CloudEvent[data_model].model_validate_json(raw)  # type: ignore[valid-type]
    except ValueError as exc:
        problem = _envelope_problem(raw, event_type)
        if problem is not None:
            raise EventDecodeError(problem) from exc
        raise EventDecodeError(f"not a valid {event_type} CloudEvent: {exc}") from exc
    if event.type != event_type:
        raise EventDecodeError(_type_mismatch(event_type, event.type))
    return event


def decode_message(
    raw: bytes | str | None, key: bytes | None, spec: TopicSpec, data_model: type[BaseModel] | None = None
) -> CloudEvent[Any]:
    """Decode a message of ``spec``'s topic and check that its Kafka key is the event's own key.

    A message keyed otherwise sits on a partition other than its case's other events, so it could
    be applied out of order (or, in a partitioned table, to the wrong partition's state).
    """
    event: CloudEvent[Any] = decode_event(raw, data_model or spec.schema, spec.event_type)
    expected = spec.key_of(event.data)
    if key != expected.encode():
        raise EventDecodeError(f"message key {key!r} is not the event's {spec.key} {expected!r}")
    return event


def build_event(
    data: DataT,
    *,
    event_type: str,
    source: str,
    case_id: str | None = None,
    key: str | None = None,
    event_id: str | None = None,
    dataschema: str | None = None,
    time: datetime | None = None,
) -> CloudEvent[DataT]:
    """Wrap ``data`` in an envelope keyed by ``case_id`` (or, for a topic not about cases, ``key``).

    Built while a request or event is handled, the envelope carries that span's ``traceparent``.
    """
    if (case_id is None) == (key is None):
        raise ValueError("give exactly one of case_id and key")
    subject = case_id if case_id is not None else key
    fields: dict[str, Any] = {
        "source": source,
        "type": event_type,
        "subject": subject,
        "partitionkey": subject,
        "dataschema": dataschema,
        "traceparent": current_traceparent(),
        "data": data,
    }
    if event_id is not None:
        fields["id"] = event_id
    if time is not None:
        fields["time"] = time
    envelope: type[CloudEvent[DataT]] = CloudEvent[type(data)]  # type: ignore[misc,assignment]
    return envelope(**fields)
