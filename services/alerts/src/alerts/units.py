"""The organisation tree, read from the compacted units topic: who is whose superior (督办)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from xinfang_common.cloudevents import EventDecodeError, decode_message
from xinfang_common.events import UnitChanged
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import ALERTS, UNIT_CHANGED

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


DeadLetter = Callable[[Any, str], Awaitable[object]]
"""Sends one raw message, with the reason, to alerts' dead-letter topic of the units topic."""


async def apply_unit_message(
    directory: UnitDirectory, message: Any, *, live: bool, dead_letter: DeadLetter | None
) -> bool:
    """Apply one message of the units topic; False when it could not be read.

    Every instance reads the whole compacted topic at each start, so an unreadable message is
    dead-lettered only when it arrives live (after the tree is loaded): read again at a restart,
    it was reported when it first came, and is only logged.
    """
    if message.value is None:
        directory.units.pop((message.key or b"").decode(), None)
        return True
    try:
        directory.apply(decode_message(message.value, message.key, UNIT_CHANGED, UnitChanged).data)
    except EventDecodeError as exc:
        reason = str(exc)
        if live and dead_letter is not None:
            await dead_letter(message, reason)
        else:
            log.warning("unreadable unit event skipped", extra={"reason": reason[:300]})
        return False
    return True


async def dead_letter_unit(stream: Any, message: Any, reason: str) -> None:
    """Send an unreadable units message to alerts' dead-letter topic of the units topic."""
    log.warning("dead-lettering message", extra={"topic": UNIT_CHANGED.name, "reason": reason[:500]})
    fut = await stream.dead_letters[UNIT_CHANGED.name].send(
        key=message.key,
        value=message.value or b"",
        headers=[
            ("x-error", reason[:1000].encode()),
            ("x-source-topic", UNIT_CHANGED.name.encode()),
            ("x-consumer", ALERTS.encode()),
        ],
    )
    await fut


async def follow_units(
    directory: UnitDirectory, kafka: KafkaSettings, *, client_id: str, dead_letter: DeadLetter | None = None
) -> None:
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
                    live = directory.loaded.is_set()
                    await apply_unit_message(directory, message, live=live, dead_letter=dead_letter)
            if not directory.loaded.is_set():
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if all(positions[tp] >= ends[tp] for tp in partitions):
                    directory.loaded.set()
                    log.info("organisation tree loaded", extra={"units": len(directory.units)})
    finally:
        with suppress(Exception):
            await consumer.stop()
