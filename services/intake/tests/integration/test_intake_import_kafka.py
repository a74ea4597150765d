"""Imported cases reach the other services like live ones: every historical fact on its topic."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from intake.imports.service import case_id_for
from xinfang_common.cloudevents import decode_event
from xinfang_common.events import CaseRated, CaseReplied, PetitionRegistered
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import CASE_ACCEPTED, CASE_CLOSED, CASE_RATED, CASE_REPLIED, PETITION_REGISTERED

pytestmark = [pytest.mark.kafka, pytest.mark.database]


def test_an_imported_cases_history_is_published_keyed_by_case_with_historical_times(
    intake_app: Callable[..., FastAPI], kafka_broker: str, wait_until: Callable[..., Any]
) -> None:
    external_id = f"K-{uuid.uuid4().hex[:12]}"
    case_id = case_id_for(external_id)
    line = {
        "external_id": external_id,
        "petition_type": "claim",
        "title": "小区楼下夜间施工噪音扰民",
        "content": "某小区旁工地连续多日夜间施工，影响居民休息。",
        "region": "430104",
        "received_at": "2021-06-01 09:30:00",
        "petitioners": [{"name": "张三丰", "phone": "13812345678"}],
        "timeline": [
            {"kind": "accepted", "at": "2021-06-02 10:00:00"},
            {
                "kind": "replied",
                "at": "2021-07-10 16:00:00",
                "opinion": "已责令停止夜间施工。",
                "outcome": "supported",
            },
            {"kind": "rated", "at": "2021-07-12 09:00:00", "satisfaction": "satisfied"},
            {"kind": "closed", "at": "2021-07-13 09:00:00"},
        ],
    }
    app = intake_app(kafka_broker, consumer_enabled=False)
    with staff_client(app) as client:
        response = client.post(
            "/v1/imports",
            params={"unit": "430104-zjj"},
            content=json.dumps(line, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 202
        job_url = response.json()["links"]["self"]
        wait_until(lambda: client.get(job_url).json()["status"] == "done", timeout=60)
        assert client.get(job_url).json()["imported"] == 1

        def ours(topic: str) -> list[Any]:
            messages = read_messages(
                kafka_broker, topic, until=lambda ms: any(m.key == case_id.encode() for m in ms)
            )
            return [m for m in messages if m.key == case_id.encode()]

        [registered] = ours(PETITION_REGISTERED.name)
        accepted = ours(CASE_ACCEPTED.name)
        [replied] = ours(CASE_REPLIED.name)
        [rated] = ours(CASE_RATED.name)
        closed = ours(CASE_CLOSED.name)
    event = decode_event(registered.value, PetitionRegistered, PETITION_REGISTERED.event_type)
    assert event.data.imported is True
    assert event.data.imported_unit == "430104-zjj"
    assert event.data.registered_at.isoformat() == "2021-06-01T01:30:00+00:00"
    assert event.data.petitioner_count == 1
    assert "张三丰" not in registered.value.decode()
    assert len(accepted) == 1
    assert len(closed) == 1
    reply = decode_event(replied.value, CaseReplied, CASE_REPLIED.event_type)
    assert reply.data.at.isoformat() == "2021-07-10T08:00:00+00:00"
    assert (reply.data.unit_code, reply.data.actor) == ("430104-zjj", "import")
    rating = decode_event(rated.value, CaseRated, CASE_RATED.event_type)
    assert (rating.data.reply_sequence, rating.data.satisfaction) == (1, "satisfied")
