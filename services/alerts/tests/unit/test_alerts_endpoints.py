"""The HTTP API without a broker: the due-date calculator (golden dates), deadlines, bad input."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from alerts.config import AlertsSettings
from alerts.deadlines import CaseState, Context, derive, reconcile
from alerts.deadlines_endpoints import _table
from alerts.main import create_app
from alerts.notify.models import Base
from alerts.testing import NATIONAL, NATIONAL_POLICY_PATH, case_event, new_case_id
from alerts.tracker import fact_of
from xinfang_common.auth import AuthSettings, issue_token
from xinfang_common.calendar import load_calendar
from xinfang_common.periods import SHANGHAI
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import CASE_ASSIGNED

KEY = "alerts-unit-test-key-0123456789abcdef"


def token(unit: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject='staff-1', unit=unit, roles=roles, key=KEY)}"}


@pytest.fixture
def store() -> dict[str, bytes]:
    return {}


@pytest.fixture
def client(store: dict[str, bytes], tmp_path) -> TestClient:
    """The app with its table replaced by a dict; the lifespan (Kafka) is not started."""
    settings = AlertsSettings(policy_path=NATIONAL_POLICY_PATH, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    app = create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), AuthSettings(jwt_key=KEY))
    app.dependency_overrides[_table] = lambda: store
    return TestClient(app)


def due(client: TestClient, start: str, period: str) -> dict:
    response = client.post("/v1/calendar/due", json={"start": start, "period": period})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("start", "period", "last_day"),
    [
        # 2025 春节 28 Jan - 4 Feb; make-up working Sunday 26 Jan and Saturday 8 Feb
        ("2025-01-13T10:00:00+08:00", "15d", "2025-02-05"),
        ("2025-01-24T10:00:00+08:00", "5wd", "2025-02-07"),
        ("2025-02-04T10:00:00+08:00", "5wd", "2025-02-10"),
        # 2025 国庆节、中秋节 1-8 Oct; make-up Sunday 28 Sep and Saturday 11 Oct
        ("2025-09-16T10:00:00+08:00", "15d", "2025-10-09"),
        ("2025-09-26T10:00:00+08:00", "5wd", "2025-10-10"),
        ("2025-09-26T10:00:00+08:00", "15d", "2025-10-11"),
        # 2026 春节 15-23 Feb; make-up Saturdays 14 and 28 Feb
        ("2026-02-06T10:00:00+08:00", "15d", "2026-02-24"),
        ("2026-02-13T10:00:00+08:00", "15d", "2026-02-28"),
        # 2026 国庆节 1-7 Oct; make-up Sunday 20 Sep and Saturday 10 Oct
        ("2026-09-16T10:00:00+08:00", "15d", "2026-10-08"),
        ("2026-08-02T10:00:00+08:00", "60d", "2026-10-08"),
        ("2026-09-30T10:00:00+08:00", "5wd", "2026-10-13"),
        # month ends
        ("2026-01-16T10:00:00+08:00", "15d", "2026-02-02"),
        ("2026-03-31T10:00:00+08:00", "30d", "2026-04-30"),
        # 劳动节 2026: 60 days from 2 March end on 1 May, moved to 6 May
        ("2026-03-02T10:00:00+08:00", "60d", "2026-05-06"),
    ],
)
def test_golden_due_dates_on_the_official_calendar(client, start, period, last_day):
    body = due(client, start, period)

    assert body["last_day"] == last_day
    assert body["provisional"] is False


def test_a_leap_day_in_a_year_without_a_notice_is_provisional(client):
    body = due(client, "2028-02-14T10:00:00+08:00", "15d")

    assert body["last_day"] == "2028-02-29"
    assert body["due_at"] == "2028-03-01T00:00:00+08:00"
    assert body["provisional"] is True
    assert body["uncovered_years"] == [2028]
    assert due(client, "2028-01-31T10:00:00+08:00", "30d")["last_day"] == "2028-03-01"


def test_the_start_day_is_the_local_day(client):
    assert due(client, "2026-03-02T20:00:00Z", "15d")["start_day"] == "2026-03-03"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2026-03-02T10:00:00", "period": "15d"}, "start"),
        ({"start": "soon", "period": "15d"}, "start"),
        ({"start": "2026-03-02T10:00:00+08:00", "period": "15"}, "period"),
        ({"start": "2026-03-02T10:00:00+08:00", "period": "0d"}, "period"),
        ({"start": "2026-03-02T10:00:00+08:00", "period": "2fortnights"}, "period"),
        ({"start": "2026-03-02T10:00:00+08:00", "period": "99999d"}, "period"),
        ({"period": "15d"}, "start"),
    ],
)
def test_bad_due_input_is_a_422_naming_the_field(client, body, field):
    response = client.post("/v1/calendar/due", json=body)

    assert response.status_code == 422
    assert field in {f["field"] for f in response.json()["fields"]}


def test_preview_is_still_there(client):
    response = client.get("/v1/deadlines/preview", params={"start": "2026-02-06", "days": 15})

    assert response.json()["last_day"] == "2026-02-24"


def stored_case(store, unit_code: str = "430104-zjj") -> str:
    case_id = new_case_id()
    event = case_event("assigned", case_id, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), unit_code=unit_code)
    state = CaseState(case_id=case_id, policy=NATIONAL, first_seen_at=datetime.now(UTC))
    state = state.model_copy(update={"facts": [fact_of(CASE_ASSIGNED, event)]})
    derived = derive(state.facts, NATIONAL, Context(load_calendar(), SHANGHAI, "xfj"))
    result = reconcile(state, derived, now=datetime(2026, 3, 2, 1, 0, 1, tzinfo=UTC))
    store[case_id] = state.model_copy(update={"deadlines": result.deadlines}).to_json_bytes()
    return case_id


def test_deadlines_need_a_token(client):
    assert client.get("/v1/deadlines").status_code == 401


def test_a_unit_sees_its_running_deadlines_due_before_a_date(client, store):
    mine = stored_case(store)
    stored_case(store, unit_code="430100-other")

    response = client.get(
        "/v1/deadlines",
        params={"unit": "430104-zjj", "due_before": "2026-03-19T00:00:01+08:00"},
        headers=token("430104-zjj", "handler"),
    )

    assert response.status_code == 200, response.text
    rows = response.json()
    assert {r["case_id"] for r in rows} == {mine}
    assert {r["kind"] for r in rows} == {"acceptance", "objection"}
    acceptance = next(r for r in rows if r["kind"] == "acceptance")
    assert acceptance["due_at"] == "2026-03-18T00:00:00+08:00"
    assert acceptance["version"] == 1


def test_another_units_deadlines_are_forbidden(client, store):
    response = client.get(
        "/v1/deadlines", params={"unit": "430100-x"}, headers=token("430104-zjj", "handler")
    )

    assert response.status_code == 403


def test_a_case_shows_all_its_deadlines(client, store):
    case_id = stored_case(store)

    body = client.get(f"/v1/deadlines/{case_id}", headers=token("x", "auditor")).json()

    assert body["policy_version"] == "national-2022"
    assert {d["kind"] for d in body["deadlines"]} == {"acceptance", "objection"}
    assert client.get("/v1/deadlines/nope", headers=token("x", "auditor")).status_code == 404


def test_subscriptions_are_managed_per_unit(client):
    # The lifespan (which creates the tables) needs Kafka: create them directly.
    Base.metadata.create_all(client.app.state.engine)
    hook = {
        "unit_code": "430104-zjj",
        "channel": "webhook",
        "url": "http://127.0.0.1:9/h",
        "secret": "s" * 20,
    }

    assert (
        client.post("/v1/subscriptions", json=hook, headers=token("430100-x", "handler")).status_code == 403
    )
    created = client.post("/v1/subscriptions", json=hook, headers=token("430104-zjj", "handler"))
    assert created.status_code == 201, created.text
    assert "secret" not in created.json()
    bad = client.post(
        "/v1/subscriptions", json={**hook, "secret": None}, headers=token("430104-zjj", "handler")
    )
    assert bad.status_code == 422
    listed = client.get("/v1/subscriptions", headers=token("430104-zjj", "handler")).json()
    assert [s["id"] for s in listed] == [created.json()["id"]]
    sub_id = created.json()["id"]
    assert (
        client.delete(f"/v1/subscriptions/{sub_id}", headers=token("430104-zjj", "handler")).status_code
        == 204
    )
    assert client.delete(f"/v1/subscriptions/{sub_id}", headers=token("x", "admin")).status_code == 404


def test_health_metrics_and_a_not_ready_stream(client):
    assert client.get("/healthz").json() == {"status": "ok", "service": "alerts"}
    assert client.get("/readyz").status_code == 503
    metrics = client.get("/metrics").text
    assert 'xinfang_alerts_deadlines_scheduled_total{kind="completion"}' in metrics
    assert "xinfang_alerts_alert_lag_seconds" in metrics
    assert 'xinfang_alerts_deliveries_total{channel="webhook",outcome="failed"}' in metrics
