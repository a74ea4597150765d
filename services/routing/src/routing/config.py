"""Routing settings (``ROUTING_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from xinfang_common.settings import XinfangSettings


class RoutingSettings(XinfangSettings):
    """How the routing service finds its org tree and joins Kafka."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_")

    org_tree_path: Path = Field(
        default=Path("deploy/config/org-tree.demo.yaml"),
        description="YAML file with the org tree (units, regions, categories); relative paths "
        "are resolved from the working directory; a bad file stops start-up",
    )
    consumer_group: str = Field(
        default="xinfang-routing",
        min_length=1,
        description="Kafka consumer group (faust app id); every routing replica must share it",
    )
    publish_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest pause between attempts to publish a CaseAssigned while Kafka refuses it",
    )
    classifier_model_path: Path | None = Field(
        default=None,
        description="model file from `xinfang-routing train` that predicts the category of petitions "
        "without one; empty means no classifier; a missing or broken file stops start-up, and a "
        "changed file is reloaded within seconds (a broken new one keeps the old model)",
    )
    classifier_min_confidence: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="lowest classifier confidence at which routing goes by the predicted category; "
        "below it the petition goes to the region's petition office",
    )

    @field_validator("classifier_model_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
