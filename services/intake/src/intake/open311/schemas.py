"""Bodies of the Open311 GeoReport v2 subset, with the spec's field names."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from intake.open311.catalog import BY_CODE
from intake.petitions.schemas import validate_phone
from xinfang_common.domain import RegionCode, region_contains

NAME_PART_MAX = 24
"""Longest first or last name; both together stay within the petitioner name's 50 characters."""

DESCRIPTION_MAX = 4000
"""The spec limits a request's description to 4,000 characters."""

JURISDICTION = "jurisdiction"
"""Validation context key: the region code the endpoint serves (INTAKE_OPEN311_DEFAULT_REGION)."""


class Open311Error(BaseModel):
    """One error as the spec shapes it; responses carry a list of them."""

    code: int = Field(description="the HTTP status code")
    description: str = Field(description="what is wrong, starting with the field it concerns")


class Service(BaseModel):
    """A service type (GET services): here, one top-level petition category."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service_code": "urban-construction",
                    "service_name": "城乡建设",
                    "description": "住房与物业、城市规划、市政设施、征地拆迁、城市管理",
                    "metadata": False,
                    "type": "realtime",
                    "keywords": "住房,物业,拆迁,市政,规划",
                    "group": "城乡建设",
                }
            ]
        }
    )

    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="always false: no attributes to define beyond the spec's fields")
    type: Literal["realtime"] = Field(description="the case id is returned at once")
    keywords: str = Field(description="comma-separated")
    group: str


class ServiceRequestCreate(BaseModel):
    """A service request (POST requests): the spec's fields plus ``attribute[region]``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service_code: str = Field(description="a service_code from services.json")
    jurisdiction_id: str | None = Field(
        default=None, max_length=100, description="accepted and ignored: this endpoint serves one"
    )
    api_key: str | None = Field(default=None, max_length=200, description="accepted; not checked yet")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False, description="WGS-84")
    long: float | None = Field(
        default=None,
        ge=-180,
        le=180,
        allow_inf_nan=False,
        validate_default=True,  # so that lat without long is caught
        description="WGS-84",
    )
    address_string: str | None = Field(default=None, max_length=200, description="where the matter is")
    address_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254, description="accepted but never stored")
    device_id: str | None = Field(default=None, max_length=100, description="accepted but never stored")
    account_id: str | None = Field(default=None, max_length=100, description="accepted but never stored")
    first_name: str | None = Field(default=None, max_length=NAME_PART_MAX)
    last_name: str | None = Field(default=None, max_length=NAME_PART_MAX)
    phone: str | None = Field(
        default=None, max_length=32, description="mobile or landline with area code in China"
    )
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX, description="the matter")
    media_url: AnyHttpUrl | None = Field(default=None, description="a picture of the matter")
    region: RegionCode | None = Field(
        default=None,
        alias="attribute[region]",
        description="GB/T 2260 code where the matter arises; defaults to the endpoint's jurisdiction",
    )

    @field_validator("service_code")
    @classmethod
    def _known_service(cls, value: str) -> str:
        if value not in BY_CODE:
            raise ValueError(f"unknown service_code; one of {', '.join(BY_CODE)}")
        return value

    @field_validator("long", mode="after")
    @classmethod
    def _lat_and_long_together(cls, value: float | None, info: ValidationInfo) -> float | None:
        if "lat" in info.data and (info.data["lat"] is None) != (value is None):
            raise ValueError("lat and long must be given together")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        # A name that failed its own check is missing from info.data: do not blame the phone.
        if all(key in info.data and not info.data[key] for key in ("first_name", "last_name")):
            raise ValueError("a phone number needs a first_name or last_name (neither: anonymous)")
        return validate_phone(value)

    @field_validator("region")
    @classmethod
    def _within_jurisdiction(cls, value: str | None, info: ValidationInfo) -> str | None:
        jurisdiction = (info.context or {}).get(JURISDICTION)
        if value is not None and jurisdiction and not region_contains(jurisdiction, value):
            raise ValueError(f"must lie within this endpoint's jurisdiction {jurisdiction}")
        return value


class ServiceRequestCreated(BaseModel):
    """The answer to a POST: realtime, so the id at once and no ``token``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service_request_id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                    "service_notice": "已登记，将在15日内告知是否受理。",
                    "x_tracking_code": "7KQ4-M9XD-2HWP-R3TV",
                }
            ]
        }
    )

    service_request_id: str = Field(description="the case id")
    service_notice: str = Field(description="what happens next, in plain words")
    x_tracking_code: str = Field(
        description="extension: the case's tracking code (查询码), a bearer secret shown only this once"
    )


class ServiceRequestRead(BaseModel):
    """A service request's progress (GET a request); never any personal data or the petition text."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service_request_id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                    "status": "open",
                    "status_notes": "已转送岳麓区住房和城乡建设局办理。",
                    "service_name": "城乡建设",
                    "service_code": "urban-construction",
                    "agency_responsible": "岳麓区住房和城乡建设局",
                    "service_notice": None,
                    "requested_datetime": "2026-03-02T09:30:00Z",
                    "updated_datetime": "2026-03-02T09:30:02Z",
                    "expected_datetime": None,
                }
            ]
        }
    )

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str = Field(description="the latest step of the case, in plain words")
    service_name: str | None = Field(description="the petition category")
    service_code: str | None = Field(description="null when the category has no Open311 service")
    agency_responsible: str | None = Field(description="the unit the case was assigned to")
    service_notice: str | None = None
    requested_datetime: datetime = Field(description="when the petition was received")
    updated_datetime: datetime
    expected_datetime: datetime | None = Field(default=None, description="not known to intake yet")
