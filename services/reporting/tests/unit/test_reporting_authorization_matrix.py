"""Every reporting endpoint × every role × a caller of the unit asked about or of another unit.

The figures asked for are those of r-city (with r-district below it); the other unit is its sibling
r-other. Reports are for supervisors (their own subtree only), auditors and admins; registrars and
handlers work on cases, not statistics. An endpoint added without an entry fails the first test.
"""

from collections.abc import Callable, Iterator
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
from xinfang_common.auth import Role
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.access_matrix import ALL, Access, Request, check_matrix, operations, public
from xinfang_common.testing.auth import auth_settings_for_tests, bearer
from xinfang_common.testing.events import example_event
from xinfang_common.topics import UNIT_CHANGED

OWN_UNIT, OTHER_UNIT = "r-city", "r-other"
READERS = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
SEE_ALL = (Role.AUDITOR, Role.ADMIN)


def readers(other: tuple[Role, ...] = SEE_ALL) -> Access:
    """Report readers may read their unit's figures; ``other`` roles another unit's too."""
    return Access(
        401,
        {role: 200 if role in READERS else 403 for role in ALL},
        {role: 200 if role in other else 403 for role in ALL},
    )


MATRIX: dict[str, Access] = {
    "GET /healthz": public(),
    "GET /readyz": public(503),  # no broker here: rightly not ready, for anyone
    # No unit to ask for: a supervisor's counts cover its own subtree, whichever unit it is.
    "GET /v1/stats/summary": readers(other=READERS),
    "GET /v1/kpis": readers(),
    "GET /v1/backlog": readers(),
    "GET /v1/trends": readers(),
    "GET /v1/surges": readers(),
    "GET /v1/exports/kpis.csv": readers(),
    "GET /v1/exports/kpis.xlsx": readers(),
    "GET /v1/exports/annual-report.xlsx": readers(),
}


@pytest.fixture
def app(tmp_path: Path, scenario: list[CloudEvent[Any]]) -> Iterator[FastAPI]:
    """The app on the KPI tests' scenario (units r-root > r-city > r-district, six cases) and a sibling
    unit r-other."""
    settings = ReportingSettings(database_url=f"sqlite:///{tmp_path / 'reporting.db'}")
    application = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings_for_tests(), log_setup=False
    )
    database: Database = application.state.database
    # What the lifespan does before it joins Kafka.
    database.create_tables()
    ensure_rollups(database, settings.zone)
    sibling = example_event(UNIT_CHANGED, OTHER_UNIT, name="单位r-other", parent="r-root")
    for event in [*scenario, sibling]:
        apply_event(database.sessions, event, now=datetime(2025, 6, 1, tzinfo=UTC))
    yield application
    database.close()


def build(operation: str) -> Request:
    own = {"unit": OWN_UNIT}
    builders: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
        "GET /healthz": lambda: ("/healthz", {}),
        "GET /readyz": lambda: ("/readyz", {}),
        "GET /v1/stats/summary": lambda: ("/v1/stats/summary", {}),
        "GET /v1/kpis": lambda: ("/v1/kpis", own),
        "GET /v1/backlog": lambda: ("/v1/backlog", own),
        "GET /v1/trends": lambda: ("/v1/trends", own),
        "GET /v1/surges": lambda: ("/v1/surges", own),
        "GET /v1/exports/kpis.csv": lambda: ("/v1/exports/kpis.csv", own),
        "GET /v1/exports/kpis.xlsx": lambda: ("/v1/exports/kpis.xlsx", own),
        "GET /v1/exports/annual-report.xlsx": lambda: (
            "/v1/exports/annual-report.xlsx",
            {**own, "year": 2025},
        ),
    }
    path, params = builders[operation]()
    return operation.split(" ")[0], path, {"params": params}


def test_every_endpoint_has_an_entry_in_the_matrix(app: FastAPI) -> None:
    assert operations(app) == set(MATRIX)


def test_each_role_of_the_own_and_another_unit_gets_the_documented_answer_the_table_expects(
    app: FastAPI,
) -> None:
    client = TestClient(app)  # not entered: the lifespan would join Kafka
    wrong = check_matrix(client, app, MATRIX, build, own_unit=OWN_UNIT, other_unit=OTHER_UNIT)
    assert not wrong, "\n".join(wrong)


def test_a_supervisor_of_another_unit_counts_only_its_own_subtree(app: FastAPI) -> None:
    client = TestClient(app)
    own = client.get("/v1/stats/summary", headers=bearer(OWN_UNIT, Role.SUPERVISOR)).json()
    other = client.get("/v1/stats/summary", headers=bearer(OTHER_UNIT, Role.SUPERVISOR)).json()

    assert own["assigned"] > 0
    assert other["assigned"] == 0
