"""The consumer thread: applies CaseAssigned and DeadlineScheduled to cases, dead-letters failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from intake import metrics
from intake.access.units import apply_unit_changed
from intake.db import Base
from intake.errors import PetitionNotFound
from intake.petitions.links import apply_case_linked, apply_triage_queued
from intake.petitions.service import apply_case_assigned, apply_deadline_scheduled
from xinfang_common.cloudevents import CloudEvent, EventDecodeError, decode_message, utcnow
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import (
    CASE_ASSIGNED,
    CASE_LINKED,
    CASE_TRIAGED,
    DEADLINE_SCHEDULED,
    INTAKE,
    UNIT_CHANGED,
    TopicSpec,
)
from xinfang_common.tracing import bind

Applier = Callable[[Session, CloudEvent[Any]], None]


def _assigned(session: Session, event: CloudEvent[Any]) -> None:
    apply_case_assigned(session, event=event)


def _deadline(session: Session, event: CloudEvent[Any]) -> None:
    apply_deadline_scheduled(session, event=event)


HANDLERS: dict[str, tuple[TopicSpec, Applier]] = {
    CASE_ASSIGNED.name: (CASE_ASSIGNED, _assigned),
    DEADLINE_SCHEDULED.name: (DEADLINE_SCHEDULED, _deadline),
    UNIT_CHANGED.name: (UNIT_CHANGED, apply_unit_changed),
    CASE_LINKED.name: (CASE_LINKED, apply_case_linked),
    CASE_TRIAGED.name: (CASE_TRIAGED, apply_triage_queued),
}
"""The topics intake consumes, and how each event is applied to the case."""

log = logging.getLogger(__name__)


class ProcessedEvent(Base):
    """Ids of events already applied, so that a redelivered event is dropped."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[datetime]


class TransientFailure(Exception):
    """Processing failed for a reason that retrying may cure (database or Kafka down)."""


def already_processed(session: Session, event_id: str) -> bool:
    """Whether the event was applied before."""
    return (
        session.scalar(select(ProcessedEvent.event_id).where(ProcessedEvent.event_id == event_id)) is not None
    )


def apply_message(
    session_factory: sessionmaker[Session],
    raw: bytes | None,
    *,
    key: bytes | None,
    topic: str = CASE_ASSIGNED.name,
) -> str:
    """Apply one message (value and Kafka key) from ``topic`` in one transaction; returns "applied",
    "duplicate", or "tombstone" (a deletion on a compacted topic, ignored).

    Raises EventDecodeError (unreadable, oversized, another specversion or type version, a key
    other than the event's) or PetitionNotFound for a message that will never succeed, and
    TransientFailure when the database could not be used.
    """
    spec, apply = HANDLERS[topic]
    if raw is None and spec.compacted:
        # A removed entry of a compacted topic (a unit deleted from the tree): the copy kept
        # here still names that unit on the cases it once had, so there is nothing to undo.
        return "tombstone"
    event = decode_message(raw, key, spec)
    try:
        with session_factory.begin() as session:
            if already_processed(session, event.id):
                return "duplicate"
            session.add(ProcessedEvent(event_id=event.id, topic=spec.name, processed_at=utcnow()))
            apply(session, event)
    except IntegrityError:
        # Another replica applied it between our check and our insert (during a rebalance).
        return "duplicate"
    except OperationalError as exc:
        raise TransientFailure(f"database unavailable: {exc}") from exc
    return "applied"


ConsumerFactory = Callable[[], KafkaConsumer]
ProducerFactory = Callable[[], KafkaProducer]


def kafka_consumer_factory(
    kafka: KafkaSettings, *, group_id: str, client_id: str, connect_timeout_seconds: float
) -> ConsumerFactory:
    """A factory of consumers of intake's topics that commit offsets only by hand."""

    def make() -> KafkaConsumer:
        consumer = KafkaConsumer(
            bootstrap_servers=kafka.servers,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=int(connect_timeout_seconds * 1000),
            request_timeout_ms=kafka.request_timeout_ms,
        )
        # Load the topics' metadata before joining the group: a group leader that joins without
        # it assigns no partitions ("No partition metadata") and may never rebalance to fix it.
        consumer.topics()
        consumer.subscribe(list(HANDLERS))
        return consumer

    return make


