"""The faust app embedded in the reporting service's FastAPI process."""

from __future__ import annotations

from typing import Any

import faust

from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import make_faust_app
from xinfang_common.topics import REPORTING

SERVICE = REPORTING


def build_faust_app(kafka: KafkaSettings, *, consumer_group: str) -> faust.App:
    """A faust app in ``consumer_group``; the agents are attached by reporting.agents."""
    return make_faust_app(SERVICE, kafka, id=consumer_group)


def stream_running(app: faust.App) -> bool:
    """Whether the faust app has started and is neither crashed nor stopping."""
    service: Any = app
    return bool(service.started and not service.crashed and not service.should_stop)
