"""Keeps each case's facts and deadlines in the table, announces changes and raises alerts.

The agent (several cases at once, each case's events in order) and the scanner (a timer) both
change a case's entry: they take the case's lock around read, publish and write, so that
neither overwrites what the other just wrote.
A DeadlineScheduled or AlertRaised is acknowledged by the broker before the entry records it,
so a crash in between publishes the same event id again, which consumers drop as a duplicate.
Every write also notes the case in the schedule (``alerts.schedule``), which tells the scanner
which cases to visit, and marks the case for the digest mirror when its deadlines changed.
"""

from __future__ import annotations

import logging
import time as wallclock
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from alerts import metrics
from alerts.deadlines import (
    CaseState,
    Context,
    Fact,
    FactKind,
    TierRule,
    alerts_due,
    derive,
    reconcile,
)
from alerts.policies import DeadlinePolicy
from alerts.schedule import AlertSchedule, TierClock, outlook
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.cloudevents import CloudEvent, utcnow
from xinfang_common.events import (
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseDeclined,
    CaseExtended,
    CaseObjected,
    CaseReplied,
    HearingHeld,
    PetitionRegistered,
    ReviewRequested,
)
from xinfang_common.keyed import KeyedLocks
from xinfang_common.retry import retry_until_done
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_EXTENDED,
    CASE_HEARING_HELD,
    CASE_OBJECTED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    PETITION_REGISTERED,
    TopicSpec,
)

log = logging.getLogger(__name__)

Publisher = Callable[[Any, CloudEvent[Any]], Awaitable[None]]


def fact_of(spec: TopicSpec, event: CloudEvent[Any]) -> Fact:
    """The fact an input event states."""
    data = event.data
    if isinstance(data, PetitionRegistered):
        return Fact(
            event_id=event.id, kind=FactKind.REGISTERED, at=data.registered_at, imported=data.imported
        )
    if isinstance(data, CaseAssigned):
        return Fact(
            event_id=event.id,
            kind=FactKind.ASSIGNED,
            at=data.assigned_at,
            unit_code=data.unit_code,
            stage=str(getattr(data, "stage", "handling")),
        )
    if isinstance(data, ReviewRequested):
        return Fact(
            event_id=event.id,
            kind=FactKind.REVIEW_REQUESTED,
            at=data.at,
            unit_code=data.unit_code,
            stage=data.stage.value,
        )
    kinds: dict[type[BaseModel], FactKind] = {
        CaseAccepted: FactKind.ACCEPTED,
        CaseDeclined: FactKind.DECLINED,
        CaseObjected: FactKind.OBJECTED,
        CaseExtended: FactKind.EXTENDED,
        HearingHeld: FactKind.HEARING,
        CaseReplied: FactKind.REPLIED,
        CaseClosed: FactKind.CLOSED,
    }
    kind = kinds[type(data)]
    return Fact(
        event_id=event.id,
        kind=kind,
        at=data.at,
        unit_code=data.unit_code,
        days=data.days if isinstance(data, CaseExtended | HearingHeld) else None,
        stage=data.stage.value if isinstance(data, CaseReplied | HearingHeld) else None,
        difficulty=data.difficulty if isinstance(data, CaseAccepted) else None,
        started_on=data.started_on if isinstance(data, HearingHeld) else None,
    )


INPUT_SPECS: tuple[TopicSpec, ...] = (
    PETITION_REGISTERED,
    CASE_ASSIGNED,
    CASE_ACCEPTED,
    CASE_DECLINED,
    CASE_OBJECTED,
    CASE_EXTENDED,
    CASE_HEARING_HELD,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    CASE_CLOSED,
)
"""Every topic whose events move a case's clocks."""


