"""The one place that says which topic carries which event, who produces it and who consumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from xinfang_common.domain import (
    AlertTier,
    AssignmentStage,
    Channel,
    DeadlineKind,
    LinkKind,
    Outcome,
    PeriodUnit,
    PetitionType,
    ReplyStage,
    ReviewStage,
    Satisfaction,
    UnitKind,
)
from xinfang_common.events import (
    AlertRaised,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseDeclined,
    CaseExtended,
    CaseLinked,
    CaseObjected,
    CaseRated,
    CaseReplied,
    DeadlineScheduled,
    HearingHeld,
    PetitionRegistered,
    ReviewRequested,
    SurgeDetected,
    TriageQueued,
    UnitChanged,
)

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
    key: str = "case id"
    """What the Kafka key (and the CloudEvents subject) is, in words."""
    key_field: str = "case_id"
    """The payload field whose value is the key."""
    compacted: bool = False
    retention_ms: int | None = None
    config: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of events on this topic."""
        return f"/xinfang/{self.producer}"

    def key_of(self, data: BaseModel) -> str:
        """The Kafka key of an event carrying ``data``."""
        return str(getattr(data, self.key_field))

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
    # Alerts: the forward period starts at registration, and imported cases never raise alerts.
    consumers=(ROUTING, ALERTS, REPORTING),
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
        "imported_unit": None,
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
        "stage": AssignmentStage.HANDLING.value,
    },
)

DEADLINE_SCHEDULED = TopicSpec(
    name="xinfang.deadline.scheduled.v1",
    event_type="cn.xinfang.deadline.scheduled.v1",
    schema=DeadlineScheduled,
    producer=ALERTS,
    consumers=(INTAKE, REPORTING),
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

_UNIT = "430104-zjj"
_STAFF = "staff-0427"
_T2 = datetime(2026, 3, 3, 10, 15, tzinfo=UTC).isoformat()
_T3 = datetime(2026, 4, 20, 8, 0, tzinfo=UTC).isoformat()
_T4 = datetime(2026, 5, 8, 7, 45, tzinfo=UTC).isoformat()
_T5 = datetime(2026, 5, 9, 2, 0, tzinfo=UTC).isoformat()
_ACTION_CONSUMERS = (ALERTS, REPORTING)

CASE_ACCEPTED = TopicSpec(
    name="xinfang.case.accepted.v1",
    event_type="cn.xinfang.case.accepted.v1",
    schema=CaseAccepted,
    producer=INTAKE,
    consumers=_ACTION_CONSUMERS,
    description="The assigned unit accepted the case (受理); the completion period starts.",
    example={"case_id": _CASE, "unit_code": _UNIT, "actor": _STAFF, "at": _T2},
)

CASE_DECLINED = TopicSpec(
    name="xinfang.case.declined.v1",
    event_type="cn.xinfang.case.declined.v1",
    schema=CaseDeclined,
    producer=INTAKE,
    # Routing: a declined case is no longer in progress for its repeats.
    consumers=(ROUTING, *_ACTION_CONSUMERS),
    description="The assigned unit declined the case (不予受理), with the reason; it ends there.",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "actor": _STAFF,
        "at": _T2,
        "reason": "该事项已由人民法院受理，依法应通过诉讼程序解决，不予受理。",
    },
)

CASE_OBJECTED = TopicSpec(
    name="xinfang.case.objected.v1",
    event_type="cn.xinfang.case.objected.v1",
    schema=CaseObjected,
    producer=INTAKE,
    consumers=(ROUTING, ALERTS, REPORTING),
    description="The assigned unit objected that the matter is not its own (Art. 23); the case goes "
    "back to routing.",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "actor": _STAFF,
        "at": _T2,
        "reason": "夜间施工噪音属生态环境部门监管职责，不属于本单位职权范围。",
    },
)

CASE_EXTENDED = TopicSpec(
    name="xinfang.case.extended.v1",
    event_type="cn.xinfang.case.extended.v1",
    schema=CaseExtended,
    producer=INTAKE,
    consumers=_ACTION_CONSUMERS,
    description="The completion period was extended once, by at most 30 days, with approval (延期).",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "actor": _STAFF,
        "at": _T3,
        "days": 30,
        "reason": "需会同生态环境、城管等部门现场核查，情况复杂，申请延期办理。",
        "approver": "head-0012",
    },
)

