"""Messages no consumer may apply, built from a good event of a topic: each must be dead-lettered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from xinfang_common.cloudevents import MAX_EVENT_BYTES, CloudEvent


@dataclass(frozen=True)
class HostileMessage:
    """A Kafka message (value and key) and a fragment of the reason it must be refused with."""

    name: str
    value: bytes
    key: bytes
    reason: str


def _next_version(event_type: str) -> str:
    base, _, version = event_type.rpartition(".v")
    return f"{base}.v{int(version) + 1}"


def hostile_messages(good: CloudEvent[Any]) -> list[HostileMessage]:
    """Malformed JSON, oversized, unknown specversion, the next type version and a wrong key.

    Apart from the one fault, each is ``good`` as its producer would send it, so that only that
    fault can be why it is refused.
    """
    key = (good.partitionkey or good.subject or "").encode()
    document = json.loads(good.to_json_bytes())

    def variant(**changes: Any) -> bytes:
        return json.dumps({**document, **changes}, ensure_ascii=False).encode()

    return [
        HostileMessage("malformed-json", b'{"specversion": "1.0", "id": ', key, "not a valid"),
        # An extension attribute the envelope would otherwise accept: only the size is wrong.
        HostileMessage(
            "oversized", variant(padding="x" * MAX_EVENT_BYTES), key, f"{MAX_EVENT_BYTES}-byte event limit"
        ),
        HostileMessage("unknown-specversion", variant(specversion="2.0"), key, "specversion '2.0'"),
        HostileMessage(
            "unknown-type-version", variant(type=_next_version(good.type)), key, "reads only version"
        ),
        HostileMessage("wrong-key", good.to_json_bytes(), key + b"-elsewhere", "message key"),
    ]
