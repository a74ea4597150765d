"""Trace context from requests and events to logs and produced events."""

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from xinfang_common import tracing
from xinfang_common.cloudevents import CloudEvent, build_event, decode_event
from xinfang_common.events import CaseAssigned, PetitionRegistered
from xinfang_common.logging import JsonFormatter
from xinfang_common.streams import handle_or_dead_letter
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED
from xinfang_common.tracing import ContextFilter, TraceContext, bind, install_tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON log lines of the ``xinfang.test`` logger, as the services write them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("xinfang.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ],
)
def test_a_missing_or_malformed_traceparent_is_ignored(value: str | None) -> None:
    assert TraceContext.parse(value) is None


def test_a_handled_event_continues_the_trace_into_the_events_it_builds() -> None:
    petition = example_event(PETITION_REGISTERED, "case-7")
    assert petition.traceparent is None  # built outside any handling: no trace at all
    assert "traceparent" not in json.loads(petition.to_json_bytes())
    incoming = petition.model_copy(update={"traceparent": PARENT})
    raw = incoming.to_json_bytes()
    built: list[CloudEvent[Any]] = []

    async def handler(event: CloudEvent[PetitionRegistered]) -> None:
        assert tracing.current_case_id() == "case-7"
        built.append(example_event(CASE_ASSIGNED, "case-7"))

    ok = asyncio.run(
        handle_or_dead_letter(
            service="test",
            spec=PETITION_REGISTERED,
            raw=raw,
            key=b"case-7",
            dead_letters=None,  # type: ignore[arg-type]
            handler=handler,
            data_model=PetitionRegistered,
        )
    )
    assert ok
    out = TraceContext.parse(built[0].traceparent)
    assert out is not None
    assert out.trace_id == TRACE_ID
    assert out.span_id != PARENT.split("-")[2]
    # Across Kafka: in the JSON body (CloudEvents extension attribute) and as a header.
    decoded = decode_event(built[0].to_json_bytes(), CaseAssigned, CASE_ASSIGNED.event_type)
    assert decoded.traceparent == built[0].traceparent
    assert ("traceparent", built[0].traceparent.encode()) in built[0].kafka_headers()
    assert tracing.current_trace() is None
    assert tracing.current_case_id() is None


def test_without_a_traceparent_a_new_trace_begins() -> None:
    with bind("x", case_id="c-1") as trace:
        event = build_event(
            example_event(CASE_ASSIGNED, "c-1").data,
            event_type=CASE_ASSIGNED.event_type,
            source=CASE_ASSIGNED.source,
            case_id="c-1",
        )
    assert event.traceparent == trace.traceparent


def test_log_lines_carry_the_case_and_trace_in_hand(log_lines: io.StringIO) -> None:
    logger = logging.getLogger("xinfang.test")
    with bind("event", traceparent=PARENT, case_id="case-9") as trace:
        logger.info("decided")
    logger.info("idle")
    decided, idle = _lines(log_lines)
    assert decided["case_id"] == "case-9"
    assert decided["trace_id"] == TRACE_ID
    assert decided["span_id"] == trace.span_id
    assert "case_id" not in idle
    assert "trace_id" not in idle


def test_http_requests_take_the_traceparent_header_and_the_case_from_the_path(log_lines: io.StringIO) -> None:
    app = FastAPI()
    install_tracing(app)

    @app.get("/v1/petitions/{case_id}")
    def read(case_id: str) -> dict[str, str | None]:  # sync: runs in a thread, context copied
        logging.getLogger("xinfang.test").info("read")
        return {"traceparent": tracing.current_traceparent()}

    with TestClient(app) as client:
        resp = client.get("/v1/petitions/case-42", headers={"traceparent": PARENT})
        client.get("/v1/petitions/case-43")
    (line, other) = _lines(log_lines)
    assert line["case_id"] == "case-42"
    assert line["trace_id"] == TRACE_ID
    assert resp.headers["traceparent"] == resp.json()["traceparent"]
    assert TRACE_ID in resp.headers["traceparent"]
    assert other["case_id"] == "case-43"
    assert other["trace_id"] != TRACE_ID


def test_opentelemetry_spans_continue_the_trace_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_OTEL_ENABLED", "true")
    tracing.configure_tracing("test")
    try:
        with bind("event", traceparent=PARENT, case_id="c-1") as trace:
            from opentelemetry import trace as otel

            span = otel.get_current_span().get_span_context()
            assert f"{span.trace_id:032x}" == TRACE_ID == trace.trace_id
            assert f"{span.span_id:016x}" == trace.span_id
    finally:
        monkeypatch.delenv("XINFANG_OTEL_ENABLED")
        tracing.configure_tracing("test")
