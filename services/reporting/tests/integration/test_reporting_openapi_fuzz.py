"""Property-based requests generated from reporting's OpenAPI document: never a 500, always as documented.

The app runs in-process on a SQLite file holding the hand-made scenario of the KPI tests; its
lifespan, which joins Kafka, is replaced by one that only builds the tables and the rollups.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from reporting.config import ReportingSettings
from reporting.kpis.rollups import ensure_rollups
from reporting.main import create_app
from reporting.readmodel.database import Database
from reporting.readmodel.projector import apply_event
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests, bearer
from xinfang_common.testing.openapi_fuzz import fuzz_openapi

pytestmark = pytest.mark.database

EXAMPLES_PER_OPERATION = 130


@pytest.fixture
def fuzz_app(tmp_path: Path, scenario: list[CloudEvent[Any]]) -> Iterator[FastAPI]:
    settings = ReportingSettings(database_url=f"sqlite:///{tmp_path / 'reporting.db'}")
    app = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings_for_tests(), log_setup=False
    )
    database: Database = app.state.database

    @asynccontextmanager
    async def tables_only(_: FastAPI) -> AsyncIterator[None]:
        database.create_tables()
        ensure_rollups(database, settings.zone)
        now = datetime(2025, 6, 1, tzinfo=UTC)
        for event in scenario:
            apply_event(database.sessions, event, now=now)
        yield

    app.router.lifespan_context = tables_only
    yield app
    database.close()


def test_generated_requests_get_documented_answers_and_never_a_500(fuzz_app: FastAPI) -> None:
    sent = fuzz_openapi(fuzz_app, headers=bearer(), examples_per_operation=EXAMPLES_PER_OPERATION)
    assert sum(sent.values()) >= 1000, sent


def test_an_annual_report_for_a_unit_code_with_a_control_character_is_still_a_workbook(
    fuzz_app: FastAPI,
) -> None:
    """Found by the run above: openpyxl refused the whole workbook for the scope's "\\x01" (a 500)."""
    with TestClient(fuzz_app) as client:
        response = client.get(
            "/v1/exports/annual-report.xlsx", params={"year": 2025, "unit": "r\x01city"}, headers=bearer()
        )

    assert response.status_code == 200
    assert response.content.startswith(b"PK")
