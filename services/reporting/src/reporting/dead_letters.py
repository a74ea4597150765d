"""How many messages each dead-letter topic of the suite holds, for the DLQ alert.

Every consumer of every topic has its own dead-letter topic (``<topic>.<consumer>.dlq``). A
message there is a case that stopped moving. Reporting measures them all (end offset minus log
start offset, summed over partitions) and exports ``xinfang_reporting_dead_letter_messages``;
the count falls back to 0 once the messages are deleted after a replay (kafka-delete-records)
or expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from reporting.metrics import DEAD_LETTERS
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import TOPICS

log = logging.getLogger(__name__)


def dead_letter_topics() -> list[str]:
    """Every dead-letter topic of the suite."""
    return [spec.dlq(consumer) for spec in TOPICS for consumer in spec.consumers]


def measure(consumer: Any, topics: list[str]) -> dict[str, int]:
    """Messages held per topic (topics the broker does not know are left out)."""
    partitions: list[TopicPartition] = []
    for topic in topics:
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            partitions.append(TopicPartition(topic, partition))
    if not partitions:
        return {}
    starts = consumer.beginning_offsets(partitions)
    ends = consumer.end_offsets(partitions)
    held: dict[str, int] = {}
    for tp in partitions:
        held[tp.topic] = held.get(tp.topic, 0) + max(0, ends[tp] - starts[tp])
    return held


class DeadLetterWatch:
    """Measures the dead-letter topics every ``interval`` seconds while the service runs."""

    def __init__(
        self, kafka: KafkaSettings, *, interval: float, consumer_factory: Callable[[], Any] | None = None
    ) -> None:
        self._kafka = kafka
        self._interval = interval
        self._factory = consumer_factory or self._make_consumer
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    def _make_consumer(self) -> Any:
        return KafkaConsumer(
            bootstrap_servers=self._kafka.servers,
            client_id=f"{self._kafka.client_id_prefix}-reporting-dlq-watch",
            enable_auto_commit=False,
            request_timeout_ms=self._kafka.request_timeout_ms,
        )

    def measure_once(self) -> dict[str, int]:
        """Measure now and set the gauge (blocking)."""
        if self._consumer is None:
            self._consumer = self._factory()
        held = measure(self._consumer, dead_letter_topics())
        for topic, n in held.items():
            DEAD_LETTERS.labels(topic).set(n)
        return held

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.measure_once)
            except Exception:
                log.warning("could not measure the dead-letter topics", exc_info=True)
                await asyncio.to_thread(self._close)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        """Start measuring in the running event loop."""
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="dead-letter-watch")

    def _close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                consumer.close()
            except Exception:
                log.debug("closing the dead-letter consumer failed", exc_info=True)

    async def stop(self) -> None:
        """Stop measuring and close the Kafka client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._close)
