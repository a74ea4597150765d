"""What every consumer refuses at decode time, and that the largest legitimate events stay well inside."""

import json
import re

import pytest

from xinfang_common.cloudevents import MAX_EVENT_BYTES, EventDecodeError, decode_event, decode_message
from xinfang_common.testing.events import example_event
from xinfang_common.testing.hostile import hostile_messages
from xinfang_common.topics import CASE_REPLIED, PETITION_REGISTERED, TOPICS, TopicSpec

# A CJK Extension B character: four bytes in UTF-8, a surrogate pair (12 bytes) when escaped.
WIDEST_CHARACTER = "\U00020000"


def largest_events() -> list[tuple[TopicSpec, bytes]]:
    reply = example_event(CASE_REPLIED, "c" * 64, opinion=WIDEST_CHARACTER * 20_000)
    petition = example_event(
        PETITION_REGISTERED, "c" * 64, title=WIDEST_CHARACTER * 200, content=WIDEST_CHARACTER * 20_000
    )
    found = []
    for spec, event in ((CASE_REPLIED, reply), (PETITION_REGISTERED, petition)):
        found.append((spec, event.to_json_bytes()))
        # As a producer with json.dumps' defaults would write it: every character escaped.
        found.append((spec, json.dumps(json.loads(event.to_json_bytes())).encode()))
    return found


@pytest.mark.parametrize(("spec", "raw"), largest_events())
def test_the_largest_legitimate_events_decode_with_at_least_twice_the_room(
    spec: TopicSpec, raw: bytes
) -> None:
    event = decode_event(raw, spec.schema, spec.event_type)

    assert event.type == spec.event_type
    assert len(raw) * 2 <= MAX_EVENT_BYTES, f"{len(raw)} bytes leaves too little margin"


def test_an_oversized_message_is_refused_naming_its_size() -> None:
    raw = b" " * MAX_EVENT_BYTES + example_event(PETITION_REGISTERED, "c1").to_json_bytes()

    with pytest.raises(EventDecodeError, match=f"message of {len(raw)} bytes is over the {MAX_EVENT_BYTES}"):
        decode_event(raw, PETITION_REGISTERED.schema, PETITION_REGISTERED.event_type)


def test_another_specversion_or_type_version_is_refused_naming_it() -> None:
    good = json.loads(example_event(PETITION_REGISTERED, "c1").to_json_bytes())
    schema, event_type = PETITION_REGISTERED.schema, PETITION_REGISTERED.event_type
    # A v2 payload of another shape: the reason names the version, not the fields it lacks.
    v2 = {**good, "type": "cn.xinfang.petition.registered.v2", "data": {"petition": good["data"]}}

    with pytest.raises(EventDecodeError, match=r"unsupported CloudEvents specversion '0\.3'"):
        decode_event(json.dumps({**good, "specversion": "0.3"}), schema, event_type)
    with pytest.raises(
        EventDecodeError, match=re.escape("is version 2 of cn.xinfang.petition.registered; this consumer")
    ):
        decode_event(json.dumps(v2), schema, event_type)


@pytest.mark.parametrize("spec", TOPICS, ids=lambda s: s.name)
def test_each_topic_refuses_every_hostile_message_and_takes_the_good_one(spec: TopicSpec) -> None:
    good = example_event(spec, "k-1")

    assert decode_message(good.to_json_bytes(), b"k-1", spec) == good
    for message in hostile_messages(good):
        with pytest.raises(EventDecodeError, match=re.escape(message.reason)):
            decode_message(message.value, message.key, spec)
    with pytest.raises(EventDecodeError, match="message key None"):
        decode_message(good.to_json_bytes(), None, spec)
