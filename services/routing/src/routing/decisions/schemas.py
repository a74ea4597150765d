"""HTTP shapes of routing previews."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from routing.units.schemas import UnitRead
from xinfang_common.domain import Channel, PetitionType, RegionCode


class RoutingPreviewRequest(BaseModel):
    """A petition as in PetitionRegistered; only what routing looks at is required.

    A full PetitionRegistered payload is accepted too: its other fields are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    region: RegionCode = Field(description="where the matter arises (属地), GB/T 2260 code")
    category: str | None = Field(default=None, max_length=100, description="petition category, e.g. 城乡建设")
    petition_type: PetitionType | None = None
    subject_unit: str | None = Field(
        default=None, max_length=64, description="code of the unit complained about, if any"
    )
    title: str | None = Field(
        default=None, max_length=200, description="read by the text classifier when there is no category"
    )
    content: str | None = Field(
        default=None, max_length=20000, description="read by the text classifier when there is no category"
    )
    case_id: str | None = Field(default=None, max_length=64, description="not needed; echoed back")
    channel: Channel | None = None


class RoutingPreviewRead(BaseModel):
    """What routing would decide for the petition; nothing is published."""

    case_id: str | None
    unit: UnitRead
    rule: str = Field(description="id of the rule that decided")
    category: str | None = Field(
        description="the category the decision went by: the petition's, or the text classifier's"
    )
    explanation: str = Field(description="why this unit, in words for people")
