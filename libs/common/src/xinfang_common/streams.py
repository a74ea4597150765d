"""Faust plumbing shared by the stream services: app factory, decode-or-dead-letter, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
from prometheus_client import Counter
from pydantic import BaseModel

from xinfang_common.cloudevents import CloudEvent, EventDecodeError, decode_message
from xinfang_common.settings import KafkaSettings, StreamSettings
from xinfang_common.topics import TopicSpec
from xinfang_common.tracing import bind

log = logging.getLogger(__name__)

DataT = TypeVar("DataT", bound=BaseModel)

EVENTS_CONSUMED = Counter(
    "xinfang_stream_events_consumed_total",
    "Events taken from Kafka by a stream service, by outcome (processed, duplicate, dead_lettered)",
    ["service", "topic", "outcome"],
)


def make_faust_app(
    service: str, kafka: KafkaSettings, stream: StreamSettings | None = None, **overrides: Any
) -> faust.App:
    """A faust app that runs inside the service's FastAPI process (no faust web server).

    Values are raw bytes: the CloudEvents envelope is parsed by pydantic, so that a bad
    message becomes a dead letter instead of a crash in faust's deserialiser. The session is
    short so that a restarted process takes its partitions back quickly; faust refuses a
    session timeout above the request timeout.
    """
    stream = stream or StreamSettings()
    options: dict[str, Any] = {
        # Not the working directory: the service user cannot write there in the images.
        "datadir": str(stream.data_dir),
        "broker": [f"kafka://{server}" for server in kafka.servers],
        "web_enabled": False,
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "topic_partitions": 6,
        "topic_replication_factor": kafka.replication_factor,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "producer_acks": -1,
        "broker_request_timeout": kafka.request_timeout_ms / 1000,
        "broker_session_timeout": min(kafka.session_timeout_ms, kafka.request_timeout_ms) / 1000,
        "consumer_auto_offset_reset": "earliest",
        "id": f"xinfang-{service}",
        # Names the process in the group's member list (kafka-consumer-groups --describe).
        "broker_client_id": f"{kafka.client_id_prefix}-{service}",
    }
    options.update(overrides)
    app_id = options.pop("id")
    return faust.App(app_id, **options)


async def stop_faust_app(app: faust.App, grace_seconds: float = 15.0) -> None:
    """Stop an embedded faust app, giving up after ``grace_seconds``.

    With Kafka unreachable, faust can wait without end to commit and leave its group; a process
    that never exits is worse than offsets left uncommitted, which only means some events are
    delivered again and dropped as duplicates.
    """
    try:
        await asyncio.wait_for(app.stop(), grace_seconds)
    except TimeoutError:
        log.warning("faust did not stop within %.0fs (is Kafka reachable?); exiting anyway", grace_seconds)


def spec_topic(app: faust.App, spec: TopicSpec) -> faust.TopicT:
    """The faust topic object for a spec (the topic itself is created by ensure_topics)."""
    return app.topic(spec.name, key_type=bytes, value_type=bytes, partitions=spec.partitions)


def dlq_topic(app: faust.App, spec: TopicSpec, consumer: str) -> faust.TopicT:
    """The faust topic object for ``consumer``'s dead letters of ``spec``."""
    return app.topic(spec.dlq(consumer), key_type=bytes, value_type=bytes, partitions=1)


async def publish(topic: faust.TopicT, event: CloudEvent[Any]) -> None:
    """Send one event keyed by case id and wait until the broker has acknowledged it."""
    key = (event.partitionkey or event.subject or event.id).encode()
    fut = await topic.send(key=key, value=event.to_json_bytes(), headers=event.kafka_headers())
    await fut


async def handle_or_dead_letter(
    *,
    service: str,
    spec: TopicSpec,
    raw: bytes | None,
    key: bytes | None,
    dead_letters: faust.TopicT,
    handler: Callable[[CloudEvent[DataT]], Awaitable[None]],
    data_model: type[DataT],
) -> bool:
    """Decode one message and run ``handler``; on any failure dead-letter it and carry on.

    Unreadable, oversized, of another specversion or event type version, or keyed other than by
    its case id: each is refused by ``decode_message`` with the reason in the ``x-error`` header.
    Returns True when the handler ran to completion.
    """
    if raw is None and spec.compacted:
        # A deletion on a compacted topic (a unit removed from the tree) is not a bad message;
        # consumers keep their copy, which still names the unit on the cases it once had.
        EVENTS_CONSUMED.labels(service, spec.name, "tombstone").inc()
        return True
    try:
        event = decode_message(raw, key, spec, data_model)
        # Logs name the case and trace; events built by the handler continue the trace.
        with bind(f"{service} {spec.name}", traceparent=event.traceparent, case_id=event.subject):
            await handler(event)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the stream
        reason = str(exc) if isinstance(exc, EventDecodeError) else f"{type(exc).__name__}: {exc}"
        log.warning(
            "dead-lettering message",
            extra={"topic": spec.name, "consumer": service, "reason": reason[:500]},
        )
        fut = await dead_letters.send(
            key=key,
            value=raw or b"",
            headers=[
                ("x-error", reason[:1000].encode()),
                ("x-source-topic", spec.name.encode()),
                ("x-consumer", service.encode()),
            ],
        )
        await fut
        EVENTS_CONSUMED.labels(service, spec.name, "dead_lettered").inc()
        return False
    EVENTS_CONSUMED.labels(service, spec.name, "processed").inc()
    return True