CASE_HEARING_HELD = TopicSpec(
    name="xinfang.case.hearing_held.v1",
    event_type="cn.xinfang.case.hearing_held.v1",
    schema=HearingHeld,
    producer=INTAKE,
    # Only the clocks care: hearing days are not counted in the period of the answer pending.
    consumers=(ALERTS,),
    description="A hearing (听证) on the case, held or scheduled, with its first and last day; its days "
    "do not count towards the pending answer's period where the policy says so (Art. 36 for the recheck).",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "actor": _STAFF,
        "at": _T4,
        "stage": "recheck",
        "started_on": "2026-05-12",
        "ended_on": "2026-05-13",
    },
)

CASE_REPLIED = TopicSpec(
    name="xinfang.case.replied.v1",
    event_type="cn.xinfang.case.replied.v1",
    schema=CaseReplied,
    producer=INTAKE,
    # Routing learns which earlier cases were answered, and which after a recheck (final).
    consumers=(ROUTING, *_ACTION_CONSUMERS),
    description="The unit issued its written opinion (信访处理意见书), with the outcome for a claim.",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "actor": _STAFF,
        "at": _T4,
        "opinion": "经核查，该工地确有夜间违规施工行为，已责令其停止夜间作业并依法处罚。",
        "outcome": Outcome.SUPPORTED.value,
        "stage": ReplyStage.REPLY.value,
    },
)

CASE_CLOSED = TopicSpec(
    name="xinfang.case.closed.v1",
    event_type="cn.xinfang.case.closed.v1",
    schema=CaseClosed,
    producer=INTAKE,
    # Routing: a closed case is no longer in progress for its repeats.
    consumers=(ROUTING, *_ACTION_CONSUMERS),
    description="The case was closed (办结) at the unit that handled it.",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "actor": _STAFF,
        "at": _T5,
        "reason": "已书面答复信访人，办结。",
    },
)

_T6 = datetime(2026, 5, 12, 3, 20, tzinfo=UTC).isoformat()
_T7 = datetime(2026, 5, 20, 6, 5, tzinfo=UTC).isoformat()

CASE_RATED = TopicSpec(
    name="xinfang.case.rated.v1",
    event_type="cn.xinfang.case.rated.v1",
    schema=CaseRated,
    producer=INTAKE,
    consumers=(REPORTING,),
    description="The petitioner rated a reply (once per reply); no comment text, no identity.",
    example={
        "case_id": _CASE,
        "unit_code": _UNIT,
        "reply_sequence": 1,
        "reply_stage": ReplyStage.REPLY.value,
        "satisfaction": Satisfaction.BASICALLY_SATISFIED.value,
        "at": _T6,
    },
)

CASE_REVIEW_REQUESTED = TopicSpec(
    name="xinfang.case.review_requested.v1",
    event_type="cn.xinfang.case.review_requested.v1",
    schema=ReviewRequested,
    producer=INTAKE,
    consumers=(ROUTING, ALERTS, REPORTING),
    description="The petitioner asked the next superior unit for a review (复查) or recheck (复核); "
    "the reason stays in intake.",
    example={
        "case_id": _CASE,
        "stage": ReviewStage.REVIEW.value,
        "unit_code": _UNIT,
        "requested_of": f"superior of {_UNIT}",
        "at": _T7,
    },
)

UNIT_CHANGED = TopicSpec(
    name="xinfang.unit.changed.v1",
    event_type="cn.xinfang.unit.changed.v1",
    schema=UnitChanged,
    producer=ROUTING,
    consumers=(INTAKE, ALERTS, REPORTING),
    description="A unit of the organisation tree as it now is; compacted, so reading the topic from "
    "the start gives the whole current tree.",
    example={
        "code": _UNIT,
        "name": "岳麓区住房和城乡建设局",
        "parent": "430104-xfj",
        "kind": UnitKind.DEPARTMENT.value,
        "regions": ["430104"],
        "categories": ["城乡建设"],
        "active": True,
        "successor": None,
        "changed_at": _T0,
    },
    partitions=3,
    key="unit code",
    key_field="code",
    compacted=True,
)

