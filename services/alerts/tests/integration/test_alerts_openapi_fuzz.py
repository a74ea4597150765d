"""Property-based requests generated from alerts' OpenAPI document: never a 500, always as documented.

The app runs in-process on a migrated SQLite file, its case table a dict holding one case; its
lifespan, which joins Kafka, is replaced by one that only migrates the database.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI

from alerts.config import AlertsSettings
from alerts.deadlines import CaseState, Context, derive, reconcile
from alerts.deadlines_endpoints import _table
from alerts.main import create_app
from alerts.testing import NATIONAL, NATIONAL_POLICY_PATH, case_event
from alerts.tracker import fact_of
from xinfang_common.calendar import load_calendar
from xinfang_common.migrate import upgrade_to_head
from xinfang_common.periods import SHANGHAI
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests, bearer
from xinfang_common.testing.openapi_fuzz import fuzz_openapi
from xinfang_common.topics import CASE_ASSIGNED

pytestmark = pytest.mark.database

EXAMPLES_PER_OPERATION = 130


def one_case() -> dict[str, bytes]:
    """A case assigned to 430104-zjj, with its acceptance and objection deadlines, as the table holds it."""
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    state = CaseState(case_id="fuzz-case", policy=NATIONAL, first_seen_at=at)
    state = state.model_copy(
        update={"facts": [fact_of(CASE_ASSIGNED, case_event("assigned", "fuzz-case", at))]}
    )
    derived = derive(state.facts, NATIONAL, Context(load_calendar(), SHANGHAI, "xfj"))
    result = reconcile(state, derived, now=at)
    return {"fuzz-case": state.model_copy(update={"deadlines": result.deadlines}).to_json_bytes()}


@pytest.fixture
def fuzz_app(tmp_path: Path) -> FastAPI:
    settings = AlertsSettings(policy_path=NATIONAL_POLICY_PATH, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    app = create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings_for_tests())
    store = one_case()
    app.dependency_overrides[_table] = lambda: store

    @asynccontextmanager
    async def migrate_only(_: FastAPI) -> AsyncIterator[None]:
        upgrade_to_head(app.state.engine, "alerts.migrations")
        yield

    app.router.lifespan_context = migrate_only
    return app


def test_generated_requests_get_documented_answers_and_never_a_500(fuzz_app: FastAPI) -> None:
    sent = fuzz_openapi(fuzz_app, headers=bearer(), examples_per_operation=EXAMPLES_PER_OPERATION)
    assert sum(sent.values()) >= 1000, sent
