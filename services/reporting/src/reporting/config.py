"""Settings of the reporting service (``REPORTING_*``); Kafka comes from ``XINFANG_KAFKA_*``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from xinfang_common.settings import TimeZoneName, XinfangSettings


class ReportingSettings(XinfangSettings):
    """Where reporting keeps its read model and how it joins Kafka."""

    model_config = SettingsConfigDict(env_prefix="REPORTING_")

    database_url: str = Field(
        default="sqlite:///var/reporting.db",
        min_length=1,
        description="SQLAlchemy URL of reporting's own read-model database: sqlite:///<file> or "
        "postgresql+psycopg://user:password@host/db (postgresql:// also means psycopg 3); "
        "the tables are created at start",
    )
    consumer_group: str = Field(
        default="xinfang-reporting",
        min_length=1,
        description="Kafka consumer group (faust app id), shared by every reporting replica; a new "
        "group reads every topic from the beginning, which is how the read model is rebuilt",
    )
    timezone: TimeZoneName = Field(
        default="Asia/Shanghai",
        description="IANA time zone in which date-only `from`/`to` filters of the statistics are "
        "read (a date means that local day)",
    )
    db_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest pause between attempts to write an event while the database is "
        "unreachable (the event is retried, not dead-lettered)",
    )

    metrics_unit_depth: int = Field(
        default=2,
        ge=1,
        le=10,
        description="deepest level of the unit tree that gets its own `unit` label on the business "
        "metrics (1 = the root); cases of deeper units count under their ancestor at this level, "
        "which keeps the number of series bounded",
    )
    metrics_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how long the business metrics counted in the read model are reused between "
        "scrapes (counting a large read model at every scrape would load the database)",
    )
    metrics_kpi_window_days: int = Field(
        default=365,
        ge=1,
        le=3660,
        description="the KPI gauges on /metrics cover the cases registered in this many most recent days",
    )
    dlq_poll_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how often reporting measures how many messages every dead-letter topic of the suite "
        "holds (xinfang_reporting_dead_letter_messages); 0 turns the measurement off",
    )

    @property
    def zone(self) -> ZoneInfo:
        """The time zone as an object."""
        return ZoneInfo(self.timezone)
