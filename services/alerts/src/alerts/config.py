"""Settings of the alerts service (``ALERTS_*``); Kafka comes from ``XINFANG_KAFKA_*``."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field, field_validator
from pydantic_settings import SettingsConfigDict

from alerts.policies import DEFAULT_POLICY_PATH
from xinfang_common.settings import TimeZoneName, XinfangSettings


class AlertsSettings(XinfangSettings):
    """How alerts computes deadlines, raises alerts and delivers them."""

    model_config = SettingsConfigDict(env_prefix="ALERTS_")

    holiday_calendar_path: Path | None = Field(
        default=None,
        description="operator's holiday override file (YAML: per year, statutory holidays and make-up "
        "working days); a year in it replaces the chinesecalendar package's data for that year; empty "
        "means the package alone. Re-read when it changes: deadlines that were provisional are recomputed",
    )
    calendar_reload_seconds: float = Field(
        default=60.0, gt=0, description="how often the override file is checked for changes"
    )
    policy_path: Path = Field(
        default=DEFAULT_POLICY_PATH,
        description="deadline policy YAML for cases that start now (relative paths from the working "
        "directory); a case keeps the policy it started under",
    )
    timezone: TimeZoneName = Field(
        default="Asia/Shanghai",
        description="IANA time zone whose local days the legal periods count",
    )
    intake_unit_code: str = Field(
        default="petition-office",
        min_length=1,
        max_length=64,
        description="unit code of the petition office that registers petitions: the forward deadline "
        "(15 days from registration) binds it",
    )
    approaching_working_days: int = Field(
        default=3,
        ge=1,
        le=30,
        description="the approaching alert falls this many working days before the last day",
    )
    escalate_after_days: int = Field(
        default=5,
        ge=0,
        le=365,
        description="days overdue after which the superior unit gets a supervision alert (督办)",
    )
    scan_interval_seconds: float = Field(
        default=30.0, gt=0, description="how often the open deadlines are checked for alerts due"
    )
    registration_grace_seconds: float = Field(
        default=300.0,
        ge=0,
        description="how long a case known only from later events (no PetitionRegistered seen) waits "
        "before it may raise alerts: the registration says whether it is an imported, historical case",
    )

    consumer_group: str = Field(
        default="xinfang-alerts",
        min_length=1,
        description="Kafka consumer group (faust app id), shared by every alerts replica; it also "
        "names the table's changelog topic (<group>-cases_by_id-changelog), so changing it rebuilds "
        "the deadlines from the topics' history",
    )
    table_store: Literal["memory://", "rocksdb://"] = Field(
        default="memory://",
        description="where the case table lives: memory:// (rebuilt from its changelog topic at every "
        "start; small state and tests) or rocksdb:// (files under data_dir, only the changelog written "
        "since is read at start; large state, with a persistent volume)",
    )
    data_dir: Path | None = Field(
        default=None,
        description="faust's folder for the RocksDB files of the case table (keep it on a persistent "
        "volume); empty means XINFANG_STREAM_DATA_DIR",
    )
    publish_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest pause between attempts to publish an event while Kafka refuses it",
    )
    messages_in_flight: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="case events handled at once (each case's in order), overlapping the waits for the "
        "broker to acknowledge the deadlines they announce; 1 handles one event at a time",
    )

    database_url: str = Field(
        default="sqlite:///var/alerts.db",
        description="alerts' own database: webhook/email subscriptions, alerts received, deliveries",
    )
    delivery_max_attempts: int = Field(
        default=6, ge=1, le=50, description="tries per delivery before it is dead-lettered"
    )
    delivery_backoff_seconds: float = Field(
        default=5.0, gt=0, description="pause after the first failed try; doubles after each further one"
    )
    delivery_timeout_seconds: float = Field(
        default=10.0, gt=0, description="timeout of one webhook or SMTP try"
    )
    delivery_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often pending deliveries are looked for"
    )
    digest_time: time | None = Field(
        default=time(8, 30),
        description="local time (HH:MM in the timezone above) after which each subscribed unit gets its "
        "daily digest (open cases by due date; 零报告 when none), once per unit and day; empty disables it",
    )
    smtp_host: str = Field(default="", description="SMTP server for email alerts; empty disables email")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port")
    smtp_from: str = Field(default="xinfang-alerts@localhost", description="sender address of email alerts")
    smtp_username: str = Field(default="", description="SMTP login, if the server needs one")
    smtp_password: str = Field(default="", description="SMTP password, if the server needs one")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS")

    start_at_latest: bool = Field(
        default=False,
        description="tests and drills only: a new consumer group starts at the end of the topics instead "
        "of their start (never in production: the deadlines are rebuilt from the topics' history)",
    )
    clock_origin: AwareDatetime | None = Field(
        default=None,
        description="tests and drills only: simulated time at clock_real_origin; empty means the real clock",
    )
    clock_real_origin: AwareDatetime | None = Field(
        default=None,
        description="tests and drills only: the real instant at which the clock showed clock_origin",
    )
    clock_speed: float = Field(
        default=1.0, gt=0, description="tests and drills only: how much faster than real time the clock runs"
    )

    @field_validator(
        "holiday_calendar_path", "data_dir", "clock_origin", "clock_real_origin", "digest_time", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def zone(self) -> ZoneInfo:
        """The time zone as an object."""
        return ZoneInfo(self.timezone)
