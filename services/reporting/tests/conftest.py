"""Event builders shared by the reporting tests."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from xinfang_common.cloudevents import CloudEvent, build_event
from xinfang_common.events import CaseAssigned, DeadlineScheduled, PetitionRegistered
from xinfang_common.topics import CASE_ASSIGNED, DEADLINE_SCHEDULED, PETITION_REGISTERED

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]
MakeAssigned = Callable[..., CloudEvent[CaseAssigned]]
MakeDeadline = Callable[..., CloudEvent[DeadlineScheduled]]


@pytest.fixture
def make_registered() -> MakeRegistered:
    """A PetitionRegistered event as intake publishes it; keyword arguments override fields."""

    def make(case_id: str = "case-1", *, event_id: str | None = None, **overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "case_id": case_id,
            "channel": "online",
            "petition_type": "claim",
            "category": "城乡建设",
            "region": "430104",
            "title": "小区旁工地夜间施工噪音扰民",
            "content": "工地连续多日夜间施工，影响居民休息。",
            "petitioner_count": 1,
            "received_at": T0,
            "registered_at": T0,
        }
        fields.update(overrides)
        return build_event(
            PetitionRegistered.model_validate(fields),
            event_type=PETITION_REGISTERED.event_type,
            source=PETITION_REGISTERED.source,
            case_id=case_id,
            event_id=event_id,
        )

    return make


@pytest.fixture
def make_assigned() -> MakeAssigned:
    """A CaseAssigned event as routing publishes it; keyword arguments override fields."""

    def make(case_id: str = "case-1", *, event_id: str | None = None, **overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "case_id": case_id,
            "unit_code": "430104-zjj",
            "unit_name": "岳麓区住房和城乡建设局",
            "region": "430104",
            "category": "城乡建设",
            "petition_type": "claim",
            "rule": "region-category",
            "explanation": "岳麓区住房和城乡建设局 serves region 430104 and handles 城乡建设.",
            "assigned_at": T0 + timedelta(seconds=2),
        }
        fields.update(overrides)
        return build_event(
            CaseAssigned.model_validate(fields),
            event_type=CASE_ASSIGNED.event_type,
            source=CASE_ASSIGNED.source,
            case_id=case_id,
            event_id=event_id,
        )

    return make


@pytest.fixture
def make_deadline() -> MakeDeadline:
    """A DeadlineScheduled event as alerts publishes it; keyword arguments override fields."""

    def make(case_id: str = "case-1", *, event_id: str | None = None, **overrides: Any) -> Any:
        starts = overrides.pop("starts_at", T0 + timedelta(seconds=2))
        fields: dict[str, Any] = {
            "case_id": case_id,
            "deadline_id": f"{case_id}:acceptance",
            "kind": "acceptance",
            "unit_code": "430104-zjj",
            "starts_at": starts,
            "due_at": starts + timedelta(days=16),
            "period": 15,
            "period_unit": "calendar_days",
            "policy_version": "national-2022",
            "legal_basis": "信访工作条例 第二十三条",
        }
        fields.update(overrides)
        return build_event(
            DeadlineScheduled.model_validate(fields),
            event_type=DEADLINE_SCHEDULED.event_type,
            source=DEADLINE_SCHEDULED.source,
            case_id=case_id,
            event_id=event_id,
        )

    return make


# A small organisation and six hand-made cases whose measures are worked out by hand in
# test_reporting_kpis.py. Times are in 2025 so that "now" is long after every deadline.
ROOT, CITY, DISTRICT = "r-root", "r-city", "r-district"
T = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
TITLE = "某小区楼下夜间施工噪音扰民"
"""The title every scenario registration carries: no export or response may contain it."""

MakeEvent = Callable[..., CloudEvent[Any]]


def day(n: float) -> datetime:
    """``n`` days after T."""
    return T + timedelta(days=n)


@pytest.fixture
def scenario() -> list[CloudEvent[Any]]:
    """Units root > city > district and cases a-f (see test_reporting_kpis.py for the sums)."""
    from xinfang_common.testing.events import example_event
    from xinfang_common.topics import (
        ALERT_RAISED,
        CASE_ACCEPTED,
        CASE_CLOSED,
        CASE_DECLINED,
        CASE_LINKED,
        CASE_RATED,
        CASE_REPLIED,
        UNIT_CHANGED,
    )

    def unit(code: str, parent: str | None) -> CloudEvent[Any]:
        return example_event(UNIT_CHANGED, code, name=f"单位{code}", parent=parent, changed_at=T)

    def registered(case: str, **kw: Any) -> CloudEvent[Any]:
        fields = {"registered_at": T, "received_at": T, "title": TITLE, "subject_unit": CITY, **kw}
        return example_event(PETITION_REGISTERED, case, **fields)

    def assigned(case: str, code: str, **kw: Any) -> CloudEvent[Any]:
        return example_event(
            CASE_ASSIGNED, case, unit_code=code, unit_name=f"单位{code}", assigned_at=day(0.1), **kw
        )

    def deadline(case: str, kind: str, due: datetime, version: int = 1) -> CloudEvent[Any]:
        return example_event(
            DEADLINE_SCHEDULED,
            case,
            deadline_id=f"{case}:{kind}",
            kind=kind,
            starts_at=day(0.1),
            due_at=due,
            version=version,
        )

    def act(spec: Any, case: str, at: datetime, **kw: Any) -> CloudEvent[Any]:
        return example_event(spec, case, unit_code=CITY, at=at, **kw)

    def alert(case: str, tier: str, at: datetime) -> CloudEvent[Any]:
        return example_event(
            ALERT_RAISED,
            case,
            alert_id=f"{case}:acceptance:1:{tier}",
            deadline_id=f"{case}:acceptance",
            tier=tier,
            unit_code=DISTRICT,
            target_unit_code=DISTRICT,
            due_at=day(16),
            raised_at=at,
        )

    return [
        unit(ROOT, None),
        unit(CITY, ROOT),
        unit(DISTRICT, CITY),
        # a: accepted and replied in time, rated satisfied, closed.
        registered("a"),
        assigned("a", CITY),
        deadline("a", "acceptance", day(16)),
        act(CASE_ACCEPTED, "a", day(2)),
        deadline("a", "completion", day(63)),
        act(CASE_REPLIED, "a", day(30)),
        example_event(CASE_RATED, "a", satisfaction="satisfied", at=day(31)),
        act(CASE_CLOSED, "a", day(32)),
        # b: accepted late, replied late (after a first completion deadline and its extension).
        registered("b", channel="letter"),
        assigned("b", CITY),
        deadline("b", "acceptance", day(16)),
        act(CASE_ACCEPTED, "b", day(20)),
        deadline("b", "completion", day(81)),
        deadline("b", "completion", day(95), version=2),
        act(CASE_REPLIED, "b", day(100)),
        example_event(CASE_RATED, "b", satisfaction="dissatisfied", at=day(101)),
        # c: at the district, never decided: overdue, then escalated (督办).
        registered("c", petition_type="report", category="纪检监察"),
        assigned("c", DISTRICT, category="纪检监察", petition_type="report"),
        deadline("c", "acceptance", day(16)),
        alert("c", "overdue", day(16)),
        alert("c", "escalated", day(20)),
        # d: declined in time.
        registered("d"),
        assigned("d", CITY),
        deadline("d", "acceptance", day(16)),
        act(CASE_DECLINED, "d", day(3)),
        # e: a repeat petition, not routed yet.
        registered("e", region="430102"),
        example_event(CASE_LINKED, "e", earlier_case_id="a", kind="repeat", at=day(0.01)),
        # f: imported history: implied acceptance at registration, reply, no deadline known.
        registered("f", imported=True),
        assigned("f", CITY),
        act(CASE_ACCEPTED, "f", T),
        act(CASE_REPLIED, "f", day(10)),
    ]
