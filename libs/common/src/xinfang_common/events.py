"""Event payloads (the CloudEvents ``data``): past-tense facts, additive changes only per version.

Payloads carry no petitioner identity: names, ID numbers, phones and addresses stay in
intake's encrypted store, and no topic that a handling unit can read ever carries them.

Ordering: every topic is keyed by case id, so one topic delivers a case's events in order, but
each kind of case action (accepted, declined, objected, extended, replied, closed) has its own
topic, and a consumer may receive one case's events from different topics in any order (an
extension before the acceptance it follows, say). Consumers must apply case actions by their
``at`` time and the case's state, never by arrival order.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from xinfang_common.domain import (
    AlertTier,
    AssignmentStage,
    Channel,
    DeadlineKind,
    Difficulty,
    LinkKind,
    Outcome,
    PeriodUnit,
    PetitionType,
    RegionCode,
    ReplyStage,
    ReviewStage,
    Satisfaction,
    UnitKind,
)


class EventData(BaseModel):
    """Base of every payload: immutable; unknown fields from newer producers are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class PetitionRegistered(EventData):
    """A petition was registered at intake (登记)."""

    case_id: str = Field(min_length=1, max_length=64)
    channel: Channel
    petition_type: PetitionType | None = Field(
        default=None, description="absent when routing is to classify the text"
    )
    category: str | None = Field(default=None, max_length=100)
    region: RegionCode = Field(description="where the matter arises (属地)")
    subject_unit: str | None = Field(
        default=None, max_length=64, description="code of the unit complained about, if any"
    )
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20000)
    anonymous: bool = False
    petitioner_count: int = Field(ge=0, description="people behind the petition; no identities")
    received_at: AwareDatetime
    registered_at: AwareDatetime
    imported: bool = False
    imported_unit: str | None = Field(
        default=None,
        max_length=64,
        description="for an imported case, the unit that handled it in the legacy system: routing "
        "assigns the case there, as of registered_at, instead of deciding again",
    )


class CaseAssigned(EventData):
    """Routing decided which unit is responsible for a case (转送/交办)."""

    case_id: str = Field(min_length=1, max_length=64)
    unit_code: str = Field(min_length=1, max_length=64)
    unit_name: str = Field(min_length=1, max_length=200)
    region: RegionCode
    category: str | None = None
    petition_type: PetitionType | None = None
    rule: str = Field(min_length=1, description="id of the rule that decided")
    explanation: str = Field(min_length=1, description="why this unit, in words for people")
    assigned_at: AwareDatetime
    stage: AssignmentStage = Field(
        default=AssignmentStage.HANDLING,
        description="handling (the first answer), review (复查) or recheck (复核): what the unit is "
        "assigned the case for",
    )


class DeadlineScheduled(EventData):
    """Alerts computed a legal deadline for a case and will watch it."""

    case_id: str = Field(min_length=1, max_length=64)
    deadline_id: str = Field(min_length=1, description="stable id: <case_id>:<kind>")
    kind: DeadlineKind
    unit_code: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime = Field(description="the event that starts the period")
    due_at: AwareDatetime = Field(description="24:00 local time of the last day")
    period: int = Field(gt=0)
    period_unit: PeriodUnit
    policy_version: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    version: int = Field(
        default=1, ge=1, description="deadline version: each change of this deadline_id is the next one"
    )
    provisional: bool = Field(
        default=False,
        description="the period reaches a year without the official holiday notice; recomputed "
        "(as a new version) once that year's calendar is loaded",
    )
    stopped: bool = Field(
        default=False, description="the period no longer runs (met, ended by a later step, or closed)"
    )
    stopped_at: AwareDatetime | None = Field(default=None, description="when it stopped, if it did")
    alerting: bool = Field(
        default=True, description="false for imported (historical) cases and informational periods"
    )


MAX_EXTENSION_DAYS = 30
"""An approved extension adds at most 30 days to the completion period (Art. 34)."""


