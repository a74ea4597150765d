"""Intake settings (``INTAKE_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from xinfang_common.domain import RegionCode
from xinfang_common.settings import XinfangSettings


class IntakeSettings(XinfangSettings):
    """How the intake service stores petitions, protects personal data and talks to Kafka."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_")

    service_name: str = Field(
        default="intake", min_length=1, description="name used in logs, metrics and Kafka client ids"
    )
    database_url: str = Field(
        default="sqlite:///var/intake.db",
        description="SQLAlchemy URL of intake's own database: sqlite:///path or "
        "postgresql+psycopg://user:password@host/db",
    )
    encryption_keys: SecretStr = Field(
        default=SecretStr(""),
        description="AES-256-GCM keyring for personal data at rest: comma-separated "
        "<key id>:<key> entries, the key 32 random bytes in url-safe base64, the id 1-32 characters "
        "of A-Z a-z 0-9 _ - (a bare key gets id k0); the first encrypts, all decrypt, and each "
        "stored value names its key id (rotation: put the new key first, keep the old ones until "
        "re-encrypted); required, the service refuses to start without a valid key",
    )
    outbox_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="longest pause of the outbox relay between looks for unpublished events "
        "(it also wakes at once when a petition is registered)",
    )
    outbox_batch_size: int = Field(
        default=100, ge=1, le=10000, description="events the outbox relay publishes per round"
    )
    kafka_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest back-off between attempts to reach Kafka while it is unavailable",
    )
    kafka_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long one attempt to connect to Kafka may take"
    )
    consumer_group: str = Field(
        default="xinfang-intake",
        min_length=1,
        description="Kafka consumer group for CaseAssigned and DeadlineScheduled; every intake replica "
        "must share it",
    )
    consumer_enabled: bool = Field(
        default=True,
        description="consume CaseAssigned and DeadlineScheduled events (off only for maintenance or tests)",
    )
    relay_enabled: bool = Field(
        default=True, description="publish the outbox to Kafka (off only for maintenance or tests)"
    )
    category_scheme_path: Path | None = Field(
        default=None,
        description="CSV (header level1,level2,level3) of the organisation's category scheme; a "
        "petition's category must then be one of its levels written as a path (城乡建设/安全生产); "
        "empty: the seven top-level national categories",
    )
    open311_default_region: RegionCode = Field(
        default="430100",
        description="GB/T 2260 code of the jurisdiction the Open311 endpoint serves: requests "
        "without attribute[region] are registered here, and attribute[region] must lie within it",
    )
    idempotency_ttl_hours: int = Field(
        default=24,
        ge=1,
        le=8760,
        description="how long an Idempotency-Key is remembered: within it, a retry with the same key "
        "and body gets the first answer and registers nothing; after it, the key counts as new",
    )
    track_rate_per_minute: int = Field(
        default=30,
        ge=1,
        le=100000,
        description="requests to /v1/track/* one client address may make in any 60 seconds; more get 429 "
        "with Retry-After (kept in memory: with several replicas the limit applies per replica)",
    )
    track_failed_per_hour: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="tracking-code lookups that find nothing one client address may make in any hour; "
        "after that every /v1/track/* request from it gets 429 until the oldest failure is an hour "
        "old (per replica, like the rate above)",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated IP addresses of reverse proxies whose X-Forwarded-For is believed "
        "when rate limiting; empty: the connecting address is the client, X-Forwarded-For is ignored",
    )
    import_max_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1,
        description="largest file POST /v1/imports takes, in bytes; a larger upload gets 413 (the file "
        "is kept in the database until its job is done)",
    )
    import_batch_size: int = Field(
        default=200,
        ge=1,
        le=10000,
        description="rows an import job commits at a time (each case still in its own savepoint); "
        "progress and counters move by this many rows",
    )
    import_default_region: RegionCode = Field(
        default="430100",
        description="GB/T 2260 code given to imported rows that have no region",
    )
    import_runner_enabled: bool = Field(
        default=True,
        description="run queued import jobs on this replica (off only for maintenance or tests; uploads "
        "are still accepted and wait for a replica that runs them)",
    )