@dataclass
class Tracker:
    """The case table and what changes it."""

    store: MutableMapping[str, bytes]
    scheduled_topic: Any
    alerts_topic: Any
    policy: DeadlinePolicy
    calendar: HolidayCalendar
    tz: ZoneInfo
    intake_unit: str
    rule: TierRule
    superior_of: Callable[[str], str | None]
    publisher: Publisher
    clock: Callable[[], datetime] = utcnow
    registration_grace_seconds: float = 300.0
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    on_raised: Callable[[CloudEvent[Any]], Awaitable[object]] | None = None
    """Called after each alert is published and before it is marked raised (the notifier's outbox)."""
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    """One lock per case: the agent's work on different cases overlaps, one case's never."""
    calendar_generation: int = 0
    schedule: AlertSchedule = field(default_factory=AlertSchedule)
    unmirrored: set[str] = field(default_factory=set)
    """Cases whose deadlines changed since the digest mirror last took them."""
    _tiers: TierClock | None = field(default=None, init=False, repr=False)

    def context(self) -> Context:
        """What deriving needs besides the facts."""
        return Context(self.calendar, self.tz, self.intake_unit, self.superior_of)

    def read(self, case_id: str) -> CaseState | None:
        """The stored state of a case, if any (on this instance)."""
        raw = self.store.get(case_id)
        return CaseState.from_json_bytes(raw) if raw else None

    def states(self) -> Iterator[CaseState]:
        """Every case state held here."""
        for raw in list(self.store.values()):
            if raw:
                yield CaseState.from_json_bytes(raw)

    def tiers(self) -> TierClock:
        """Tier instants on the current calendar (a reloaded calendar starts a new memo)."""
        if self._tiers is None or self._tiers.calendar is not self.calendar:
            self._tiers = TierClock(self.rule, self.calendar, self.tz)
        return self._tiers

    def index(self, state: CaseState) -> None:
        """Note the case's next instant and gauge share in the schedule."""
        self.schedule.note(state.case_id, outlook(state, now=self.clock(), instants=self.tiers()))

    def reindex(self, case_ids: Iterable[str]) -> list[CaseState]:
        """Index these cases again from the table (after a recovery); their states."""
        states: list[CaseState] = []
        for case_id in case_ids:
            state = self.read(case_id)
            if state is None:
                self.schedule.forget(case_id)
            else:
                self.index(state)
                states.append(state)
        return states

    def take_unmirrored(self) -> list[str]:
        """The cases whose deadlines changed since the last call."""
        taken = list(self.unmirrored)
        self.unmirrored.clear()
        return taken

    def _save(self, state: CaseState, *, deadlines_changed: bool) -> None:
        self.store[state.case_id] = state.to_json_bytes()
        self.index(state)
        if deadlines_changed:
            self.unmirrored.add(state.case_id)

    async def _publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        await retry_until_done(
            lambda: self.publisher(topic, event),
            what=f"publishing {event.type}",
            initial_seconds=self.retry_initial_seconds,
            max_seconds=self.retry_max_seconds,
            on_retry=metrics.PUBLISH_RETRIES.inc,
            log_extra={"case_id": event.subject},
        )

    async def apply(self, case_id: str, fact: Fact) -> int:
        """Apply one fact; returns how many deadline changes were announced (0 for a duplicate)."""
        async with self.locks.hold(case_id):
            raw = self.store.get(case_id)
            state = (
                CaseState.from_json_bytes(raw)
                if raw
                else CaseState(case_id=case_id, policy=self.policy, first_seen_at=utcnow())
            )
            if raw and state.knows(fact.event_id):
                metrics.FACTS_SKIPPED.labels("duplicate").inc()
                # A redelivered fact may follow a crash between the local write of its state and
                # the changelog record (RocksDB store): write it again so that the record goes out.
                self.store[case_id] = raw
                return 0
            facts = [*state.facts, fact]
            return await self._rederive(state.model_copy(update={"facts": facts}))

    async def _rederive(self, state: CaseState) -> int:
        derived = derive(state.facts, state.policy, self.context())
        result = reconcile(state, derived, now=self.clock())
        for event in result.events:
            await self._publish(self.scheduled_topic, event)
            metrics.DEADLINES_SCHEDULED.labels(event.data.kind.value).inc()
            if event.data.provisional:
                span = range(event.data.starts_at.year, event.data.due_at.year + 1)
                metrics.note_provisional(*(y for y in span if not self.calendar.covers(y)))
            log.info(
                "deadline announced",
                extra={
                    "case_id": state.case_id,
                    "deadline_id": event.data.deadline_id,
                    "version": event.data.version,
                    "due_at": event.data.due_at.isoformat(),
                    "stopped": event.data.stopped,
                },
            )
        self._save(
            state.model_copy(update={"deadlines": result.deadlines}), deadlines_changed=bool(result.events)
        )
        return len(result.events)

    async def recompute(self, case_id: str) -> int:
        """Derive a case's deadlines again (after the calendar changed); announce what changed."""
        async with self.locks.hold(case_id):
            state = self.read(case_id)
            if state is None:
                return 0
            return await self._rederive(state)

    def _may_alert(self, state: CaseState) -> bool:
        if state.registered:
            return True
        # Without the registration we cannot tell an imported case yet: wait a little for it.
        age = wallclock.time() - state.first_seen_at.timestamp()
        return age >= self.registration_grace_seconds

    async def raise_alerts(self, case_id: str) -> int:
        """Raise every alert of the case that fell due and was not raised yet; how many."""
        async with self.locks.hold(case_id):
            state = self.read(case_id)
            if state is None:
                self.schedule.forget(case_id)
                return 0
            if not self._may_alert(state):
                self.index(state)
                return 0
            now = self.clock()
            due = alerts_due(
                state,
                now=now,
                rule=self.rule,
                calendar=self.calendar,
                tz=self.tz,
                superior_of=self.superior_of,
            )
            for event, instant in due:
                await self._publish(self.alerts_topic, event)
                if self.on_raised is not None:
                    await self.on_raised(event)
                data = event.data
                metrics.ALERTS_RAISED.labels(data.kind.value, data.tier.value).inc()
                metrics.ALERT_LAG.observe(max(0.0, (now - instant).total_seconds()))
                # Record each one as soon as it is out, so a crash re-raises as little as possible.
                state = state.model_copy(update={"sent": [*state.sent, data.alert_id]})
                self._save(state, deadlines_changed=False)
                log.info(
                    "alert raised",
                    extra={"case_id": case_id, "alert_id": data.alert_id, "target": data.target_unit_code},
                )
            if not due:
                self.index(state)
            return len(due)
