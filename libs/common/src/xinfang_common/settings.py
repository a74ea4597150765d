"""Configuration from environment variables; every variable is listed in docs/configuration.md."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"not an IANA time zone: {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
"""An IANA time zone name such as ``Asia/Shanghai``, checked against the zone database."""


class XinfangSettings(BaseSettings):
    """Base of every settings class: environment first, then an optional ``.env`` file."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


class KafkaSettings(XinfangSettings):
    """How every service reaches Kafka (``XINFANG_KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_KAFKA_")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="comma-separated host:port list of brokers"
    )
    client_id_prefix: str = Field(default="xinfang", description="prefix of Kafka client ids")
    request_timeout_ms: int = Field(default=30000, ge=1000, description="Kafka request timeout")
    replication_factor: int = Field(
        default=1, ge=1, description="replicas of every topic the suite creates (3 on a production cluster)"
    )
    session_timeout_ms: int = Field(
        default=10000,
        ge=6000,
        description="consumer group session: how soon a dead consumer's partitions move to another",
    )

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]


class LogSettings(XinfangSettings):
    """Logging (``XINFANG_LOG_*``)."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_LOG_")

    level: str = Field(default="INFO", description="root log level")
    json_format: bool = Field(default=True, alias="XINFANG_LOG_JSON", description="JSON lines")


class StreamSettings(XinfangSettings):
    """Faust stream processing (``XINFANG_STREAM_*``)."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_STREAM_")

    data_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "xinfang-faust",
        description="faust's scratch folder; tables live in memory and are rebuilt from Kafka",
    )


class TracingSettings(XinfangSettings):
    """Tracing (``XINFANG_OTEL_*``); trace ids in logs and events need none of it."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_OTEL_")

    enabled: bool = Field(
        default=False,
        description="open OpenTelemetry spans for HTTP requests and handled events (needs the `otel` "
        "extra of xinfang-common; exported over OTLP to the standard OTEL_EXPORTER_OTLP_ENDPOINT when "
        "opentelemetry-exporter-otlp-proto-http is installed)",
    )
