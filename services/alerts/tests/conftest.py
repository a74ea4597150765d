"""Fixtures shared by the alerts tests."""

import uuid
from collections.abc import Callable
from datetime import datetime

import pytest

from xinfang_common.cloudevents import CloudEvent, build_event
from xinfang_common.events import CaseAssigned
from xinfang_common.topics import CASE_ASSIGNED

MakeAssigned = Callable[..., CloudEvent[CaseAssigned]]


@pytest.fixture
def make_assigned() -> MakeAssigned:
    """Builds CaseAssigned events as routing publishes them; a fresh case id unless given."""

    def make(
        assigned_at: datetime,
        *,
        case_id: str | None = None,
        unit_code: str = "430104-zjj",
        event_id: str | None = None,
    ) -> CloudEvent[CaseAssigned]:
        case_id = case_id or f"alerts-test-{uuid.uuid4()}"
        data = CaseAssigned(
            case_id=case_id,
            unit_code=unit_code,
            unit_name="岳麓区住房和城乡建设局",
            region="430104",
            category="城乡建设",
            rule="region-category",
            explanation="serves region 430104 and handles 城乡建设",
            assigned_at=assigned_at,
        )
        return build_event(
            data,
            event_type=CASE_ASSIGNED.event_type,
            source=CASE_ASSIGNED.source,
            case_id=case_id,
            event_id=event_id,
        )

    return make
