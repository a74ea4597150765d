"""The stream side of alerts: agents (case facts in, alerts recorded) and the scanner timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import faust

from alerts import metrics
from alerts.app import AlertsStream
from alerts.notify.service import DeadlineMirror
from alerts.tables import partition_of
from alerts.tracker import Tracker, fact_of
from alerts.units import UnitDirectory
from xinfang_common.calendar import CalendarError, load_calendar
from xinfang_common.cloudevents import CloudEvent
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


class Scanner:
    """Every few seconds: reload the override calendar if it changed, raise the alerts due."""

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

    def _stamp(self) -> tuple[float, int] | None:
        if self._calendar_path is None:
            return None
        try:
            stat = self._calendar_path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def _owns_partition(self, case_id: str) -> bool:
        # With several instances each holds standby copies of others' partitions: only the
        # active owner of a case may raise its alerts.
        actives = self._stream.app.assignor.assigned_actives()
        return any(tp.partition == partition_of(case_id) for tp in actives if tp.topic == CASE_ASSIGNED.name)

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
        raised = 0
        for state in list(self._tracker.states()):
            if self._owns(state.case_id):
                raised += await self._tracker.raise_alerts(state.case_id)
        metrics.set_open_deadlines(self._tracker.open_gauges())
        if self._mirror is not None:
            # The digests read every instance's share of the deadlines from the database.
            await self._mirror.sync(s for s in self._tracker.states() if self._owns(s.case_id))
        return raised


def install_agents(
    stream: AlertsStream,
    handler: CaseHandler,
    scanner: Scanner,
    *,
    scan_interval: float,
) -> dict[str, Any]:
    """Declare the agents and the timer on the stream's faust app."""

    @stream.app.agent(stream.inputs, name="track_cases")
    async def track_cases(messages: faust.StreamT[bytes]) -> AsyncIterator[int]:
        """Every case fact (re)derives the case's deadlines and announces the changes."""
        async for message in messages.events():
            yield await handler.handle(message.message.topic, message.value, message.key)

    @stream.app.timer(interval=scan_interval, name="raise_alerts")  # type: ignore[untyped-decorator]
    async def raise_alerts() -> None:
        """Raise the alerts that fell due, exactly once each (see ``Tracker.raise_alerts``)."""
        try:
            await scanner.scan()
        except Exception:
            log.exception("alert scan failed")

    return {"track_cases": track_cases, "raise_alerts": raise_alerts}
