"""Routing settings (``ROUTING_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from xinfang_common.domain import UnitKind
from xinfang_common.settings import XinfangSettings


class RoutingSettings(XinfangSettings):
    """How the routing service finds its org tree, rules and database, and joins Kafka."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_")

    org_tree_path: Path = Field(
        default=Path("deploy/config/org-tree.demo.yaml"),
        description="YAML file with the org tree (units, regions, categories) that seeds the units topic "
        "when it is empty; once the topic holds units, they are the tree and the file is not used; "
        "relative paths are resolved from the working directory; a bad file stops start-up",
    )
    rules_path: Path | None = Field(
        default=Path("deploy/config/routing-rules.demo.yaml"),
        description="YAML file with the ordered routing rules (first match wins, before the built-in "
        "defaults); empty means none; a bad file stops start-up, a changed file is reloaded within "
        "seconds (a broken new one keeps the old rules)",
    )
    database_url: str = Field(
        default="sqlite:///var/routing.db",
        min_length=1,
        description="SQLAlchemy URL of routing's own database (cases it routed, objections, triage queue, "
        "repeat fingerprints, processed event ids): sqlite:///<file> or "
        "postgresql+psycopg://user:password@host/db; replicas must share one PostgreSQL database",
    )
    consumer_group: str = Field(
        default="xinfang-routing",
        min_length=1,
        description="Kafka consumer group (faust app id); every routing replica must share it",
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
        description="messages of different cases handled at once per agent (each case's in order; "
        "decisions themselves stay one at a time): overlaps the waits for the broker's "
        "acknowledgements; 1 handles one message at a time",
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
        "below it the petition waits in the manual triage queue (GET /v1/triage)",
    )
    training_data_path: Path = Field(
        default=Path("var/routing-training.csv"),
        description="CSV file (text,label) to which each manual triage decision with a category is "
        "appended; `xinfang-routing train --input` reads it",
    )
    report_target_kind: UnitKind = Field(
        default=UnitKind.DISCIPLINE_INSPECTION,
        description="kind of unit a report (检举控告) goes to when it may not go to the unit it would "
        "otherwise (Art. 30): the nearest such unit serving the region outside the unit reported on",
    )
    repeat_similarity: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="lowest text similarity (Jaccard of character bigrams of title and content; unrelated "
        "petitions score under 0.1) at which a petition on the same subject unit, or the same region and "
        "category, is linked to an earlier one",
    )
    repeat_window_days: int = Field(
        default=180,
        ge=1,
        description="how far back (days before registration) earlier petitions are looked at for repeats",
    )
    surge_window_hours: float = Field(
        default=24,
        gt=0,
        description="length of the sliding window in which new petitions per category and unit are counted",
    )
    surge_baseline_windows: int = Field(
        default=7,
        ge=1,
        description="how many windows before the current one make the usual level (their mean)",
    )
    surge_ratio: float = Field(
        default=3.0,
        gt=1,
        description="a window counting at least this many times the usual level is a surge",
    )
    surge_min_count: int = Field(
        default=10,
        ge=1,
        description="fewest petitions in the window for a surge, whatever the usual level",
    )

    @field_validator("classifier_model_path", "rules_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