CASE_LINKED = TopicSpec(
    name="xinfang.case.linked.v1",
    event_type="cn.xinfang.case.linked.v1",
    schema=CaseLinked,
    producer=ROUTING,
    consumers=(INTAKE, REPORTING),
    description="Routing linked a new case to an earlier similar one on the same matter (重复信访): "
    "repeat, final (the earlier one was closed after recheck) or in_progress.",
    example={
        "case_id": _CASE,
        "earlier_case_id": "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        "similarity": 0.93,
        "kind": LinkKind.IN_PROGRESS.value,
        "earlier_unit": _UNIT,
        "at": _T1,
    },
)

SURGE_DETECTED = TopicSpec(
    name="xinfang.surge.detected.v1",
    event_type="cn.xinfang.surge.detected.v1",
    schema=SurgeDetected,
    producer=ROUTING,
    consumers=(REPORTING,),
    description="New petitions of one category at one unit in a sliding window rose well above the "
    "mean of the windows before it; counts only.",
    example={
        "key": f"城乡建设|{_UNIT}",
        "category": "城乡建设",
        "unit_code": _UNIT,
        "window_start": _T0,
        "window_end": datetime(2026, 3, 3, 9, 30, tzinfo=UTC).isoformat(),
        "count": 42,
        "baseline_mean": 6.5,
        "baseline_windows": 7,
        "detected_at": _T1,
    },
    key="<category>|<unit code>",
    key_field="key",
)

CASE_TRIAGED = TopicSpec(
    name="xinfang.case.triaged.v1",
    event_type="cn.xinfang.case.triaged.v1",
    schema=TriageQueued,
    producer=ROUTING,
    consumers=(INTAKE,),
    description="Routing could not choose a unit and put the case in its manual triage queue (the "
    "classifier was unsure, a second objection, or no unit may lawfully receive it); the case's next "
    "CaseAssigned ends the wait.",
    example={
        "case_id": _CASE,
        "reason": "second objection. 430104-zjj objected that the matter is not its own.",
        "at": _T1,
    },
)

ALERT_RAISED = TopicSpec(
    name="xinfang.alert.raised.v1",
    event_type="cn.xinfang.alert.raised.v1",
    schema=AlertRaised,
    producer=ALERTS,
    consumers=(REPORTING,),
    description="Alerts warned about a case's deadline (approaching, due, overdue) or escalated it to "
    "the superior unit (督办); once per case, deadline version and tier, event id derived from alert_id.",
    example={
        "alert_id": f"{_CASE}:acceptance:1:overdue",
        "case_id": _CASE,
        "deadline_id": f"{_CASE}:acceptance",
        "deadline_version": 1,
        "kind": DeadlineKind.ACCEPTANCE.value,
        "tier": AlertTier.OVERDUE.value,
        "unit_code": _UNIT,
        "target_unit_code": _UNIT,
        "due_at": "2026-03-18T00:00:00+08:00",
        "raised_at": datetime(2026, 3, 17, 16, 0, 3, tzinfo=UTC).isoformat(),
        "provisional": False,
    },
)

PETITIONER_TOPICS: tuple[TopicSpec, ...] = (CASE_RATED, CASE_REVIEW_REQUESTED)
"""What the petitioner does through the tracking code: rate a reply, ask for a review."""

CASE_ACTION_TOPICS: tuple[TopicSpec, ...] = (
    CASE_ACCEPTED,
    CASE_DECLINED,
    CASE_OBJECTED,
    CASE_EXTENDED,
    CASE_HEARING_HELD,
    CASE_REPLIED,
    CASE_CLOSED,
)
"""One topic per kind of action on a case; see ``events`` on ordering across them."""

TOPICS: tuple[TopicSpec, ...] = (
    PETITION_REGISTERED,
    CASE_ASSIGNED,
    DEADLINE_SCHEDULED,
    *CASE_ACTION_TOPICS,
    *PETITIONER_TOPICS,
    UNIT_CHANGED,
    CASE_LINKED,
    SURGE_DETECTED,
    CASE_TRIAGED,
    ALERT_RAISED,
)


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
