"""Property-based requests generated from routing's OpenAPI document: never a 500, always as documented.

The app runs in-process on a SQLite file, its Kafka topics replaced by recorders; its lifespan, which
joins Kafka, is replaced by one that only creates the tables.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from routing.config import RoutingSettings
from routing.main import create_app
from routing.state import RoutingState
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import bearer
from xinfang_common.testing.openapi_fuzz import fuzz_openapi

pytestmark = pytest.mark.database

EXAMPLES_PER_OPERATION = 170


class Recorder:
    """Stands in for the units topic and the topics routing publishes to."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_unit(self, code: str, event: CloudEvent[Any] | None) -> None:
        self.sent += 1

    async def publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        self.sent += 1


@pytest.fixture
def fuzz_app(demo_tree_path: Path, tmp_path: Path) -> FastAPI:
    settings = RoutingSettings(
        org_tree_path=demo_tree_path,
        database_url=f"sqlite:///{tmp_path / 'routing.db'}",
        training_data_path=tmp_path / "training.csv",
    )
    app = create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    state: RoutingState = app.state.routing
    recorder = Recorder()
    state.units.sender = recorder.send_unit
    assert state.router is not None
    state.router._publish = recorder.publish
    database = state.router.service.database

    @asynccontextmanager
    async def tables_only(_: FastAPI) -> AsyncIterator[None]:
        database.create_tables()
        yield

    app.router.lifespan_context = tables_only
    return app


def test_generated_requests_get_documented_answers_and_never_a_500(fuzz_app: FastAPI) -> None:
    sent = fuzz_openapi(fuzz_app, headers=bearer(), examples_per_operation=EXAMPLES_PER_OPERATION)
    assert sum(sent.values()) >= 1000, sent