class CaseAction(EventData):
    """Base of the facts a handling unit records on a case: who acted, for which unit, when."""

    case_id: str = Field(min_length=1, max_length=64)
    unit_code: str = Field(min_length=1, max_length=64, description="the unit that acted")
    actor: str = Field(
        min_length=1, max_length=64, description="id of the staff account that acted (not a name)"
    )
    at: AwareDatetime = Field(description="when the action was taken")


class CaseAccepted(CaseAction):
    """The assigned unit accepted the case for handling (受理); the completion period starts."""

    difficulty: Difficulty | None = Field(
        default=None,
        description="how hard the unit judges the matter; selects the organisation's internal "
        "completion target, if its policy sets one (the legal period is unchanged)",
    )


class CaseDeclined(CaseAction):
    """The assigned unit decided not to accept the case (不予受理); it ends there."""

    reason: str = Field(min_length=1, max_length=2000, description="the reason told to the petitioner")


class CaseObjected(CaseAction):
    """The assigned unit objected that the matter is not its own (Art. 23); routing decides again."""

    reason: str = Field(min_length=1, max_length=2000, description="why the matter is not this unit's")


class CaseExtended(CaseAction):
    """The completion period was extended once, with the unit head's approval (延期, Art. 34).

    Carries the days only: alerts computes the new deadline under the case's policy.
    """

    days: int = Field(ge=1, le=MAX_EXTENSION_DAYS, description="days added to the completion period")
    reason: str = Field(min_length=1, max_length=2000, description="why, as told to the petitioner")
    approver: str = Field(min_length=1, max_length=64, description="id of the approving unit head")


class CaseReplied(CaseAction):
    """The unit issued its written opinion (信访处理意见书) on the case, or a review/recheck answer."""

    opinion: str = Field(min_length=1, max_length=20000, description="the written opinion")
    outcome: Outcome | None = Field(
        default=None, description="required for a claim (申诉求决类, Art. 32); optional otherwise"
    )
    stage: ReplyStage = Field(
        default=ReplyStage.REPLY,
        description="reply (the first answer), review (复查 answer) or recheck (复核 answer)",
    )


MAX_HEARING_DAYS = 90
"""Longest hearing span one record may exclude from a period: a guard against typing errors."""


class HearingHeld(CaseAction):
    """A hearing (听证) on the case, held or scheduled, whose days do not count towards the period
    of the answer being prepared (Art. 36 for the recheck; the policy says which periods).

    Days are local calendar dates, both ends included; a later record of the same stage adds its
    own days (a hearing held in two sittings is two records).
    """

    stage: ReplyStage = Field(description="the answer being prepared: reply, review or recheck")
    started_on: date = Field(description="first day of the hearing (local date)")
    ended_on: date = Field(description="last day of the hearing (local date), the same day or later")

    @model_validator(mode="after")
    def _span_is_sane(self) -> HearingHeld:
        if self.ended_on < self.started_on:
            raise ValueError("ended_on is before started_on")
        if self.days > MAX_HEARING_DAYS:
            raise ValueError(f"a hearing record spans at most {MAX_HEARING_DAYS} days")
        return self

    @property
    def days(self) -> int:
        """The calendar days the hearing spans, both ends included."""
        return (self.ended_on - self.started_on).days + 1


class CaseClosed(CaseAction):
    """The case was closed (办结); nothing more happens on it at this unit."""

    reason: str | None = Field(default=None, max_length=2000)


class CaseRated(EventData):
    """The petitioner rated a reply (满意度评价); the comment stays in intake (it may identify them)."""

    case_id: str = Field(min_length=1, max_length=64)
    unit_code: str = Field(min_length=1, max_length=64, description="the unit whose reply was rated")
    reply_sequence: int = Field(
        ge=1, description="which reply of the case: 1 the first, 2 the review answer, ..."
    )
    reply_stage: ReplyStage = Field(description="the stage of the rated reply")
    satisfaction: Satisfaction
    at: AwareDatetime


