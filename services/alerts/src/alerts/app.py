"""The faust app embedded in the alerts service: its topics and its table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.types import TableT

from alerts.tables import cases_by_id
from alerts.tracker import INPUT_SPECS
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import dlq_topic, make_faust_app, spec_topic
from xinfang_common.topics import ALERT_RAISED, ALERTS, DEADLINE_SCHEDULED, UNIT_CHANGED, TopicSpec


@dataclass(frozen=True)
class AlertsStream:
    """The faust app and everything declared on it."""

    app: faust.App
    inputs: faust.TopicT
    dead_letters: dict[str, faust.TopicT]
    deadline_scheduled: faust.TopicT
    alert_raised: faust.TopicT
    cases: TableT[str, bytes]

    def spec_of(self, topic: str) -> TopicSpec:
        """The spec of an input topic."""
        return next(spec for spec in INPUT_SPECS if spec.name == topic)

    def is_ready(self) -> bool:
        """Running, not crashed, and the table restored from its changelog."""
        app: Any = self.app
        return bool(
            app.started and not app.crashed and not app.should_stop and app.tables.recovery.completed.is_set()
        )


def build_stream(
    kafka: KafkaSettings,
    *,
    consumer_group: str,
    start_at_latest: bool = False,
    table_store: str = "memory://",
    data_dir: Path | None = None,
) -> AlertsStream:
    """A new faust app for alerts, in ``consumer_group``, with its topics and table."""
    reset = "latest" if start_at_latest else "earliest"
    # The app's store, not the table's: faust reads a table's ``store="rocksdb://"`` as unset.
    overrides: dict[str, Any] = {
        "id": consumer_group,
        "consumer_auto_offset_reset": reset,
        "store": table_store,
    }
    if data_dir is not None:
        overrides["datadir"] = str(data_dir)
    app = make_faust_app(ALERTS, kafka, **overrides)
    return AlertsStream(
        app=app,
        inputs=app.topic(
            *(spec.name for spec in INPUT_SPECS),
            key_type=bytes,
            value_type=bytes,
            partitions=INPUT_SPECS[0].partitions,
        ),
        dead_letters={spec.name: dlq_topic(app, spec, ALERTS) for spec in (*INPUT_SPECS, UNIT_CHANGED)},
        deadline_scheduled=spec_topic(app, DEADLINE_SCHEDULED),
        alert_raised=spec_topic(app, ALERT_RAISED),
        cases=cases_by_id(app, rocksdb=table_store.startswith("rocksdb:")),
    )
