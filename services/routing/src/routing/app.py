"""The faust app embedded in the routing service's FastAPI process."""

from __future__ import annotations

import faust

from routing.config import RoutingSettings
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import make_faust_app

SERVICE = "routing"


def build_faust_app(kafka: KafkaSettings, settings: RoutingSettings) -> faust.App:
    """A faust app in the routing consumer group; agents are registered by routing.agents."""
    return make_faust_app(SERVICE, kafka, id=settings.consumer_group)
