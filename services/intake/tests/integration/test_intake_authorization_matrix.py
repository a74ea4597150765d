"""Every intake endpoint × every role × a caller of the case's own unit or of another unit.

The case is registered by 430104-zjj and assigned to it; the other unit is its sibling 430102-zjj
(see ``intake.access.policy``). A case the caller may not see is answered 404, as if it did not
exist. The tracking and Open311 endpoints are the public's: the same answer with any token or none.
An endpoint added without an entry fails the first test.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intake.consumers import apply_message
from xinfang_common.auth import Role
from xinfang_common.testing.access_matrix import ALL, Access, Request, check_matrix, only, operations, public
from xinfang_common.testing.auth import bearer
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, UNIT_CHANGED

pytestmark = pytest.mark.database

OWN_UNIT, OTHER_UNIT = "430104-zjj", "430102-zjj"
TREE = {"430100-xfj": None, "430104-xfj": "430100-xfj", OWN_UNIT: "430104-xfj", "430102-xfj": "430100-xfj"}
TREE[OTHER_UNIT] = "430102-xfj"
OPINION = "经核查，该工地确有夜间违规施工行为，已责令其停止夜间作业并依法处罚。"
CSV = "id,title,body,time\nm-1,小区楼下夜间施工噪音扰民,工地连续多日夜间施工。,2019-04-24 16:03:40\n"


def case_of_the_unit(roles: tuple[Role, ...], ok: int) -> Access:
    """``roles`` may on a case of their unit; of another unit only auditors and admins see it (404)."""
    other = {
        role: 403 if role not in roles else ok if role in (Role.AUDITOR, Role.ADMIN) else 404 for role in ALL
    }
    return Access(401, {role: ok if role in roles else 403 for role in ALL}, other)


MATRIX: dict[str, Access] = {
    "GET /healthz": public(),
    "GET /readyz": public(),
    "POST /v1/petitions": only((Role.REGISTRAR, Role.ADMIN), 201),
    "GET /v1/petitions": only(ALL, 200),  # each sees its own scope; see the last test
    "GET /v1/petitions/{case_id}": case_of_the_unit(ALL, 200),
    "GET /v1/petitions/{case_id}/petitioners": case_of_the_unit(
        (Role.REGISTRAR, Role.HANDLER, Role.SUPERVISOR, Role.ADMIN), 200
    ),
    "POST /v1/petitions/{case_id}/actions": case_of_the_unit((Role.HANDLER, Role.ADMIN), 200),
    "GET /v1/track/{code}": public(),
    "POST /v1/track/{code}/rating": public(201),
    "POST /v1/track/{code}/review": public(201),
    "GET /open311/v2/services.json": public(),
    "POST /open311/v2/requests.json": public(201),
    "GET /open311/v2/requests/{service_request_id}.json": public(),
    "POST /v1/imports": only((Role.ADMIN,), 202),
    "GET /v1/imports/{job_id}": only((Role.ADMIN,), 200),
    "GET /v1/imports/{job_id}/errors": only((Role.ADMIN,), 200),
    "GET /v1/audit/personal-data-reads": only((Role.AUDITOR, Role.ADMIN), 200),
}


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    app = intake_app(relay_enabled=False, consumer_enabled=False, track_rate_per_minute=100000)
    with TestClient(app) as c:
        factory = app.state.intake.session_factory
        for code, parent in TREE.items():
            event = example_event(UNIT_CHANGED, code, name=f"单位 {code}", parent=parent)
            assert apply_message(factory, event.to_json_bytes(), key=code.encode(), topic=UNIT_CHANGED.name)
        yield c


class Requests:
    """Builds each endpoint's request; a request that changes something gets a fresh case."""

    def __init__(self, client: TestClient, petition_body: dict[str, Any]) -> None:
        self.client = client
        self.petition_body = petition_body
        self.case_id, self.code = self.case()
        self.service_request = self.open311_request()
        self.job = self.import_job()

    def case(self, *, replied: bool = False) -> tuple[str, str]:
        """A case registered by and assigned to the own unit: its id and tracking code."""
        registrar = bearer(OWN_UNIT, Role.REGISTRAR)
        created = self.client.post("/v1/petitions", json=self.petition_body, headers=registrar)
        assert created.status_code == 201, created.text
        case_id, code = created.json()["id"], created.json()["tracking_code"]
        event = example_event(
            CASE_ASSIGNED, case_id, unit_code=OWN_UNIT, petition_type=None, assigned_at=datetime.now(UTC)
        )
        factory = self.client.app.state.intake.session_factory  # type: ignore[attr-defined]
        assert apply_message(factory, event.to_json_bytes(), key=case_id.encode(), topic=CASE_ASSIGNED.name)
        if replied:
            handler = bearer(OWN_UNIT, Role.HANDLER)
            for action in (
                {"action": "accept"},
                {"action": "reply", "opinion": OPINION, "outcome": "supported"},
            ):
                done = self.client.post(f"/v1/petitions/{case_id}/actions", json=action, headers=handler)
                assert done.status_code == 200, done.text
        return case_id, code

    def open311_request(self) -> str:
        form = {
            "service_code": "urban-construction",
            "description": "某小区旁工地连续多日夜间施工，噪音很大。",
        }
        created = self.client.post("/open311/v2/requests.json", data={**form, "address_string": "岳麓区"})
        assert created.status_code == 201, created.text
        request_id: str = created.json()[0]["service_request_id"]
        return request_id

    def import_job(self) -> str:
        created = self.client.post(
            "/v1/imports", content=CSV.encode(), headers={**bearer(), "Content-Type": "text/csv"}
        )
        assert created.status_code == 202, created.text
        job_id: str = created.json()["id"]
        return job_id

    def build(self, operation: str) -> Request:
        """The method, the path and the keyword arguments of ``TestClient.request``."""
        builders: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
            "GET /healthz": lambda: ("/healthz", {}),
            "GET /readyz": lambda: ("/readyz", {}),
            "POST /v1/petitions": lambda: ("/v1/petitions", {"json": self.petition_body}),
            "GET /v1/petitions": lambda: ("/v1/petitions", {}),
            "GET /v1/petitions/{case_id}": lambda: (f"/v1/petitions/{self.case_id}", {}),
            "GET /v1/petitions/{case_id}/petitioners": lambda: (
                f"/v1/petitions/{self.case_id}/petitioners",
                {},
            ),
            "POST /v1/petitions/{case_id}/actions": lambda: (
                f"/v1/petitions/{self.case()[0]}/actions",
                {"json": {"action": "accept"}},
            ),
            "GET /v1/track/{code}": lambda: (f"/v1/track/{self.code}", {}),
            "POST /v1/track/{code}/rating": lambda: (
                f"/v1/track/{self.case(replied=True)[1]}/rating",
                {"json": {"satisfaction": "satisfied"}},
            ),
            "POST /v1/track/{code}/review": lambda: (
                f"/v1/track/{self.case(replied=True)[1]}/review",
                {"json": {"reason": "处理意见未回应夜间施工噪音的监测数据，请求复查。"}},
            ),
            "GET /open311/v2/services.json": lambda: ("/open311/v2/services.json", {}),
            "POST /open311/v2/requests.json": lambda: (
                "/open311/v2/requests.json",
                {"data": {"service_code": "urban-construction", "description": "道路破损严重，请求修复。"}},
            ),
            "GET /open311/v2/requests/{service_request_id}.json": lambda: (
                f"/open311/v2/requests/{self.service_request}.json",
                {},
            ),
            "POST /v1/imports": lambda: (
                "/v1/imports",
                {"content": CSV.encode(), "headers": {"Content-Type": "text/csv"}},
            ),
            "GET /v1/imports/{job_id}": lambda: (f"/v1/imports/{self.job}", {}),
            "GET /v1/imports/{job_id}/errors": lambda: (f"/v1/imports/{self.job}/errors", {}),
            "GET /v1/audit/personal-data-reads": lambda: ("/v1/audit/personal-data-reads", {}),
        }
        path, arguments = builders[operation]()
        return operation.split(" ")[0], path, arguments


def test_every_endpoint_has_an_entry_in_the_matrix(client: TestClient) -> None:
    assert operations(client.app) == set(MATRIX)  # type: ignore[arg-type]


def test_each_role_of_the_own_and_another_unit_gets_the_documented_answer_the_table_expects(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    requests = Requests(client, petition_body())
    app: FastAPI = client.app  # type: ignore[assignment]
    wrong = check_matrix(client, app, MATRIX, requests.build, own_unit=OWN_UNIT, other_unit=OTHER_UNIT)
    assert not wrong, "\n".join(wrong)


def test_the_list_holds_the_case_only_for_those_who_may_see_it(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = Requests(client, petition_body()).case_id

    def listed(unit: str, role: Role) -> bool:
        response = client.get("/v1/petitions", headers=bearer(unit, role))
        return case_id in {item["id"] for item in response.json()["items"]}

    assert [listed(OWN_UNIT, role) for role in ALL] == [True] * len(ALL)
    assert {role: listed(OTHER_UNIT, role) for role in ALL} == {
        role: role in (Role.AUDITOR, Role.ADMIN) for role in ALL
    }
