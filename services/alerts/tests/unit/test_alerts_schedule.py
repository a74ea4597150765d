"""The scanner visits only the cases whose next alert instant has passed: no broker."""

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.agents import Scanner
from alerts.deadlines import TierRule, tier_of
from alerts.notify.models import Base, OpenDeadline
from alerts.notify.service import DeadlineMirror
from alerts.testing import NATIONAL, SPECS, case_event, new_case_id
from alerts.tracker import Tracker, fact_of
from xinfang_common.calendar import load_calendar
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.db import make_engine
from xinfang_common.domain import AlertTier, DeadlineKind
from xinfang_common.periods import SHANGHAI

CALENDAR = load_calendar()
RULE = TierRule(3, 5)


@pytest.fixture
def engine(tmp_path):
    made = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    Base.metadata.create_all(made)
    yield made
    made.dispose()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class CountingStore(dict[str, bytes]):
    """The case table, counting how many cases were read."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


class Instance:
    """One alerts process over a table that outlives it: tracker, scanner, clock, what it published."""

    def __init__(
        self, store: CountingStore, now: datetime, *, grace: float = 0.0, mirror: Any = None
    ) -> None:
        self.store = store
        self.now = now
        self.alerts: list[Any] = []
        self.tracker = Tracker(
            store=store,
            scheduled_topic="deadlines",
            alerts_topic="alerts",
            policy=NATIONAL,
            calendar=CALENDAR,
            tz=SHANGHAI,
            intake_unit="430104-xfj",
            rule=RULE,
            superior_of=lambda unit: None,
            publisher=self.publish,
            clock=lambda: self.now,
            registration_grace_seconds=grace,
        )
        ready = asyncio.Event()
        ready.set()
        self.scanner = Scanner(
            stream=SimpleNamespace(is_ready=lambda: True),  # type: ignore[arg-type]
            tracker=self.tracker,
            units=SimpleNamespace(loaded=ready),  # type: ignore[arg-type]
            calendar_path=None,
            calendar_reload_seconds=60,
            owns=lambda case_id: True,
            owned_keys=lambda: list(store),
            mirror=mirror,
        )

    async def publish(self, topic: str, event: CloudEvent[Any]) -> None:
        if topic == "alerts":
            self.alerts.append(event.data)

    def feed(self, case_id: str, *events: CloudEvent[Any]) -> None:
        async def run() -> None:
            for event in events:
                spec = next(s for s, _ in SPECS.values() if s.event_type == event.type)
                await self.tracker.apply(case_id, fact_of(spec, event))

        asyncio.run(run())

    def scan(self, at: datetime) -> list[tuple[str, AlertTier]]:
        self.now = at
        before = len(self.alerts)
        asyncio.run(self.scanner.scan())
        return [(a.case_id, a.tier) for a in self.alerts[before:]]


def open_acceptance(instance: Instance, case_id: str, day: str = "2026-02-12") -> None:
    """Registered and assigned on ``day``: the acceptance deadline of 2026-02-12 ends on 27 Feb."""
    instance.feed(
        case_id,
        case_event("registered", case_id, local(f"{day}T09:00")),
        case_event("assigned", case_id, local(f"{day}T10:00")),
    )


def test_a_round_with_nothing_due_reads_no_case_and_each_tier_goes_out_once_when_it_falls():
    store = CountingStore()
    alerts = Instance(store, local("2026-02-12T11:00"))
    cases = [new_case_id() for _ in range(50)]
    for case_id in cases:
        open_acceptance(alerts, case_id)
    assert alerts.scan(local("2026-02-12T12:00")) == []  # the first round indexes the table
    # Cases are visited when a tier of any running deadline passes (for the gauge), else never.
    assert alerts.scan(local("2026-02-23T23:58")) == []
    store.reads = 0
    assert alerts.scan(local("2026-02-23T23:59")) == []
    assert store.reads == 0

    approaching = alerts.scan(local("2026-02-24T00:01"))
    assert sorted(approaching) == sorted((c, AlertTier.APPROACHING) for c in cases)
    store.reads = 0
    assert alerts.scan(local("2026-02-24T00:02")) == []
    assert store.reads == 0
    assert [t for _, t in alerts.scan(local("2026-02-27T00:01"))] == [AlertTier.DUE] * len(cases)


def test_alerts_that_fell_due_while_down_go_out_once_after_the_restart_rebuilds_the_index():
    store = CountingStore()
    before = Instance(store, local("2026-02-12T11:00"))
    case_id = new_case_id()
    open_acceptance(before, case_id)
    assert before.scan(local("2026-02-20T00:00")) == []

    after = Instance(store, local("2026-03-10T00:00"))  # down from 20 Feb to 10 March
    raised = after.scan(local("2026-03-10T00:00"))
    assert raised == [
        (case_id, AlertTier.APPROACHING),
        (case_id, AlertTier.DUE),
        (case_id, AlertTier.OVERDUE),
        (case_id, AlertTier.ESCALATED),
    ]
    assert Instance(store, local("2026-03-11T00:00")).scan(local("2026-03-11T00:00")) == []


def test_a_changed_case_is_indexed_again_and_a_stopped_deadline_leaves_the_index():
    store = CountingStore()
    alerts = Instance(store, local("2026-02-12T11:00"))
    case_id = new_case_id()
    open_acceptance(alerts, case_id)
    alerts.scan(local("2026-02-12T12:00"))
    # Reassigned on 20 Feb: the acceptance deadline restarts and its tiers move with it.
    alerts.feed(case_id, case_event("assigned", case_id, local("2026-02-20T10:00"), unit_code="430104-mzj"))
    assert alerts.scan(local("2026-02-25T00:00")) == []
    assert alerts.tracker.schedule.wake_of(case_id) is not None

    alerts.feed(case_id, case_event("declined", case_id, local("2026-02-26T10:00")))
    assert alerts.tracker.schedule.wake_of(case_id) is None
    assert alerts.scan(local("2026-04-01T00:00")) == []


def test_a_case_waiting_for_its_registration_is_visited_until_the_grace_has_passed():
    store = CountingStore()
    alerts = Instance(store, local("2026-02-12T11:00"), grace=3600)
    case_id = new_case_id()
    alerts.feed(case_id, case_event("assigned", case_id, local("2026-02-12T10:00")))
    assert alerts.scan(local("2026-02-24T00:01")) == []  # first seen just now: waits
    assert case_id in alerts.tracker.schedule.due(local("2026-02-24T00:02"))

    alerts.tracker.registration_grace_seconds = 0
    assert alerts.scan(local("2026-02-24T00:03")) == [(case_id, AlertTier.APPROACHING)]


def walked_gauges(instance: Instance) -> dict[tuple[str, str], int]:
    """The open-deadline counts from every case (what the scanner computed each round before)."""

    def states() -> Iterator[Any]:
        return (instance.tracker.read(key) for key in list(instance.store))

    counts: dict[tuple[str, str], int] = {}
    for state in states():
        for deadline in state.deadlines.values():
            if not deadline.stopped:
                key = (deadline.kind.value, tier_of(deadline, instance.now, RULE, CALENDAR, SHANGHAI))
                counts[key] = counts.get(key, 0) + 1
    return counts


def test_open_deadline_counts_follow_the_tiers_without_walking_the_cases():
    store = CountingStore()
    alerts = Instance(store, local("2026-02-02T11:00"))
    for day in ("2026-02-02", "2026-02-12", "2026-03-02"):
        open_acceptance(alerts, new_case_id(), day)
    imported = new_case_id()
    alerts.feed(
        imported,
        case_event("registered", imported, local("2026-02-02T09:00"), imported=True),
        case_event("assigned", imported, local("2026-02-02T10:00")),
    )
    moment = local("2026-02-02T12:00")
    while moment < local("2026-04-15T00:00"):
        alerts.scan(moment)
        assert alerts.tracker.schedule.counts() == walked_gauges(alerts), moment
        moment += timedelta(hours=13)
    assert (DeadlineKind.ACCEPTANCE.value, "escalated") in alerts.tracker.schedule.counts()


def test_the_digest_mirror_gets_every_case_after_a_restart_and_then_only_changed_ones(engine):
    store = CountingStore()
    mirror = DeadlineMirror(engine)
    alerts = Instance(store, local("2026-02-12T11:00"), mirror=mirror)
    cases = [new_case_id() for _ in range(3)]
    for case_id in cases:
        open_acceptance(alerts, case_id)
    alerts.scan(local("2026-02-12T12:00"))
    assert mirror.copied.is_set()

    alerts.feed(cases[0], case_event("accepted", cases[0], local("2026-02-13T10:00")))
    store.reads = 0
    alerts.scan(local("2026-02-13T11:00"))
    assert store.reads == 1  # the accepted case, nothing else

    with Session(engine) as session:
        rows = {(r.case_id, r.kind): r for r in session.scalars(select(OpenDeadline))}
    assert rows[(cases[0], "acceptance")].stopped
    assert rows[(cases[0], "completion")].version == 1
    assert not rows[(cases[1], "acceptance")].stopped
    assert len({case for case, _ in rows}) == 3
