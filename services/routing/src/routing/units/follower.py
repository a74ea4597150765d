"""Reads the compacted units topic from the start, then follows it, in every routing process.

Not part of the faust consumer group: a group would give each replica only some partitions,
and every replica needs every unit.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from routing.org_tree import Unit
from routing.units.registry import UnitRegistry
from xinfang_common.cloudevents import EventDecodeError, decode_event
from xinfang_common.events import UnitChanged
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import UNIT_CHANGED

log = logging.getLogger(__name__)


class UnitFollower:
    """Applies every UnitChanged on the topic to a registry; ``caught_up`` once the backlog is read."""

    def __init__(
        self, kafka: KafkaSettings, registry: UnitRegistry, *, topic: str = UNIT_CHANGED.name
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._registry = registry
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect and read the topic up to its current end (the tree as it is now)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{self._kafka.client_id_prefix}-routing-units",
            request_timeout_ms=self._kafka.request_timeout_ms,
        )
        await consumer.start()
        self._consumer = consumer
        partitions = [TopicPartition(self._topic, p) for p in range(UNIT_CHANGED.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        while not await self._reached(consumer, end):
            await self._poll(consumer)
        self.caught_up.set()
        log.info("units topic read", extra={"units": self._registry.seen_on_topic})

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
        for partition, offset in end.items():
            if await consumer.position(partition) < offset:
                return False
        return True

    async def follow(self) -> None:
        """Apply new messages until cancelled."""
        assert self._consumer is not None
        while True:
            try:
                await self._poll(self._consumer)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: the next poll may succeed
                log.exception("reading the units topic failed")
                await asyncio.sleep(1)

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        batches = await consumer.getmany(timeout_ms=500)
        for messages in batches.values():
            for message in messages:
                self._apply(message.key, message.value)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        code = key.decode() if key else None
        if value is None:
            if code:
                self._registry.apply(code, None)
            return
        try:
            event = decode_event(value, UnitChanged, UNIT_CHANGED.event_type)
            unit = Unit.of_event(event.data)
        except (EventDecodeError, ValueError) as exc:
            log.warning(
                "skipping a bad message on the units topic", extra={"key": code, "reason": str(exc)[:300]}
            )
            return
        self._registry.apply(unit.code, unit)

    async def stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
