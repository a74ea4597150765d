"""Routing settings (``ROUTING_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
