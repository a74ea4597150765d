"""Who may see and do what: bearer tokens, roles, units, the audit log and the Art. 30 shield."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intake.consumers import apply_message
from xinfang_common.auth import issue_token
from xinfang_common.testing.auth import TEST_JWT_KEY, bearer
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, UNIT_CHANGED

pytestmark = pytest.mark.database

# A slice of the demo tree: the city petition office (root) with the discipline inspection
# commission, and a district petition office with its housing bureau and a sub-office.
TREE = {
    "430100-xfj": None,
    "430100-jw": "430100-xfj",
    "430104-xfj": "430100-xfj",
    "430104-zjj": "430104-xfj",
    "430104-zjj-wy": "430104-zjj",
    "430103-zjj": "430100-xfj",
}
CITY, JW, DISTRICT, HOUSING, HOUSING_SUB, OTHER = TREE


@pytest.fixture
def app(intake_app: Callable[..., FastAPI]) -> Iterator[FastAPI]:
    """An intake app without Kafka that knows the tree above, as if from routing's units topic."""
    application = intake_app(relay_enabled=False, consumer_enabled=False)
    with TestClient(application):
        factory = application.state.intake.session_factory
        for code, parent in TREE.items():
            event = example_event(UNIT_CHANGED, code, name=f"单位 {code}", parent=parent)
            assert (
                apply_message(factory, event.to_json_bytes(), key=code.encode(), topic=UNIT_CHANGED.name)
                == "applied"
            )
        yield application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Requests without a token unless a test passes ``headers``."""
    with TestClient(app) as c:
        yield c


def as_(unit: str, *roles: str, subject: str = "") -> dict[str, str]:
    return bearer(unit, *roles, subject=subject)


ADMIN = as_(CITY, "admin")


def register(client: TestClient, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> str:
    response = client.post("/v1/petitions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    case_id: str = response.json()["id"]
    return case_id


def route(app: FastAPI, case_id: str, unit_code: str, petition_type: str | None = None) -> None:
    event = example_event(
        CASE_ASSIGNED,
        case_id,
        unit_code=unit_code,
        unit_name=f"单位 {unit_code}",
        petition_type=petition_type,
        assigned_at=datetime.now(UTC),
    )
    assert (
        apply_message(app.state.intake.session_factory, event.to_json_bytes(), key=case_id.encode())
        == "applied"
    )


def listed(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/v1/petitions", headers=headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


# --- tokens -------------------------------------------------------------------------------------


def test_no_token_bad_token_and_expired_token_get_401(client: TestClient) -> None:
    assert client.get("/v1/petitions").status_code == 401
    bad = client.get("/v1/petitions", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith("Bearer")
    expired = issue_token(
        subject="staff-1",
        unit=CITY,
        roles=["admin"],
        key=TEST_JWT_KEY,
        now=datetime.now(UTC) - timedelta(hours=10),
        lifetime=timedelta(hours=1),
    )
    answer = client.get("/v1/petitions", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    forged = issue_token(subject="staff-1", unit=CITY, roles=["admin"], key="another-key-" + "x" * 32)
    assert client.get("/v1/petitions", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_token_without_unit_or_roles_is_refused(client: TestClient) -> None:
    import jwt

    claims = {"sub": "s", "iss": "xinfang", "aud": "xinfang", "iat": 1, "exp": 4102444800}
    token = jwt.encode(claims, TEST_JWT_KEY, algorithm="HS256")
    answer = client.get("/v1/petitions", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert "unit" in answer.json()["detail"]
    assert "roles" in answer.json()["detail"]


def test_the_app_refuses_to_start_without_a_token_key(
    intake_app: Callable[..., FastAPI], database_url: str, encryption_key: str
) -> None:
    from intake.config import IntakeSettings
    from intake.main import create_app
    from xinfang_common.auth import AuthConfigError, AuthSettings
    from xinfang_common.settings import KafkaSettings

    settings = IntakeSettings(database_url=database_url, encryption_keys=encryption_key)
    with pytest.raises(AuthConfigError, match="XINFANG_AUTH_JWT_KEY"):
        create_app(settings, KafkaSettings(), AuthSettings(jwt_key=""))
    with pytest.raises(AuthConfigError, match="32 bytes"):
        create_app(settings, KafkaSettings(), AuthSettings(jwt_key="short"))


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["handler", "supervisor", "auditor"])
def test_only_registrars_and_admins_register(
    client: TestClient, petition_body: Callable[..., dict[str, Any]], role: str
) -> None:
    answer = client.post("/v1/petitions", json=petition_body(), headers=as_(DISTRICT, role))
    assert answer.status_code == 403
    assert "registrar" in answer.json()["detail"]
    assert (
        client.post("/v1/petitions", json=petition_body(), headers=as_(DISTRICT, "registrar")).status_code
        == 201
    )


def test_handler_sees_and_acts_only_on_its_units_cases(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(app, case_id, HOUSING)
    own, other = as_(HOUSING, "handler"), as_(OTHER, "handler")

    assert client.get(f"/v1/petitions/{case_id}", headers=own).status_code == 200
    assert case_id in listed(client, own)

    # Another unit's handler: the case does not exist for it, to read or to act on.
    assert client.get(f"/v1/petitions/{case_id}", headers=other).status_code == 404
    assert case_id not in listed(client, other)
    refused = client.post(f"/v1/petitions/{case_id}/actions", json={"action": "accept"}, headers=other)
    assert refused.status_code == 404

    accepted = client.post(f"/v1/petitions/{case_id}/actions", json={"action": "accept"}, headers=own)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["timeline"][-1]["actor"] == "test-handler"


def test_supervisor_reads_its_subtree_but_does_not_act(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    below = register(client, petition_body())
    route(app, below, HOUSING_SUB)
    elsewhere = register(client, petition_body())
    route(app, elsewhere, OTHER)
    supervisor = as_(DISTRICT, "supervisor")

    seen = listed(client, supervisor)
    assert below in seen
    assert elsewhere not in seen
    assert client.get(f"/v1/petitions/{below}", headers=supervisor).status_code == 200
    assert client.get(f"/v1/petitions/{elsewhere}", headers=supervisor).status_code == 404
    answer = client.post(f"/v1/petitions/{below}/actions", json={"action": "accept"}, headers=supervisor)
    assert answer.status_code == 403


def test_supervisor_who_is_also_handler_acts_only_on_its_own_units_cases(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    below = register(client, petition_body())
    route(app, below, HOUSING)
    both = as_(DISTRICT, "supervisor", "handler")
    answer = client.post(f"/v1/petitions/{below}/actions", json={"action": "accept"}, headers=both)
    assert answer.status_code == 403
    assert "assigned" in answer.json()["detail"]


def test_registrar_sees_what_its_office_registered(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    ours = register(client, petition_body(), headers=as_(DISTRICT, "registrar", subject="clerk-7"))
    theirs = register(client, petition_body(), headers=as_(CITY, "registrar"))
    route(app, ours, HOUSING)
    registrar = as_(DISTRICT, "registrar")
    assert listed(client, registrar) >= {ours}
    assert theirs not in listed(client, registrar)
    case = client.get(f"/v1/petitions/{ours}", headers=registrar).json()
    assert case["timeline"][0]["actor"] == "clerk-7"
    # Registering is not handling: the registrar cannot accept the case it registered.
    assert (
        client.post(f"/v1/petitions/{ours}/actions", json={"action": "accept"}, headers=registrar).status_code
        == 403
    )


def test_auditor_reads_everything_but_changes_nothing(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(app, case_id, HOUSING)
    auditor = as_(JW, "auditor")
    assert case_id in listed(client, auditor)
    assert client.get(f"/v1/petitions/{case_id}", headers=auditor).status_code == 200
    assert (
        client.post(
            f"/v1/petitions/{case_id}/actions", json={"action": "accept"}, headers=auditor
        ).status_code
        == 403
    )
    assert client.get(f"/v1/petitions/{case_id}/petitioners", headers=auditor).status_code == 403


# --- personal data and the audit log ------------------------------------------------------------


def test_every_read_of_personal_data_is_audited(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(app, case_id, HOUSING)
    handler = as_(HOUSING, "handler", subject="staff-0427")

    full = client.get(f"/v1/petitions/{case_id}/petitioners", headers=handler)
    assert full.status_code == 200, full.text
    assert full.json()["petitioners"][0] == {
        "name": "张三丰",
        "id_number": "11010519491231002X",
        "phone": "+8613812345678",
        "address": "长沙市岳麓区某街道1号",
    }
    masked = client.get(f"/v1/petitions/{case_id}", headers=handler).json()
    assert masked["petitioners"][0]["name"] != "张三丰"

    # Handlers cannot read the log; auditors can, and find both reads.
    assert client.get("/v1/audit/personal-data-reads", headers=handler).status_code == 403
    log = client.get(
        "/v1/audit/personal-data-reads", params={"case_id": case_id}, headers=as_(CITY, "auditor")
    )
    assert log.status_code == 200, log.text
    entries = log.json()["items"]
    assert [(e["actor"], e["actor_unit"], e["masked"]) for e in entries] == [
        ("staff-0427", HOUSING, True),
        ("staff-0427", HOUSING, False),
    ]
    assert entries[1]["fields"] == [
        "petitioners[0].name",
        "petitioners[0].id_number",
        "petitioners[0].phone",
        "petitioners[0].address",
    ]
    assert entries[1]["endpoint"] == f"GET /v1/petitions/{case_id}/petitioners"
    by_actor = client.get(
        "/v1/audit/personal-data-reads", params={"actor": "nobody"}, headers=as_(CITY, "auditor")
    )
    assert by_actor.json()["items"] == []


def test_audit_log_pages_with_a_cursor(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    for _ in range(3):
        assert client.get(f"/v1/petitions/{case_id}/petitioners", headers=ADMIN).status_code == 200
    params: dict[str, Any] = {"case_id": case_id, "limit": 2}
    first = client.get("/v1/audit/personal-data-reads", params=params, headers=ADMIN).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    params["cursor"] = first["next_cursor"]
    second = client.get("/v1/audit/personal-data-reads", params=params, headers=ADMIN).json()
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    bad = client.get("/v1/audit/personal-data-reads", params={"cursor": "x"}, headers=ADMIN)
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "query.cursor"


def test_a_failed_read_leaves_no_audit_entry_and_no_data(client: TestClient) -> None:
    answer = client.get("/v1/petitions/no-such-case/petitioners", headers=ADMIN)
    assert answer.status_code == 404
    log = client.get("/v1/audit/personal-data-reads", params={"case_id": "no-such-case"}, headers=ADMIN)
    assert log.json()["items"] == []


# --- Art. 30: the reported unit reads nothing of a report ----------------------------------------


def test_a_report_is_invisible_to_the_reported_unit_and_everything_below_it(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    report = register(
        client,
        petition_body(
            petition_type="report",
            category=None,
            subject_unit=HOUSING,
            title="举报某局工作人员违规收费",
            content="举报岳麓区住建局某科室工作人员在办理业务时违规收取费用。",
        ),
    )
    route(app, report, JW, petition_type="report")
    ordinary = register(client, petition_body())
    route(app, ordinary, HOUSING)

    for headers in (
        as_(HOUSING, "handler"),
        as_(HOUSING, "supervisor"),
        as_(HOUSING_SUB, "supervisor", "handler"),
        as_(HOUSING, "admin"),
        as_(HOUSING, "auditor"),
    ):
        assert report not in listed(client, headers), headers
        assert client.get(f"/v1/petitions/{report}", headers=headers).status_code == 404
        assert client.get(f"/v1/petitions/{report}/petitioners", headers=headers).status_code in (403, 404)
        assert client.get("/v1/petitions", params={"q": "违规收费"}, headers=headers).json()["items"] == []

    # The reported unit still sees its ordinary cases, and the units above it see the report.
    assert ordinary in listed(client, as_(HOUSING, "handler"))
    assert report in listed(client, as_(CITY, "supervisor"))
    assert client.get(f"/v1/petitions/{report}/petitioners", headers=as_(JW, "handler")).status_code == 200


def test_a_report_classified_by_routing_is_shielded_too(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    # Registered without a type; routing's decision says it is a report.
    case_id = register(client, petition_body(petition_type=None, subject_unit=HOUSING))
    assert case_id in listed(client, as_(HOUSING, "admin"))
    route(app, case_id, JW, petition_type="report")
    assert case_id not in listed(client, as_(HOUSING, "admin"))


def test_cases_without_type_or_subject_stay_listed(
    app: FastAPI, client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    untyped = register(client, petition_body(petition_type=None, category=None))
    report_without_subject = register(client, petition_body(petition_type="report", category=None))
    seen = listed(client, ADMIN)
    assert {untyped, report_without_subject} <= seen


@pytest.mark.parametrize("role", ["registrar", "handler", "supervisor", "auditor"])
def test_only_admins_import(client: TestClient, role: str) -> None:
    body = "id,title,body,time\n1,路灯不亮,小区路灯损坏多日,2019-04-25 09:32:09\n"
    headers = {**as_(CITY, role), "content-type": "text/csv"}
    assert client.post("/v1/imports", content=body.encode(), headers=headers).status_code == 403
    assert client.get("/v1/imports/any-job", headers=as_(CITY, role)).status_code == 403
    assert (
        client.post("/v1/imports", content=body.encode(), headers={"content-type": "text/csv"}).status_code
        == 401
    )
    accepted = client.post(
        "/v1/imports", content=body.encode(), headers={**ADMIN, "content-type": "text/csv"}
    )
    assert accepted.status_code == 202, accepted.text
