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
