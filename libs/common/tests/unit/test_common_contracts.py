"""Event contracts: envelopes round-trip, examples validate, topics follow the house rules."""

import re
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from xinfang_common.asyncapi import render
from xinfang_common.cloudevents import EventDecodeError, build_event, decode_event, derived_event_id
from xinfang_common.events import PetitionRegistered
from xinfang_common.topics import SERVICES, TOPICS, all_topic_names

REPO = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("spec", TOPICS, ids=lambda s: s.name)
def test_each_example_validates_and_round_trips_through_the_envelope(spec):
    data = spec.schema.model_validate(spec.example)
    event = build_event(data, event_type=spec.event_type, source=spec.source, key=spec.key_of(data))

    decoded = decode_event(event.to_json_bytes(), spec.schema, spec.event_type)

    assert decoded == event
    assert decoded.specversion == "1.0"
    assert decoded.subject == decoded.partitionkey == spec.key_of(data)


def test_topics_follow_naming_and_have_one_known_producer():
    for spec in TOPICS:
        assert re.fullmatch(r"xinfang\.[a-z]+\.[a-z_]+\.v\d+", spec.name), spec.name
        assert spec.producer in SERVICES
        assert spec.producer not in spec.consumers
        assert set(spec.consumers) <= set(SERVICES)
    names = all_topic_names()
    assert len(names) == len(set(names))
    assert all(n.endswith(".dlq") for n in names if n not in {s.name for s in TOPICS})


def test_dead_letter_topic_only_for_a_real_consumer():
    spec = TOPICS[0]
    with pytest.raises(ValueError, match="does not consume"):
        spec.dlq(spec.producer)


def test_decode_rejects_wrong_type_and_garbage_with_a_reason():
    spec = TOPICS[0]
    data = spec.schema.model_validate(spec.example)
    event = build_event(data, event_type="cn.xinfang.other.v1", source=spec.source, case_id="c1")
    with pytest.raises(EventDecodeError, match="expected event type"):
        decode_event(event.to_json_bytes(), spec.schema, spec.event_type)
    with pytest.raises(EventDecodeError, match="not a valid"):
        decode_event(b"{not json", spec.schema, spec.event_type)
    with pytest.raises(EventDecodeError, match="tombstone"):
        decode_event(None, spec.schema, spec.event_type)


def test_payloads_refuse_naive_times_and_bad_region_codes():
    example = dict(TOPICS[0].example)
    with pytest.raises(ValidationError, match="timezone"):
        PetitionRegistered.model_validate({**example, "received_at": datetime(2026, 1, 1)})
    with pytest.raises(ValidationError, match="GB/T 2260"):
        PetitionRegistered.model_validate({**example, "region": "12345"})


def test_registered_event_has_no_field_for_personal_data():
    fields = set(PetitionRegistered.model_fields)
    assert not fields & {"name", "names", "id_number", "phone", "address", "petitioners"}


def test_derived_event_ids_are_stable_per_cause_and_type():
    assert derived_event_id("e1", "t") == derived_event_id("e1", "t")
    assert derived_event_id("e1", "t") != derived_event_id("e2", "t")
    assert derived_event_id("e1", "t") != derived_event_id("e1", "u")


def test_committed_asyncapi_document_matches_the_topic_specs():
    committed = (REPO / "docs" / "asyncapi.yaml").read_text(encoding="utf-8")
    assert committed == render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"
