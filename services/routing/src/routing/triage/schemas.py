"""HTTP shapes of the manual triage queue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from routing.units.schemas import UnitRead


class TriageItem(BaseModel):
    """A case waiting for a person to choose its unit."""

    case_id: str
    reason: str = Field(description="why routing did not decide it")
    prediction: str | None = Field(description="the text classifier's best guess, if any")
    confidence: float | None = Field(description="the classifier's confidence in that guess")
    region: str
    category: str | None
    petition_type: str | None
    title: str
    objectors: list[str] = Field(description="units that objected to the case (Art. 23)")
    registered_at: datetime
    waiting_since: datetime | None


class TriageList(BaseModel):
    """Every waiting case, longest waiting first."""

    items: list[TriageItem]
    total: int


class TriageAssign(BaseModel):
    """A person's decision: the unit (and category) for a waiting case."""

    unit_code: str = Field(min_length=1, max_length=64)
    category: str | None = Field(
        default=None, min_length=1, max_length=100, description="the category; also the training label"
    )
    note: str = Field(min_length=1, max_length=2000, description="why this unit, carried in the explanation")


class TriageAssigned(BaseModel):
    """The assignment made: the CaseAssigned published."""

    case_id: str
    unit: UnitRead
    category: str | None
    rule: str
    explanation: str
    training_row_written: bool = Field(description="whether (text, category) was added to the training data")
