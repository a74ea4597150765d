"""The organisation tree, read from the compacted units topic: who is whose superior (督办)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from xinfang_common.cloudevents import EventDecodeError, decode_event
from xinfang_common.events import UnitChanged
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import UNIT_CHANGED

log = logging.getLogger(__name__)


class UnitDirectory:
    """Unit code -> the unit as last published; every instance reads the whole topic."""

    def __init__(self) -> None:
        self.units: dict[str, UnitChanged] = {}
        self.loaded = asyncio.Event()

    def apply(self, unit: UnitChanged) -> None:
        """Keep the newer of two versions of a unit."""
        current = self.units.get(unit.code)
        if current is None or unit.changed_at >= current.changed_at:
            self.units[unit.code] = unit

    def superior_of(self, code: str) -> str | None:
        """The parent unit of ``code`` (following a successor if the unit was merged away)."""
        unit = self.units.get(code)
        if unit is not None and not unit.active and unit.successor:
            unit = self.units.get(unit.successor, unit)
        return unit.parent if unit is not None else None

    def subtree(self, code: str) -> set[str]:
        """``code`` and every unit below it."""
        children: dict[str, list[str]] = {}
        for unit in self.units.values():
            if unit.parent:
                children.setdefault(unit.parent, []).append(unit.code)
        found, todo = {code}, [code]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found


async def follow_units(directory: UnitDirectory, kafka: KafkaSettings, *, client_id: str) -> None:
    """Read the units topic from its start for ever; set ``directory.loaded`` once caught up."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.servers,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=kafka.request_timeout_ms,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(UNIT_CHANGED.name, p) for p in range(UNIT_CHANGED.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    if message.value is None:
                        directory.units.pop((message.key or b"").decode(), None)
                        continue
                    try:
                        directory.apply(
                            decode_event(message.value, UnitChanged, UNIT_CHANGED.event_type).data
                        )
                    except EventDecodeError as exc:
                        log.warning("unreadable unit event skipped", extra={"reason": str(exc)[:300]})
            if not directory.loaded.is_set():
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if all(positions[tp] >= ends[tp] for tp in partitions):
                    directory.loaded.set()
                    log.info("organisation tree loaded", extra={"units": len(directory.units)})
    finally:
        with suppress(Exception):
            await consumer.stop()
