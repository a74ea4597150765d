"""The faust app embedded in the alerts service: its topics and its table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TableT

from alerts.tables import deadlines_by_case
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import dlq_topic, make_faust_app, spec_topic
from xinfang_common.topics import ALERTS, CASE_ASSIGNED, DEADLINE_SCHEDULED


@dataclass(frozen=True)
class AlertsStream:
    """The faust app and everything declared on it."""

    app: faust.App
    case_assigned: faust.TopicT
    case_assigned_dlq: faust.TopicT
    deadline_scheduled: faust.TopicT
    deadlines: TableT[str, bytes]

    def is_ready(self) -> bool:
        """Running, not crashed, and the table restored from its changelog."""
        app: Any = self.app
        return bool(
            app.started and not app.crashed and not app.should_stop and app.tables.recovery.completed.is_set()
        )


def build_stream(kafka: KafkaSettings, *, consumer_group: str) -> AlertsStream:
    """A new faust app for alerts, in ``consumer_group``, with its topics and table."""
    app = make_faust_app(
        ALERTS,
        kafka,
        id=consumer_group,
    )
    return AlertsStream(
        app=app,
        case_assigned=spec_topic(app, CASE_ASSIGNED),
        case_assigned_dlq=dlq_topic(app, CASE_ASSIGNED, ALERTS),
        deadline_scheduled=spec_topic(app, DEADLINE_SCHEDULED),
        deadlines=deadlines_by_case(app),
    )
