"""The stream side of alerts: agents (case facts in, alerts recorded) and the scanner timer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import faust

from alerts import metrics
from alerts.app import AlertsStream
from alerts.notify.service import DeadlineMirror
from alerts.tables import TableStore, partition_of
from alerts.tracker import Tracker, fact_of
from alerts.units import UnitDirectory
from xinfang_common.calendar import CalendarError, load_calendar
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.keyed import consume_by_key
from xinfang_common.streams import handle_or_dead_letter
from xinfang_common.topics import ALERTS, CASE_ASSIGNED

log = logging.getLogger(__name__)


class MessageKeyMismatch(ValueError):
    """The message is not keyed by its case id, so it would land in the wrong table partition."""


class CaseHandler:
    """What ``track_cases`` does with one raw message from any input topic."""

    def __init__(self, stream: AlertsStream, tracker: Tracker) -> None:
        self._stream = stream
        self._tracker = tracker

    async def handle(self, topic: str, raw: bytes | None, key: bytes | None) -> int:
        """Apply the message's fact; a message that cannot be read goes to its dead-letter topic."""
        spec = self._stream.spec_of(topic)
        changes: list[int] = []

        async def apply(event: CloudEvent[Any]) -> None:
            case_id = event.data.case_id
            if key != case_id.encode():
                raise MessageKeyMismatch(f"message key {key!r} is not the case id {case_id!r}")
            changes.append(await self._tracker.apply(case_id, fact_of(spec, event)))

        await handle_or_dead_letter(
            service=ALERTS,
            spec=spec,
            raw=raw,
            key=key,
            dead_letters=self._stream.dead_letters[spec.name],
            handler=apply,
            data_model=spec.schema,
        )
        return changes[0] if changes else 0


REINDEX_CHUNK = 2000
"""Cases indexed (and copied to the mirror) between two yields to the event loop."""