class ReviewRequested(EventData):
    """The petitioner asked for a review (复查) or recheck (复核) of the last answer (Art. 35-36).

    The petitioner's reason stays in intake (it may carry personal data); the superior unit reads
    it there. Intake has no organisation tree: routing decides which unit ``requested_of`` is.
    """

    case_id: str = Field(min_length=1, max_length=64)
    stage: ReviewStage
    unit_code: str = Field(min_length=1, max_length=64, description="the unit whose answer is contested")
    requested_of: str = Field(min_length=1, description='"superior of <unit_code>"')
    at: AwareDatetime


class UnitChanged(EventData):
    """A unit of the organisation tree as it now is (the whole unit, not a diff).

    Published by routing on a compacted topic keyed by unit code, so that every service knows
    unit names and the hierarchy (for a supervisor's subtree, say) without calling routing.
    """

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    parent: str | None = Field(default=None, max_length=64, description="null for the root")
    kind: UnitKind
    regions: tuple[RegionCode, ...] = Field(min_length=1)
    categories: tuple[str, ...] = ()
    active: bool = True
    successor: str | None = Field(default=None, max_length=64)
    changed_at: AwareDatetime


class CaseLinked(EventData):
    """Routing found an earlier similar petition on the same matter (重复信访) and linked the case to it.

    Matched on subject unit or region and category plus text similarity only: routing never sees
    who the petitioners are, so "the same petitioner" plays no part.
    """

    case_id: str = Field(min_length=1, max_length=64)
    earlier_case_id: str = Field(min_length=1, max_length=64)
    similarity: float = Field(ge=0, le=1, description="text similarity of the two petitions, 0..1")
    kind: LinkKind
    earlier_unit: str | None = Field(
        default=None, max_length=64, description="the unit the earlier case was last assigned to"
    )
    at: AwareDatetime


class SurgeDetected(EventData):
    """New petitions of one category at one unit rose well above their usual level (counts only)."""

    key: str = Field(min_length=1, max_length=200, description='"<category>|<unit_code>"')
    category: str = Field(min_length=1, max_length=100)
    unit_code: str = Field(min_length=1, max_length=64)
    window_start: AwareDatetime
    window_end: AwareDatetime
    count: int = Field(ge=0, description="petitions registered in the window")
    baseline_mean: float = Field(ge=0, description="mean count of the same-length windows before it")
    baseline_windows: int = Field(ge=1, description="how many earlier windows the mean is over")
    detected_at: AwareDatetime


class TriageQueued(EventData):
    """Routing put the case in its manual triage queue: a person must choose the unit.

    Ends with the case's next ``CaseAssigned`` (a later ``assigned_at``); the reason names units
    and the classifier's guess, never the petitioners.
    """

    case_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000, description="why no unit was chosen automatically")
    at: AwareDatetime


class AlertRaised(EventData):
    """Alerts warned that a case's deadline is near, due, missed, or escalated to the superior unit.

    Raised once per case, deadline, deadline version and tier; the event id is derived from
    ``alert_id``, so a re-raise after a crash carries the same id and consumers drop it.
    """

    alert_id: str = Field(min_length=1, description="<case_id>:<kind>:<version>:<tier>")
    case_id: str = Field(min_length=1, max_length=64)
    deadline_id: str = Field(min_length=1)
    deadline_version: int = Field(ge=1)
    kind: DeadlineKind
    tier: AlertTier
    unit_code: str = Field(min_length=1, max_length=64, description="the unit the deadline binds")
    target_unit_code: str = Field(
        min_length=1,
        max_length=64,
        description="who is told: the unit itself, or its superior for an escalation (督办)",
    )
    due_at: AwareDatetime
    raised_at: AwareDatetime
    provisional: bool = False
