"""Event payloads (the CloudEvents ``data``): past-tense facts, additive changes only per version.

Payloads carry no petitioner identity: names, ID numbers, phones and addresses stay in
intake's encrypted store, and no topic that a handling unit can read ever carries them.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from xinfang_common.domain import Channel, DeadlineKind, PeriodUnit, PetitionType, RegionCode


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