class Scanner:
    """Every few seconds: reload the override calendar if it changed, raise the alerts due.

    The cases to visit come from the tracker's schedule. It is rebuilt from the table after each
    recovery (start or rebalance: ``on_recovered``) and after a calendar reload, before anything
    is raised; alerts that fell due meanwhile are found then. The digest mirror gets every owned
    case at a rebuild and afterwards the cases whose deadlines changed.
    """

    def __init__(
        self,
        stream: AlertsStream,
        tracker: Tracker,
        units: UnitDirectory,
        *,
        calendar_path: Path | None,
        calendar_reload_seconds: float,
        owns: Callable[[str], bool] | None = None,
        mirror: DeadlineMirror | None = None,
        owned_keys: Callable[[], list[str]] | None = None,
    ) -> None:
        self._stream = stream
        self._mirror = mirror
        self._tracker = tracker
        self._units = units
        self._calendar_path = calendar_path
        self._reload_every = calendar_reload_seconds
        self._calendar_stamp = self._stamp()
        self._last_reload_check = 0.0
        self._owns = owns or self._owns_partition
        self._owned_keys = owned_keys or self._keys_of_owned_partitions
        self._generation = 1
        """Bumped by whatever makes the schedule stale; the schedule is of ``_indexed``."""
        self._indexed = 0

    def _stamp(self) -> tuple[float, int] | None:
        if self._calendar_path is None:
            return None
        try:
            stat = self._calendar_path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def _owned_partitions(self) -> set[int]:
        # With several instances each holds standby copies of others' partitions: only the
        # active owner of a case may raise its alerts.
        actives = self._stream.app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic == CASE_ASSIGNED.name}

    def _owns_partition(self, case_id: str) -> bool:
        return partition_of(case_id) in self._owned_partitions()

    def _keys_of_owned_partitions(self) -> list[str]:
        return TableStore(self._stream.cases).keys_in(self._owned_partitions())

    async def on_recovered(self) -> None:
        """The table was recovered after a start or rebalance: what this instance owns changed."""
        self._generation += 1

    async def reindex(self) -> int:
        """Index every owned case again and copy it to the mirror; how many (0 if interrupted by
        another recovery, which starts it again at the next round)."""
        generation = self._generation
        started = time.monotonic()
        self._tracker.schedule.clear()
        self._tracker.take_unmirrored()  # the copy below includes them
        keys = self._owned_keys()
        for start in range(0, len(keys), REINDEX_CHUNK):
            states = self._tracker.reindex(keys[start : start + REINDEX_CHUNK])
            if self._mirror is not None:
                await self._mirror.sync(states, complete=False)
            await asyncio.sleep(0)
            if generation != self._generation:
                return 0
        if self._mirror is not None:
            self._mirror.copied.set()
        self._indexed = generation
        seconds = time.monotonic() - started
        metrics.SCHEDULE_REBUILD_SECONDS.set(seconds)
        log.info("alert schedule rebuilt", extra={"cases": len(keys), "seconds": round(seconds, 1)})
        return len(keys)

    async def reload_calendar_if_changed(self) -> int:
        """Load the override file again if it changed; recompute provisional deadlines. How many changed."""
        stamp = self._stamp()
        if stamp == self._calendar_stamp:
            return 0
        self._calendar_stamp = stamp
        try:
            calendar = await asyncio.to_thread(load_calendar, self._calendar_path)
        except CalendarError as exc:
            log.error("holiday override file not reloaded: %s", exc)
            return 0
        self._tracker.calendar = calendar
        self._generation += 1  # tier instants count working days on the calendar
        metrics.note_covered(calendar.years)
        log.info("holiday calendar reloaded", extra={"years": sorted(calendar.years)[-3:]})
        return await self.recompute_provisional()

    async def recompute_provisional(self) -> int:
        """Derive again every case with a running provisional deadline; announce what changed."""
        changed = 0
        for state in list(self._tracker.states()):
            if any(d.provisional and not d.stopped for d in state.deadlines.values()) and self._owns(
                state.case_id
            ):
                changed += await self._tracker.recompute(state.case_id)
        return changed

    async def scan(self) -> int:
        """One round; how many alerts went out."""
        if not self._stream.is_ready() or not self._units.loaded.is_set():
            return 0
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_reload_check >= self._reload_every:
            self._last_reload_check = loop.time()
            await self.reload_calendar_if_changed()
        if self._indexed != self._generation and not await self.reindex():
            return 0
        with metrics.SCAN_SECONDS.time():
            return await self._raise_due()

    async def _raise_due(self) -> int:
        schedule = self._tracker.schedule
        raised = 0
        for case_id in schedule.due(self._tracker.clock()):
            if self._owns(case_id):
                raised += await self._tracker.raise_alerts(case_id)
            else:
                schedule.forget(case_id)
        # Each case is noted again at each tier instant it passes, so the counts stay current.
        metrics.set_open_deadlines(schedule.counts())
        metrics.SCHEDULED_CASES.set(len(schedule))
        if self._mirror is not None:
            # The digests read every instance's share of the deadlines from the database.
            changed = self._tracker.take_unmirrored()
            await self._mirror.sync(
                (s for s in map(self._tracker.read, changed) if s is not None and self._owns(s.case_id)),
                complete=False,
            )
        return raised


def install_agents(
    stream: AlertsStream,
    handler: CaseHandler,
    scanner: Scanner,
    *,
    scan_interval: float,
    in_flight: int = 1,
) -> dict[str, Any]:
    """Declare the agents and the timer on the stream's faust app.

    ``in_flight`` above 1 lets the agent work on that many cases at once (see ``consume_by_key``).
    """

    stream.cases.on_recover(scanner.on_recovered)

    @stream.app.agent(stream.inputs, name="track_cases")
    async def track_cases(messages: faust.StreamT[bytes]) -> AsyncIterator[object]:
        """Every case fact (re)derives the case's deadlines and announces the changes."""
        async for result in consume_by_key(
            messages, lambda e: handler.handle(e.message.topic, e.value, e.key), in_flight=in_flight
        ):
            yield result

    @stream.app.timer(interval=scan_interval, name="raise_alerts")  # type: ignore[untyped-decorator]
    async def raise_alerts() -> None:
        """Raise the alerts that fell due, exactly once each (see ``Tracker.raise_alerts``)."""
        try:
            await scanner.scan()
        except Exception:
            log.exception("alert scan failed")

    return {"track_cases": track_cases, "raise_alerts": raise_alerts}
