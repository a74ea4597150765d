"""Deadlines from a case's facts, their versions, and the alerts they raise: no broker."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.agents import Scanner
from alerts.deadlines import TierRule, alert_event_id
from alerts.policies import DeadlinePolicy
from alerts.testing import ENTERPRISE, NATIONAL, SPECS, UNIT, case_event, new_case_id
from alerts.tracker import Tracker, fact_of
from xinfang_common.calendar import load_calendar
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.domain import AlertTier, DeadlineKind, Difficulty
from xinfang_common.periods import SHANGHAI

K = DeadlineKind


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class Harness:
    """A tracker over a dict, a recording publisher and a settable clock."""

    def __init__(
        self,
        *,
        parents: dict[str, str] | None = None,
        grace: float = 0.0,
        policy: DeadlinePolicy = NATIONAL,
    ) -> None:
        self.store: dict[str, bytes] = {}
        self.published: list[tuple[str, CloudEvent[Any]]] = []
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.tracker = Tracker(
            store=self.store,
            scheduled_topic="deadlines",
            alerts_topic="alerts",
            policy=policy,
            calendar=load_calendar(),
            tz=SHANGHAI,
            intake_unit="430104-xfj",
            rule=TierRule(3, 5),
            superior_of=(parents or {}).get,
            publisher=self.publish,
            clock=lambda: self.now,
            registration_grace_seconds=grace,
        )

    async def publish(self, topic: str, event: CloudEvent[Any]) -> None:
        self.published.append((topic, event))

    def feed(self, case_id: str, *events: CloudEvent[Any]) -> None:
        async def run() -> None:
            for event in events:
                spec = next(s for s, _ in SPECS.values() if s.event_type == event.type)
                await self.tracker.apply(case_id, fact_of(spec, event))

        asyncio.run(run())

    def scan(self, case_id: str, at: datetime) -> list[Any]:
        self.now = at
        before = len(self.published)
        asyncio.run(self.tracker.raise_alerts(case_id))
        return [e.data for t, e in self.published[before:] if t == "alerts"]

    def deadline(self, case_id: str, kind: DeadlineKind) -> Any:
        state = self.tracker.read(case_id)
        assert state is not None
        return state.deadlines[kind]

    def announced(self, case_id: str) -> list[Any]:
        return [e.data for t, e in self.published if t == "deadlines" and e.data.case_id == case_id]


def test_an_assignment_starts_acceptance_and_objection_and_stops_forwarding():
    h = Harness()
    case = new_case_id()
    h.feed(
        case,
        case_event("registered", case, local("2026-02-02T09:00")),
        case_event("assigned", case, local("2026-02-12T10:00")),
    )

    forward = h.deadline(case, K.FORWARD)
    assert forward.stopped
    assert forward.unit_code == "430104-xfj"
    assert h.deadline(case, K.ACCEPTANCE).last_day == date(2026, 2, 27)
    objection = h.deadline(case, K.OBJECTION)
    # 5 working days: 13 Feb, the make-up Saturday 14 Feb, then 24-26 Feb after 春节.
    assert objection.last_day == date(2026, 2, 26)
    assert not objection.alerting


def test_the_full_chain_with_an_extension_and_review_and_recheck():
    h = Harness(parents={UNIT: "430104-gov", "430104-gov": "430100-gov"})
    case = new_case_id()
    h.feed(
        case,
        case_event("registered", case, local("2026-02-27T09:00")),
        case_event("assigned", case, local("2026-02-28T10:00")),
        case_event("accepted", case, local("2026-03-02T10:00")),
    )
    assert h.deadline(case, K.ACCEPTANCE).stopped
    # 60 days from 2 March end on 1 May, inside 劳动节 (1-5 May): the 6th.
    assert h.deadline(case, K.COMPLETION).due_at == local("2026-05-07T00:00")

    h.feed(case, case_event("extended", case, local("2026-04-20T10:00"), days=30))
    completion = h.deadline(case, K.COMPLETION)
    assert completion.version == 2
    assert completion.last_day == date(2026, 6, 5)  # 30 more days after 6 May
    assert completion.period == 90

    h.feed(case, case_event("replied", case, local("2026-05-08T10:00")))
    assert h.deadline(case, K.COMPLETION).stopped
    assert h.deadline(case, K.REVIEW_REQUEST).last_day == date(2026, 6, 8)  # 7 June is a Sunday

    h.feed(case, case_event("review_requested", case, local("2026-05-20T10:00"), stage="review"))
    review = h.deadline(case, K.REVIEW)
    assert h.deadline(case, K.REVIEW_REQUEST).stopped
    assert review.unit_code == "430104-gov"  # the superior of the unit that answered
    assert review.last_day == date(2026, 6, 22)  # 19-21 June is 端午节

    h.feed(
        case, case_event("assigned", case, local("2026-05-21T10:00"), unit_code="430104-rev", stage="review")
    )
    assert h.deadline(case, K.REVIEW).unit_code == "430104-rev"
    assert h.deadline(case, K.REVIEW).starts_at == local("2026-05-20T10:00")

    h.feed(
        case, case_event("replied", case, local("2026-06-10T10:00"), unit_code="430104-rev", stage="review")
    )
    h.feed(
        case,
        case_event(
            "review_requested", case, local("2026-06-20T10:00"), unit_code="430104-rev", stage="recheck"
        ),
    )
    assert h.deadline(case, K.RECHECK_REQUEST).stopped
    assert h.deadline(case, K.RECHECK).last_day == date(2026, 7, 20)
    h.feed(case, case_event("closed", case, local("2026-07-01T10:00")))

    state = h.tracker.read(case)
    assert state is not None
    assert all(d.stopped for d in state.deadlines.values())
    versions = [(d.kind, d.version) for d in h.announced(case)]
    assert len(versions) == len(set(versions))


def _to_recheck(h: Harness, case: str) -> None:
    h.feed(
        case,
        case_event("registered", case, local("2026-02-27T09:00")),
        case_event("assigned", case, local("2026-02-28T10:00")),
        case_event("accepted", case, local("2026-03-02T10:00")),
        case_event("replied", case, local("2026-04-01T10:00")),
        case_event("review_requested", case, local("2026-04-10T10:00"), stage="review"),
        case_event("replied", case, local("2026-05-06T10:00"), stage="review"),
        case_event("review_requested", case, local("2026-05-08T10:00"), stage="recheck"),
    )


def test_a_hearing_in_the_recheck_is_not_counted_in_its_period():
    h = Harness()
    case = new_case_id()
    _to_recheck(h, case)
    recheck = h.deadline(case, K.RECHECK)
    assert recheck.last_day == date(2026, 6, 8)  # 30 days end on Sunday 7 June
    assert recheck.version == 1

    hearing = {"stage": "recheck", "started_on": date(2026, 5, 20), "ended_on": date(2026, 5, 22)}
    h.feed(case, case_event("hearing", case, local("2026-05-15T10:00"), **hearing))
    recheck = h.deadline(case, K.RECHECK)
    assert recheck.version == 2
    assert recheck.period == 33  # the hearing's 3 days, both ends included, do not count
    assert recheck.last_day == date(2026, 6, 10)  # 3 days after the original last day (7 June)
    assert "第三十六条" in recheck.legal_basis
    assert "听证" in recheck.legal_basis

    # A second sitting adds its own days; a replayed record adds nothing.
    second = {"stage": "recheck", "started_on": date(2026, 5, 27), "ended_on": date(2026, 5, 27)}
    h.feed(case, case_event("hearing", case, local("2026-05-26T10:00"), **second))
    assert h.deadline(case, K.RECHECK).period == 34
    assert h.deadline(case, K.RECHECK).version == 3


def test_a_hearing_does_not_move_periods_the_policy_keeps_running():
    h = Harness()
    case = new_case_id()
    h.feed(
        case,
        case_event("registered", case, local("2026-02-27T09:00")),
        case_event("assigned", case, local("2026-02-28T10:00")),
        case_event("accepted", case, local("2026-03-02T10:00")),
    )
    before = h.deadline(case, K.COMPLETION)
    hearing = {"stage": "reply", "started_on": date(2026, 3, 20), "ended_on": date(2026, 3, 21)}
    h.feed(case, case_event("hearing", case, local("2026-03-10T10:00"), **hearing))

    # The national policy excludes hearing days from the recheck only (Art. 36).
    assert h.deadline(case, K.COMPLETION) == before


def test_an_enterprise_target_by_difficulty_is_alerted_beside_the_legal_period():
    h = Harness(policy=ENTERPRISE, parents={UNIT: "430104-gov"})
    case = new_case_id()
    h.feed(
        case,
        case_event("registered", case, local("2026-03-02T09:00")),
        case_event("assigned", case, local("2026-03-02T10:00")),
        case_event("accepted", case, local("2026-03-03T10:00"), difficulty=Difficulty.SIMPLE),
    )
    target = h.deadline(case, K.COMPLETION_TARGET)
    assert target.last_day == date(2026, 3, 10)  # simple matters: 7 days
    assert target.alerting
    assert "内部办理时限" in target.legal_basis
    assert h.deadline(case, K.COMPLETION).last_day == date(2026, 4, 2)  # the 30 days stand

    overdue = h.scan(case, local("2026-03-13T09:00"))
    assert [(a.kind, a.tier) for a in overdue] == [
        (K.COMPLETION_TARGET, AlertTier.APPROACHING),
        (K.COMPLETION_TARGET, AlertTier.DUE),
        (K.COMPLETION_TARGET, AlertTier.OVERDUE),
    ]

    h.feed(case, case_event("replied", case, local("2026-03-13T10:00")))
    assert h.deadline(case, K.COMPLETION_TARGET).stopped
    assert h.deadline(case, K.COMPLETION).stopped


def test_without_a_difficulty_or_a_tier_there_is_no_target():
    for policy, difficulty in ((ENTERPRISE, None), (NATIONAL, Difficulty.DIFFICULT)):
        h = Harness(policy=policy)
        case = new_case_id()
        h.feed(
            case,
            case_event("registered", case, local("2026-03-02T09:00")),
            case_event("assigned", case, local("2026-03-02T10:00")),
            case_event("accepted", case, local("2026-03-03T10:00"), difficulty=difficulty),
        )
        state = h.tracker.read(case)
        assert state is not None
        assert K.COMPLETION_TARGET not in state.deadlines


def test_facts_arriving_out_of_order_give_the_same_deadlines():
    case_a, case_b = new_case_id(), new_case_id()
    times = {
        "registered": local("2026-03-01T09:00"),
        "assigned": local("2026-03-02T09:00"),
        "accepted": local("2026-03-03T09:00"),
        "extended": local("2026-04-01T09:00"),
    }
    h = Harness()
    extra = {"extended": {"days": 10}}
    in_order = [case_event(k, case_a, t, **extra.get(k, {})) for k, t in times.items()]
    h.feed(case_a, *in_order)
    h.feed(case_b, *reversed([case_event(k, case_b, t, **extra.get(k, {})) for k, t in times.items()]))

    for kind in (K.FORWARD, K.ACCEPTANCE, K.COMPLETION):
        a, b = h.deadline(case_a, kind), h.deadline(case_b, kind)
        assert (a.due_at, a.stopped) == (b.due_at, b.stopped)


def test_a_replayed_event_changes_nothing():
    h = Harness()
    case = new_case_id()
    assigned = case_event("assigned", case, local("2026-03-02T09:00"))
    h.feed(case, assigned)
    count = len(h.published)

    h.feed(case, assigned)

    assert len(h.published) == count


def test_the_same_change_always_has_the_same_event_id():
    one, two = Harness(), Harness()
    case = new_case_id()
    assigned = case_event("assigned", case, local("2026-03-02T09:00"))
    one.feed(case, assigned)
    two.feed(case, assigned)

    assert [e.id for _, e in one.published] == [e.id for _, e in two.published]


def test_tiers_fall_due_in_order_and_each_is_raised_once():
    h = Harness(parents={UNIT: "430104-gov"})
    case = new_case_id()
    h.feed(
        case,
        case_event("registered", case, local("2026-03-02T08:00")),
        case_event("assigned", case, local("2026-03-02T09:00")),
    )
    # Acceptance: last day Tue 17 March; 3 working days before it is Thu 12 March.
    assert h.scan(case, local("2026-03-11T23:59")) == []
    [approaching] = h.scan(case, local("2026-03-12T00:00"))
    assert approaching.tier is AlertTier.APPROACHING
    assert approaching.kind is K.ACCEPTANCE
    assert h.scan(case, local("2026-03-12T08:00")) == []
    [due] = h.scan(case, local("2026-03-17T00:00"))
    assert due.tier is AlertTier.DUE
    [overdue] = h.scan(case, local("2026-03-18T00:00"))
    assert overdue.tier is AlertTier.OVERDUE
    assert overdue.target_unit_code == UNIT
    [escalated] = h.scan(case, local("2026-03-23T00:00"))
    assert escalated.tier is AlertTier.ESCALATED
    assert escalated.target_unit_code == "430104-gov"
    assert escalated.alert_id == f"{case}:acceptance:1:escalated"
    assert h.scan(case, local("2026-04-30T00:00")) == []


def test_alerts_missed_while_down_all_go_out_and_carry_stable_event_ids():
    h = Harness()
    case = new_case_id()
    h.feed(case, case_event("registered", case, local("2026-03-02T08:00")))
    h.feed(case, case_event("assigned", case, local("2026-03-02T09:00")))

    raised = h.scan(case, local("2026-04-01T00:00"))

    assert [a.tier for a in raised] == list(AlertTier)
    ids = [e.id for t, e in h.published if t == "alerts"]
    assert ids == [alert_event_id(a.alert_id) for a in raised]


def test_a_stopped_deadline_raises_nothing_more():
    h = Harness()
    case = new_case_id()
    h.feed(case, case_event("registered", case, local("2026-03-02T08:00")))
    h.feed(case, case_event("assigned", case, local("2026-03-02T09:00")))
    h.feed(case, case_event("accepted", case, local("2026-03-05T09:00")))

    raised = h.scan(case, local("2026-03-30T00:00"))

    assert {a.kind for a in raised} <= {K.COMPLETION}


def test_an_imported_case_gets_deadlines_but_never_alerts():
    h = Harness()
    case = new_case_id()
    h.feed(
        case,
        case_event("registered", case, local("2024-05-02T08:00"), imported=True, imported_unit=UNIT),
        case_event("assigned", case, local("2024-05-02T09:00")),
    )

    assert h.deadline(case, K.ACCEPTANCE).due_at == local("2024-05-18T00:00")
    assert not h.deadline(case, K.ACCEPTANCE).alerting
    assert h.scan(case, local("2026-03-30T00:00")) == []


def test_a_case_without_its_registration_waits_for_the_grace_period():
    h = Harness(grace=3600)
    case = new_case_id()
    h.feed(case, case_event("assigned", case, local("2024-05-02T09:00")))

    assert h.scan(case, local("2026-03-30T00:00")) == []


def test_a_reassignment_is_a_new_version_with_its_own_alerts():
    h = Harness()
    case = new_case_id()
    h.feed(case, case_event("registered", case, local("2026-03-02T08:00")))
    h.feed(case, case_event("assigned", case, local("2026-03-02T09:00")))
    h.scan(case, local("2026-03-12T00:00"))
    h.feed(case, case_event("assigned", case, local("2026-03-09T09:00"), unit_code="430100-a"))

    acceptance = h.deadline(case, K.ACCEPTANCE)
    assert acceptance.version == 2
    assert acceptance.unit_code == "430100-a"
    raised = h.scan(case, local("2026-03-20T00:00"))
    assert [a.alert_id for a in raised] == [f"{case}:acceptance:2:approaching"]


def test_a_2027_deadline_is_provisional_and_recomputed_when_the_year_is_loaded(tmp_path: Path):
    override = tmp_path / "holidays.yaml"
    override.write_text("years: {}\n", encoding="utf-8")
    h = Harness()
    h.tracker.calendar = load_calendar(override)
    case = new_case_id()
    h.feed(case, case_event("registered", case, local("2026-11-30T08:00")))
    h.feed(case, case_event("assigned", case, local("2026-11-30T09:00")))
    h.feed(case, case_event("accepted", case, local("2026-12-01T09:00")))

    completion = h.deadline(case, K.COMPLETION)
    assert completion.provisional
    assert completion.last_day == date(2027, 2, 1)  # 30 Jan 2027 is a Saturday
    [announced] = [d for d in h.announced(case) if d.kind is K.COMPLETION]
    assert announced.provisional

    # Test data, not the real 2027 notice: a holiday week from 30 January to 5 February.
    override.write_text(
        "years:\n  2027:\n    holidays: ['2027-01-30..2027-02-05']\n    workdays: [2027-01-24]\n",
        encoding="utf-8",
    )
    scanner = Scanner(
        stream=None,  # type: ignore[arg-type]
        tracker=h.tracker,
        units=None,  # type: ignore[arg-type]
        calendar_path=override,
        calendar_reload_seconds=1,
        owns=lambda case_id: True,
    )
    scanner._calendar_stamp = None  # the file counts as changed since the scanner started
    changed = asyncio.run(scanner.reload_calendar_if_changed())

    assert changed >= 1
    completion = h.deadline(case, K.COMPLETION)
    assert not completion.provisional
    assert completion.version == 2
    assert completion.last_day == date(2027, 2, 8)
    latest = [d for d in h.announced(case) if d.kind is K.COMPLETION][-1]
    assert (latest.version, latest.provisional) == (2, False)


@pytest.mark.parametrize("days_overdue", [0, 4])
def test_escalation_waits_for_the_configured_days(days_overdue):
    h = Harness()
    case = new_case_id()
    h.feed(case, case_event("registered", case, local("2026-03-02T08:00")))
    h.feed(case, case_event("assigned", case, local("2026-03-02T09:00")))

    raised = h.scan(case, local("2026-03-18T00:00") + timedelta(days=days_overdue))

    assert AlertTier.ESCALATED not in {a.tier for a in raised}
