"""Transactional outbox: events are stored with the data they describe, then relayed to Kafka."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Index, Integer, LargeBinary, String, Table, Text, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from intake import metrics
from intake.db import Base
from xinfang_common.cloudevents import CloudEvent, utcnow
from xinfang_common.settings import KafkaSettings

log = logging.getLogger(__name__)


class OutboxMessage(Base):
    """An event waiting to be published (``published_at`` is null) or already published."""

    __tablename__ = "outbox_messages"

    # The autoincrement id is the publishing order.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(Text, doc="JSON list of [name, latin-1 value] pairs")
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_messages_pending", "published_at", "id"),)


_OUTBOX = cast(Table, OutboxMessage.__table__)


def enqueue(session: Session, *, topic: str, event: CloudEvent[Any]) -> None:
    """Add ``event`` to the outbox in the caller's transaction, keyed by its case id.

    Inserted at once rather than at the next flush: rows are published in id order, so the
    order of the calls is the order of publication.
    """
    key = event.partitionkey or event.subject or event.id
    headers = [[name, value.decode("latin-1")] for name, value in event.kafka_headers()]
    session.execute(
        insert(_OUTBOX),
        {
            "event_id": event.id,
            "topic": topic,
            "key": key,
            "payload": event.to_json_bytes(),
            "headers": json.dumps(headers),
            "created_at": utcnow(),
            "attempts": 0,
        },
    )


def count_pending(session: Session) -> int:
    """How many events wait to be published."""
    return (
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
        or 0
    )


@dataclass(frozen=True)
class _Pending:
    id: int
    topic: str
    key: bytes
    payload: bytes
    headers: list[tuple[str, bytes]]


ProducerFactory = Callable[[], KafkaProducer]


def kafka_producer_factory(
    kafka: KafkaSettings, *, client_id: str, connect_timeout_seconds: float
) -> ProducerFactory:
    """A factory of idempotent producers that wait for every in-sync replica (acks=all)."""

    def make() -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=kafka.servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # Bounded so that a dead broker surfaces as an error the relay can retry.
            bootstrap_timeout_ms=int(connect_timeout_seconds * 1000),
            max_block_ms=int(connect_timeout_seconds * 1000),
            request_timeout_ms=kafka.request_timeout_ms,
            delivery_timeout_ms=kafka.request_timeout_ms + 5000,
            linger_ms=5,
        )

    return make


class OutboxRelay:
    """A thread that publishes pending outbox rows in order and marks them once acknowledged.

    At least once: a crash between the broker's ack and the mark re-sends the same event id,
    which consumers drop as a duplicate.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        producer_factory: ProducerFactory,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
        retry_max_seconds: float = 30.0,
        ack_timeout_seconds: float = 35.0,
        flush_seconds: float = 10.0,
    ) -> None:
        self._session_factory = session_factory
        self._producer_factory = producer_factory
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._retry_max_seconds = retry_max_seconds
        self._ack_timeout_seconds = ack_timeout_seconds
        self._flush_seconds = flush_seconds
        self._producer: KafkaProducer | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._kafka_ok = False

    @property
    def kafka_ok(self) -> bool:
        """Whether the last attempt to reach Kafka succeeded."""
        return self._kafka_ok

    def start(self) -> None:
        """Start the relay thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="intake-outbox-relay", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Wake the relay: a new event was committed."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Publish every pending event (for at most ``flush_seconds``), then stop and close the producer.

        Bounded twice: the flush stops starting new rounds at its deadline, and a round still
        waiting for acks ``timeout`` seconds after the call (default: the flush time and one
        second) has its sends aborted; those rows stay pending for the next start or another
        replica.
        """
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join(self._flush_seconds + 1.0 if timeout is None else timeout)
        if thread.is_alive():
            # Still waiting for a broker that does not answer: abort the in-flight sends (their
            # rows stay pending and are sent after the next start).
            producer = self._producer
            if producer is not None:
                producer.close(timeout=0)
            thread.join(5)
        if thread.is_alive():
            log.warning("outbox relay did not stop in time; pending events stay in the outbox")

    def _run(self) -> None:
        backoff = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    published = self._round()
                    backoff = 0.0
                except (KafkaError, SQLAlchemyError, OSError) as exc:
                    if not isinstance(exc, SQLAlchemyError):
                        self._kafka_ok = False
                    metrics.OUTBOX_PUBLISH_FAILURES.inc()
                    backoff = min(max(backoff * 2, 0.5), self._retry_max_seconds)
                    log.warning(
                        "outbox relay round failed; retrying",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:500], "retry_in_s": backoff},
                    )
                    self._close_producer()
                    self._stopping.wait(backoff)
                    continue
                if published >= self._batch_size:
                    continue  # more may be waiting: no pause
                self._wake.wait(self._poll_seconds)
                self._wake.clear()
            if backoff == 0.0:
                self._flush()
        except (KafkaError, SQLAlchemyError, OSError):
            log.warning("outbox relay stopped with events still pending", exc_info=True)
        except Exception:
            log.exception("outbox relay crashed")
            raise
        finally:
            self._kafka_ok = False
            self._close_producer()

    def _flush(self) -> None:
        """Publish the whole outbox before stopping, so a clean shutdown leaves nothing behind.

        Rounds go on while they come back full; a broker that only just keeps up cannot hold
        the process past ``flush_seconds`` (plus the round in hand).
        """
        deadline = time.monotonic() + self._flush_seconds
        published = total = self._round()
        while published >= self._batch_size and time.monotonic() < deadline:
            published = self._round()
            total += published
        log.info("outbox relay stopped", extra={"published_on_stop": total})

    def _round(self) -> int:
        """Publish one batch of pending events; returns how many were published."""
        with self._session_factory() as session:
            metrics.OUTBOX_PENDING.set(count_pending(session))
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(self._batch_size)
            ).all()
            batch = [
                _Pending(
                    id=row.id,
                    topic=row.topic,
                    key=row.key.encode(),
                    payload=row.payload,
                    headers=[(name, value.encode("latin-1")) for name, value in json.loads(row.headers)],
                )
                for row in rows
            ]
        producer = self._ensure_producer()
        if not batch:
            return 0
        acked, error = self._send(producer, batch)
        with self._session_factory.begin() as session:
            if acked:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(acked))
                    .values(published_at=utcnow(), last_error=None)
                )
            if error is not None:
                failed_id = batch[len(acked)].id
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == failed_id)
                    .values(attempts=OutboxMessage.attempts + 1, last_error=str(error)[:1000])
                )
        metrics.OUTBOX_PUBLISHED.inc(len(acked))
        metrics.OUTBOX_PENDING.dec(len(acked))
        if error is not None:
            raise error
        return len(acked)

    def _send(self, producer: KafkaProducer, batch: list[_Pending]) -> tuple[list[int], KafkaError | None]:
        """Send the batch, then collect acks in order; stop at the first failure.

        Only the prefix before a failure is marked, so that a case's events are never marked
        out of order; anything sent after it is re-sent later and dropped by consumers.
        """
        futures = [
            producer.send(item.topic, key=item.key, value=item.payload, headers=item.headers)
            for item in batch
        ]
        acked: list[int] = []
        for item, future in zip(batch, futures, strict=True):
            try:
                future.get(timeout=self._ack_timeout_seconds)
            except KafkaError as exc:
                self._kafka_ok = False
                return acked, exc
            acked.append(item.id)
        self._kafka_ok = True
        return acked, None

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._producer_factory()
            self._kafka_ok = True
            log.info("outbox relay connected to Kafka")
        return self._producer

    def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=5)
            except Exception:
                log.debug("error while closing the producer", exc_info=True)
