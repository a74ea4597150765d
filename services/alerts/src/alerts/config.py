"""Settings of the alerts service (``ALERTS_*``); Kafka comes from ``XINFANG_KAFKA_*``."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from alerts.policies import DEFAULT_POLICY_VERSION, POLICIES
from xinfang_common.settings import TimeZoneName, XinfangSettings


class AlertsSettings(XinfangSettings):
    """How alerts computes deadlines."""

    model_config = SettingsConfigDict(env_prefix="ALERTS_")

    holiday_calendar_path: Path | None = Field(
        default=None,
        description="YAML holiday calendar (statutory holidays and make-up working days per year); "
        "empty means the calendar shipped with the package (xinfang_common/data/holidays_cn.yaml)",
    )
    policy_version: str = Field(
        default=DEFAULT_POLICY_VERSION,
        description="deadline policy version for cases that start now; a case keeps the version "
        f"it started under (known: {', '.join(sorted(POLICIES))})",
    )
    timezone: TimeZoneName = Field(
        default="Asia/Shanghai",
        description="IANA time zone whose local days the legal periods count",
    )

    consumer_group: str = Field(
        default="xinfang-alerts",
        min_length=1,
        description="Kafka consumer group (faust app id), shared by every alerts replica; it also "
        "names the table's changelog topic (<group>-deadlines_by_case-changelog), so changing it "
        "rebuilds the deadlines from the CaseAssigned history",
    )
    publish_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest pause between attempts to publish a DeadlineScheduled while Kafka refuses it",
    )

    @field_validator("policy_version")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICIES:
            raise ValueError(f"unknown deadline policy; known: {', '.join(sorted(POLICIES))}")
        return value

    @field_validator("holiday_calendar_path", mode="before")
    @classmethod
    def _empty_is_packaged(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def zone(self) -> ZoneInfo:
        """The time zone as an object."""
        return ZoneInfo(self.timezone)