class CaseAssignedConsumer:
    """A thread that reads CaseAssigned and DeadlineScheduled, applies each event once, commits after it."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        consumer_factory: ConsumerFactory,
        dead_letter_producer_factory: ProducerFactory,
        *,
        retry_max_seconds: float = 30.0,
        poll_timeout_ms: int = 500,
        ack_timeout_seconds: float = 35.0,
    ) -> None:
        self._session_factory = session_factory
        self._consumer_factory = consumer_factory
        self._producer_factory = dead_letter_producer_factory
        self._retry_max_seconds = retry_max_seconds
        self._poll_timeout_ms = poll_timeout_ms
        self._ack_timeout_seconds = ack_timeout_seconds
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._kafka_ok = False
        self.dead_letter_topics = {name: spec.dlq(INTAKE) for name, (spec, _) in HANDLERS.items()}

    @property
    def kafka_ok(self) -> bool:
        """Whether the consumer is connected and its last round reached Kafka."""
        return self._kafka_ok

    def start(self) -> None:
        """Start the consumer thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="intake-case-assigned", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the message in hand, commit, leave the group and stop the thread."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("intake consumer did not stop in time")

    def _run(self) -> None:
        backoff = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    self._round()
                    backoff = 0.0
                except (TransientFailure, KafkaError, SQLAlchemyError, OSError) as exc:
                    if not isinstance(exc, TransientFailure | SQLAlchemyError):
                        self._kafka_ok = False
                        self._close()
                    backoff = min(max(backoff * 2, 0.5), self._retry_max_seconds)
                    log.warning(
                        "intake consumer round failed; retrying",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:500], "retry_in_s": backoff},
                    )
                    self._stopping.wait(backoff)
        except Exception:
            log.exception("intake consumer crashed")
            raise
        finally:
            self._kafka_ok = False
            self._close()

    def _round(self) -> None:
        consumer = self._ensure_consumer()
        batches = list(consumer.poll(timeout_ms=self._poll_timeout_ms, max_records=100).items())
        for index, (tp, messages) in enumerate(batches):
            done: int | None = None
            # Dead letters of this partition's batch, acknowledged together before the commit
            # (one round trip per batch, not per message: a backlog of strays drains quickly).
            dead: list[Any] = []
            try:
                for message in messages:
                    sent = self._handle(message)
                    if sent is not None:
                        dead.append(sent)
                    done = message.offset
            except (TransientFailure, KafkaError):
                # Rewind to the first message not handled, here and in the partitions not yet
                # reached, so that the next poll after the back-off reads them again.
                consumer.seek(tp, done + 1 if done is not None else messages[0].offset)
                for later_tp, later_messages in batches[index + 1 :]:
                    consumer.seek(later_tp, later_messages[0].offset)
                self._settle(dead)
                self._commit(consumer, tp, done)
                raise
            # If an ack fails, nothing is committed: the batch is read again (at least once).
            self._settle(dead)
            self._commit(consumer, tp, done)

    def _settle(self, sent: list[Any]) -> None:
        for future in sent:
            future.get(timeout=self._ack_timeout_seconds)

    @staticmethod
    def _commit(consumer: KafkaConsumer, tp: TopicPartition, last_done: int | None) -> None:
        if last_done is not None:
            consumer.commit({tp: OffsetAndMetadata(last_done + 1, "", -1)})

    def _handle(self, message: Any) -> Any:
        """Apply one message; a message that cannot be applied is sent to the DLQ (its future returned)."""
        sent = None
        headers = dict(message.headers or ())
        traceparent = headers.get("traceparent", b"").decode("latin-1") or None
        case_id = message.key.decode(errors="replace") if message.key else None
        try:
            # Logs name the case and trace of the message (the key is the case id).
            with bind(f"intake {message.topic}", traceparent=traceparent, case_id=case_id):
                outcome = apply_message(
                    self._session_factory, message.value, key=message.key, topic=message.topic
                )
        except (EventDecodeError, PetitionNotFound) as exc:
            sent = self._dead_letter(message, str(exc))
            outcome = "dead_lettered"
        except TransientFailure:
            raise
        except Exception as exc:
            log.warning("event processing failed", exc_info=True)
            sent = self._dead_letter(message, f"{type(exc).__name__}: {exc}")
            outcome = "dead_lettered"
        metrics.EVENTS_CONSUMED.labels(outcome).inc()
        return sent

    def _dead_letter(self, message: Any, reason: str) -> Any:
        log.warning(
            "dead-lettering message",
            extra={"topic": message.topic, "offset": message.offset, "reason": reason[:500]},
        )
        producer = self._ensure_producer()
        return producer.send(
            self.dead_letter_topics[message.topic],
            key=message.key,
            value=message.value if message.value is not None else b"",
            headers=[
                ("x-error", reason[:1000].encode()),
                ("x-source-topic", message.topic.encode()),
                ("x-consumer", INTAKE.encode()),
                ("x-source-partition", str(message.partition).encode()),
                ("x-source-offset", str(message.offset).encode()),
            ],
        )

    def _ensure_consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = self._consumer_factory()
            self._kafka_ok = True
            log.info("intake consumer connected to Kafka")
        return self._consumer

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        for client in (consumer, producer):
            if client is None:
                continue
            try:
                client.close()
            except Exception:
                log.debug("error while closing a Kafka client", exc_info=True)
