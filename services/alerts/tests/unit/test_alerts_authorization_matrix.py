"""Every alerts endpoint × every role × a caller of the case's own unit or of another unit.

The case and the subscriptions belong to 430104-zjj; the other unit is its sibling 430102-zjj.
Deadlines and alerts of a unit are for its own staff (a supervisor: its subtree) and for auditors
and admins; a case another unit may not see is answered 404. Subscriptions are managed by an
admin, or a handler or supervisor of the unit. An endpoint added without an entry fails the first
test.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.config import AlertsSettings
from alerts.deadlines import CaseState, Context, derive, reconcile
from alerts.deadlines_endpoints import _table
from alerts.main import create_app
from alerts.testing import NATIONAL, NATIONAL_POLICY_PATH, case_event
from alerts.tracker import fact_of
from alerts.units import UnitDirectory
from xinfang_common.auth import Role
from xinfang_common.calendar import load_calendar
from xinfang_common.migrate import upgrade_to_head
from xinfang_common.periods import SHANGHAI
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.access_matrix import ALL, Access, Request, check_matrix, operations, public
from xinfang_common.testing.auth import auth_settings_for_tests, bearer
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, UNIT_CHANGED

OWN_UNIT, OTHER_UNIT = "430104-zjj", "430102-zjj"
CASE = "matrix-case"
MANAGERS = (Role.ADMIN, Role.SUPERVISOR, Role.HANDLER)
SEE_ALL = (Role.ADMIN, Role.AUDITOR)


def by_unit(own: tuple[Role, ...], other: tuple[Role, ...], ok: int, hidden: int = 403) -> Access:
    """``own`` roles may on their unit's data, ``other`` roles on another unit's too."""
    return Access(
        401,
        {role: ok if role in own else 403 for role in ALL},
        {role: ok if role in other else hidden if role in own else 403 for role in ALL},
    )


MATRIX: dict[str, Access] = {
    "GET /healthz": public(),
    "GET /readyz": public(503),  # no broker here: rightly not ready, for anyone
    "POST /v1/calendar/due": public(),
    "GET /v1/deadlines/preview": public(),
    "GET /v1/deadlines": by_unit(ALL, SEE_ALL, 200),
    "GET /v1/deadlines/{case_id}": by_unit(ALL, SEE_ALL, 200, hidden=404),
    "GET /v1/alerts": by_unit(ALL, SEE_ALL, 200),
    "POST /v1/subscriptions": by_unit(MANAGERS, (Role.ADMIN,), 201),
    "GET /v1/subscriptions": by_unit(MANAGERS, (Role.ADMIN,), 200),
    "DELETE /v1/subscriptions/{subscription_id}": by_unit(MANAGERS, (Role.ADMIN,), 204),
}


def the_case() -> bytes:
    """The case assigned to 430104-zjj, with its acceptance and objection deadlines, as the table holds it."""
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    event = case_event("assigned", CASE, at, unit_code=OWN_UNIT)
    state = CaseState(case_id=CASE, policy=NATIONAL, first_seen_at=at)
    state = state.model_copy(update={"facts": [fact_of(CASE_ASSIGNED, event)]})
    derived = derive(state.facts, NATIONAL, Context(load_calendar(), SHANGHAI, "xfj"))
    result = reconcile(state, derived, now=at)
    return state.model_copy(update={"deadlines": result.deadlines}).to_json_bytes()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder = tmp_path_factory.mktemp("alerts-matrix")
    settings = AlertsSettings(policy_path=NATIONAL_POLICY_PATH, database_url=f"sqlite:///{folder / 'a.db'}")
    application = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings_for_tests()
    )
    store = {CASE: the_case()}
    application.dependency_overrides[_table] = lambda: store
    upgrade_to_head(application.state.engine, "alerts.migrations")  # the lifespan would join Kafka
    units: UnitDirectory = application.state.units
    for code, parent in {
        "430100-xfj": None,
        "430104-xfj": "430100-xfj",
        OWN_UNIT: "430104-xfj",
        "430102-xfj": "430100-xfj",
        OTHER_UNIT: "430102-xfj",
    }.items():
        units.apply(example_event(UNIT_CHANGED, code, parent=parent).data)
    return application


class Requests:
    """Builds each endpoint's request; a request that removes something gets something fresh to remove."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def subscription(self) -> str:
        hook = {"unit_code": OWN_UNIT, "channel": "email", "email": "duty@example.org"}
        created = self.client.post("/v1/subscriptions", json=hook, headers=bearer(OWN_UNIT, Role.ADMIN))
        assert created.status_code == 201, created.text
        subscription_id: str = created.json()["id"]
        return subscription_id

    def build(self, operation: str) -> Request:
        email = {"unit_code": OWN_UNIT, "channel": "email", "email": "duty@example.org"}
        own = {"unit": OWN_UNIT}
        builders: dict[str, Callable[[], tuple[str, dict[str, Any] | None, Any]]] = {
            "GET /healthz": lambda: ("/healthz", None, None),
            "GET /readyz": lambda: ("/readyz", None, None),
            "POST /v1/calendar/due": lambda: (
                "/v1/calendar/due",
                None,
                {"start": "2026-03-02T10:00:00+08:00", "period": "15d"},
            ),
            "GET /v1/deadlines/preview": lambda: ("/v1/deadlines/preview", {"start": "2026-03-02"}, None),
            "GET /v1/deadlines": lambda: ("/v1/deadlines", own, None),
            "GET /v1/deadlines/{case_id}": lambda: (f"/v1/deadlines/{CASE}", None, None),
            "GET /v1/alerts": lambda: ("/v1/alerts", own, None),
            "POST /v1/subscriptions": lambda: ("/v1/subscriptions", None, email),
            "GET /v1/subscriptions": lambda: ("/v1/subscriptions", own, None),
            "DELETE /v1/subscriptions/{subscription_id}": lambda: (
                f"/v1/subscriptions/{self.subscription()}",
                None,
                None,
            ),
        }
        path, params, body = builders[operation]()
        return operation.split(" ")[0], path, {"params": params, "json": body}


def test_every_endpoint_has_an_entry_in_the_matrix(app: FastAPI) -> None:
    assert operations(app) == set(MATRIX)


def test_each_role_of_the_own_and_another_unit_gets_the_documented_answer_the_table_expects(
    app: FastAPI,
) -> None:
    client = TestClient(app)  # not entered: the lifespan would join Kafka
    requests = Requests(client)
    wrong = check_matrix(client, app, MATRIX, requests.build, own_unit=OWN_UNIT, other_unit=OTHER_UNIT)
    assert not wrong, "\n".join(wrong)


def test_the_answers_hold_only_what_the_caller_may_see(app: FastAPI) -> None:
    client = TestClient(app)
    own = client.get("/v1/deadlines", headers=bearer(OWN_UNIT, Role.HANDLER)).json()
    other = client.get("/v1/deadlines", headers=bearer(OTHER_UNIT, Role.HANDLER)).json()
    superior = client.get("/v1/deadlines", headers=bearer("430104-xfj", Role.SUPERVISOR)).json()

    assert {d["case_id"] for d in own} == {d["case_id"] for d in superior} == {CASE}
    assert other == []
