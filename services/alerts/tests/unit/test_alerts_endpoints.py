"""The HTTP API without a broker: the due-date calculator, a case's deadlines, bad input."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from alerts.config import AlertsSettings
from alerts.deadlines_endpoints import _table
from alerts.main import create_app
from alerts.policies import NATIONAL_2022
from alerts.scheduling import Scheduled, plan_acceptance
from xinfang_common.calendar import load_calendar
from xinfang_common.periods import SHANGHAI
from xinfang_common.settings import KafkaSettings


@pytest.fixture
def store() -> dict[str, bytes]:
    return {}


@pytest.fixture
def client(store: dict[str, bytes]) -> TestClient:
    """The app with its table replaced by a dict; the lifespan (Kafka) is not started."""
    app = create_app(AlertsSettings(), KafkaSettings(bootstrap_servers="127.0.0.1:9"))
    app.dependency_overrides[_table] = lambda: store
    return TestClient(app)


def preview(client: TestClient, **params: object) -> dict:
    response = client.get("/v1/deadlines/preview", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_preview_computes_the_15_day_acceptance_period_by_default(client):
    body = preview(client, start="2026-02-06T10:00:00+08:00")

    assert body == {
        "start_day": "2026-02-06",
        "period": 15,
        "period_unit": "calendar_days",
        "last_day": "2026-02-24",
        "due_at": "2026-02-25T00:00:00+08:00",
        "timezone": "Asia/Shanghai",
        "calendar_covered": True,
        "uncovered_years": [],
    }


def test_preview_counts_local_days_for_a_utc_start(client):
    body = preview(client, start="2026-03-02T20:00:00Z")

    assert body["start_day"] == "2026-03-03"
    assert body["due_at"] == "2026-03-19T00:00:00+08:00"


def test_preview_accepts_an_offset_whose_plus_sign_was_not_url_encoded(client):
    response = client.get("/v1/deadlines/preview?start=2026-03-03T04:00:00+08:00")

    assert response.status_code == 200, response.text
    assert response.json()["start_day"] == "2026-03-03"


def test_preview_accepts_a_local_date(client):
    assert preview(client, start="2026-03-03")["last_day"] == "2026-03-18"


def test_preview_counts_working_days(client):
    body = preview(client, start="2026-02-13T09:00:00+08:00", days=5, unit="working_days")

    assert body["last_day"] == "2026-02-27"


def test_preview_says_when_the_calendar_does_not_cover_a_year(client):
    body = preview(client, start="2031-01-01")

    assert body["calendar_covered"] is False
    assert body["uncovered_years"] == [2031]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "query.start"),
        ({"start": "2026-03-02T10:00:00"}, "query.start"),  # no offset: which day is ambiguous
        ({"start": "next tuesday"}, "query.start"),
        ({"start": "2026-03-02", "days": 0}, "query.days"),
        ({"start": "2026-03-02", "days": 100000}, "query.days"),
        ({"start": "2026-03-02", "days": "many"}, "query.days"),
        ({"start": "2026-03-02", "unit": "fortnights"}, "query.unit"),
    ],
)
def test_bad_preview_input_is_a_422_naming_the_field(client, params, field):
    response = client.get("/v1/deadlines/preview", params=params)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert field in {f["field"] for f in body["fields"]}


def test_an_unknown_case_is_a_404(client):
    response = client.get("/v1/deadlines/no-such-case")

    assert response.status_code == 404
    assert response.json()["error"] == "DeadlinesNotFound"


def test_a_case_id_too_long_is_a_422(client):
    response = client.get(f"/v1/deadlines/{'x' * 65}")

    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "path.case_id"


def test_a_case_shows_its_stored_deadlines(client, store, make_assigned):
    assigned = make_assigned(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    plan = plan_acceptance(
        assigned,
        None,
        default_policy=NATIONAL_2022,
        calendar=load_calendar(),
        tz=SHANGHAI,
        now=datetime(2026, 3, 2, 20, 0, 1, tzinfo=UTC),
    )
    assert isinstance(plan, Scheduled)
    store[assigned.data.case_id] = plan.deadlines.to_json_bytes()

    response = client.get(f"/v1/deadlines/{assigned.data.case_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["case_id"] == assigned.data.case_id
    [deadline] = body["deadlines"]
    assert deadline["kind"] == "acceptance"
    assert deadline["deadline_id"] == f"{assigned.data.case_id}:acceptance"
    assert deadline["due_at"] == "2026-03-19T00:00:00+08:00"
    assert deadline["policy_version"] == "national-2022"
    assert deadline["legal_basis"] == "信访工作条例 第二十三条"
    assert deadline["event_id"] == plan.event.id


def test_health_metrics_and_a_not_ready_stream(client):
    assert client.get("/healthz").json() == {"status": "ok", "service": "alerts"}
    # The faust app is not started here, so the service must not claim to be ready.
    assert client.get("/readyz").status_code == 503
    metrics = client.get("/metrics").text
    assert 'xinfang_alerts_deadlines_scheduled_total{kind="acceptance"}' in metrics
    assert "xinfang_alerts_calendar_uncovered_total" in metrics
