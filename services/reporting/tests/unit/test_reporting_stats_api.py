"""The statistics API and /metrics over a database filled directly (no broker: no lifespan)."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reporting.config import ReportingSettings
from reporting.main import create_app
from reporting.metrics import install_case_counts, uninstall_case_counts
from reporting.readmodel.database import Database
from reporting.readmodel.projector import apply_event
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests as auth_settings
from xinfang_common.testing.auth import bearer

Make = Callable[..., CloudEvent[Any]]


@pytest.fixture
def client(tmp_path: Path, make_registered: Make, make_assigned: Make) -> Iterator[TestClient]:
    """The app on a SQLite file holding two cases; the faust app is built but never started."""
    settings = ReportingSettings(database_url=f"sqlite:///{tmp_path / 'reporting.db'}")
    app = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings(), log_setup=False
    )
    database: Database = app.state.database
    database.create_tables()
    now = datetime(2026, 3, 3, tzinfo=UTC)
    for event in (make_registered("c1"), make_assigned("c1"), make_registered("c2", channel="phone")):
        apply_event(database.sessions, event, now=now)
    install_case_counts(database)
    # Not entered as a context manager: the lifespan (Kafka) does not run.
    yield TestClient(app, headers=bearer("430100-xfj", "auditor"))
    uninstall_case_counts(database)
    database.close()


def test_summary_gives_only_aggregates(client: TestClient) -> None:
    response = client.get("/v1/stats/summary")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "registered",
        "assigned",
        "awaiting_assignment",
        "by_unit",
        "by_channel",
        "generated_at",
    }
    assert (body["registered"], body["assigned"], body["awaiting_assignment"]) == (2, 1, 1)
    assert body["by_unit"] == [
        {"unit_code": "430104-zjj", "unit_name": "岳麓区住房和城乡建设局", "assigned": 1}
    ]
    assert body["by_channel"]["phone"] == 1
    assert "c1" not in response.text


def test_filters_narrow_the_counts(client: TestClient) -> None:
    body = client.get(
        "/v1/stats/summary", params={"unit": "430104-zjj", "region": "430000", "from": "2026-03-02"}
    ).json()
    assert (body["registered"], body["assigned"], body["awaiting_assignment"]) == (1, 1, 0)
    assert client.get("/v1/stats/summary", params={"region": "440000"}).json()["registered"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "43"}, "query.region"),
        ({"unit": ""}, "query.unit"),
        ({"unit": "a b"}, "query.unit"),
        ({"from": "yesterday"}, "query.from"),
        ({"from": "2026-03-01T08:00:00"}, "query.from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "query.to"),
        ({"from": "2026-03-02T10:00:00+08:00", "to": "2026-03-02T10:00:00+08:00"}, "query.to"),
        ({"units": "430104-zjj"}, "query.units"),
    ],
)
def test_bad_filters_get_422_naming_the_field(client: TestClient, params: dict[str, str], field: str) -> None:
    response = client.get("/v1/stats/summary", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == [field]
    assert body["fields"][0]["reason"]


def test_metrics_count_cases_in_the_database(client: TestClient) -> None:
    metrics = client.get("/metrics").text
    assert 'xinfang_reporting_cases{state="registered"} 2.0' in metrics
    assert 'xinfang_reporting_cases{state="assigned"} 1.0' in metrics
    assert 'xinfang_reporting_cases{state="awaiting_assignment"} 1.0' in metrics
    assert 'xinfang_reporting_cases_by_channel{channel="phone"} 1.0' in metrics
    assert 'xinfang_reporting_cases_by_channel{channel="letter"} 0.0' in metrics


def test_creating_the_app_twice_keeps_one_collector(tmp_path: Path) -> None:
    for name in ("a.db", "b.db"):
        app = create_app(
            ReportingSettings(database_url=f"sqlite:///{tmp_path / name}"),
            KafkaSettings(bootstrap_servers="127.0.0.1:9"),
            auth_settings(),
            log_setup=False,
        )
        app.state.database.create_tables()
        install_case_counts(app.state.database)
        metrics = TestClient(app).get("/metrics").text
        assert metrics.count("# TYPE xinfang_reporting_cases gauge") == 1
        uninstall_case_counts(app.state.database)
        app.state.database.close()
