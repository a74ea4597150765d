"""The one place that says which topic carries which event, who produces it and who consumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from xinfang_common.domain import Channel, DeadlineKind, PeriodUnit, PetitionType
from xinfang_common.events import CaseAssigned, DeadlineScheduled, PetitionRegistered

INTAKE = "intake"
ROUTING = "routing"
ALERTS = "alerts"
REPORTING = "reporting"
SERVICES = (INTAKE, ROUTING, ALERTS, REPORTING)


@dataclass(frozen=True)
class TopicSpec:
    """A topic, the one event type it carries, its single producer and its consumers."""

    name: str
    event_type: str
    schema: type[BaseModel]
    producer: str
    consumers: tuple[str, ...]
    description: str
    example: dict[str, Any]
    partitions: int = 6
    compacted: bool = False
    retention_ms: int | None = None
    config: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of events on this topic."""
        return f"/xinfang/{self.producer}"

    def dlq(self, consumer: str) -> str:
        """Dead-letter topic for messages ``consumer`` could not process.

        One per consuming service, so that each dead-letter topic still has a single producer
        and each service replays only its own failures.
        """
        if consumer not in self.consumers:
            raise ValueError(f"{consumer} does not consume {self.name}")
        return f"{self.name}.{consumer}.dlq"

    def topic_config(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        config = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        config.update(self.config)
        return config


_CASE = "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10"
_T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC).isoformat()
_T1 = datetime(2026, 3, 2, 9, 30, 2, tzinfo=UTC).isoformat()

PETITION_REGISTERED = TopicSpec(
    name="xinfang.petition.registered.v1",
    event_type="cn.xinfang.petition.registered.v1",
    schema=PetitionRegistered,
    producer=INTAKE,
    consumers=(ROUTING, REPORTING),
    description="A petition was registered; carries the matter, never the petitioners' identity.",
    example={
        "case_id": _CASE,
        "channel": Channel.ONLINE.value,
        "petition_type": PetitionType.CLAIM.value,
        "category": "城乡建设",
        "region": "430104",
        "subject_unit": None,
        "title": "小区楼下夜间施工噪音扰民",
        "content": "某小区旁工地连续多日夜间施工，影响居民休息，请求相关部门处理。",
        "anonymous": False,
        "petitioner_count": 1,
        "received_at": _T0,
        "registered_at": _T0,
        "imported": False,
    },
)

CASE_ASSIGNED = TopicSpec(
    name="xinfang.case.assigned.v1",
    event_type="cn.xinfang.case.assigned.v1",
    schema=CaseAssigned,
    producer=ROUTING,
    consumers=(INTAKE, ALERTS, REPORTING),
    description="Routing decided the responsible unit, with the rule and an explanation.",
    example={
        "case_id": _CASE,
        "unit_code": "430104-zjj",
        "unit_name": "岳麓区住房和城乡建设局",
        "region": "430104",
        "category": "城乡建设",
        "petition_type": PetitionType.CLAIM.value,
        "rule": "region-category",
        "explanation": "岳麓区住房和城乡建设局 serves region 430104 and handles 城乡建设.",
        "assigned_at": _T1,
    },
)

DEADLINE_SCHEDULED = TopicSpec(
    name="xinfang.deadline.scheduled.v1",
    event_type="cn.xinfang.deadline.scheduled.v1",
    schema=DeadlineScheduled,
    producer=ALERTS,
    consumers=(REPORTING,),
    description="Alerts computed a legal deadline for a case and now watches it.",
    example={
        "case_id": _CASE,
        "deadline_id": f"{_CASE}:acceptance",
        "kind": DeadlineKind.ACCEPTANCE.value,
        "unit_code": "430104-zjj",
        "starts_at": _T1,
        "due_at": "2026-03-18T00:00:00+08:00",
        "period": 15,
        "period_unit": PeriodUnit.CALENDAR_DAYS.value,
        "policy_version": "national-2022",
        "legal_basis": "信访工作条例 第二十三条",
    },
)

TOPICS: tuple[TopicSpec, ...] = (PETITION_REGISTERED, CASE_ASSIGNED, DEADLINE_SCHEDULED)


def topic_by_name(name: str) -> TopicSpec:
    """Look up a spec by topic name."""
    for spec in TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def all_topic_names() -> list[str]:
    """Every topic the suite needs: event topics and each consumer's dead-letter topic."""
    names: list[str] = []
    for spec in TOPICS:
        names.append(spec.name)
        names.extend(spec.dlq(consumer) for consumer in spec.consumers)
    return names
