"""PUT /v1/units, GET /v1/rules and the triage queue over HTTP, with Kafka replaced by recorders."""

import csv
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from routing.cases.models import RoutedCase
from routing.cases.service import InForce
from routing.config import RoutingSettings
from routing.main import create_app
from routing.state import RoutingState
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.events import CaseAssigned, PetitionRegistered, UnitChanged
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import bearer

pytestmark = pytest.mark.anyio
MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """Stands in for the units topic and the CaseAssigned topic."""

    def __init__(self) -> None:
        self.units: list[tuple[str, CloudEvent[UnitChanged] | None]] = []
        self.events: list[CloudEvent[Any]] = []

    async def send_unit(self, code: str, event: CloudEvent[UnitChanged] | None) -> None:
        self.units.append((code, event))

    async def publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(demo_tree_path: Path, tmp_path: Path, recorder: Recorder) -> FastAPI:
    settings = RoutingSettings(
        org_tree_path=demo_tree_path,
        database_url="sqlite://",
        training_data_path=tmp_path / "training.csv",
    )
    app = create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    state: RoutingState = app.state.routing
    state.units.sender = recorder.send_unit
    assert state.router is not None
    state.router._publish = recorder.publish  # the lifespan (and with it Kafka) is not started here
    state.router.service.database.create_tables()
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://routing", headers=bearer()
    ) as http:
        yield http


NEW_UNIT = {
    "name": "岳麓区生态环境分局",
    "parent": "430104-xfj",
    "kind": "department",
    "regions": ["430104"],
    "categories": ["环境保护"],
}


async def test_a_new_unit_is_published_and_in_force_at_once(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await client.put("/v1/units/430104-sthj", json=NEW_UNIT)

    assert response.status_code == 201
    [(code, event)] = recorder.units
    assert code == "430104-sthj"
    assert event is not None
    assert event.data.parent == "430104-xfj"
    assert (await client.get("/v1/units/430104-sthj")).status_code == 200
    preview = await client.post("/v1/routing/preview", json={"region": "430104", "category": "环境保护"})
    assert preview.json()["unit"]["code"] == "430104-sthj"


async def test_replacing_a_unit_answers_200(client: httpx.AsyncClient) -> None:
    body = {**NEW_UNIT, "name": "岳麓区住房和城乡建设局", "categories": ["城乡建设"]}

    assert (await client.put("/v1/units/430104-zjj", json=body)).status_code == 200


@pytest.mark.parametrize(
    ("code", "body", "field", "reason"),
    [
        ("x-1", {**NEW_UNIT, "parent": "nowhere"}, "parent", "no unit has code 'nowhere'"),
        ("x-2", {**NEW_UNIT, "parent": None}, "parent", "exactly one unit must have parent null"),
        ("430104-xfj", {**NEW_UNIT, "parent": "430104-zjj"}, "parent", "cycle"),
        ("x-3", {**NEW_UNIT, "active": False, "successor": "ghost"}, "successor", "no unit has code 'ghost'"),
        ("x-4", {**NEW_UNIT, "regions": ["4301"]}, "regions.0", "6-digit"),
    ],
)
async def test_an_invalid_unit_is_422_naming_field_and_reason(
    client: httpx.AsyncClient, recorder: Recorder, code: str, body: dict[str, Any], field: str, reason: str
) -> None:
    response = await client.put(f"/v1/units/{code}", json=body)

    assert response.status_code == 422
    fields = response.json()["fields"]
    assert any(f["field"].endswith(field) and reason in f["reason"] for f in fields), fields
    assert recorder.units == []


async def test_replacing_the_whole_tree_removes_units_left_out(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    tree = [
        {"code": "root", "name": "信访局", "kind": "petition_office", "regions": ["430100"]},
        {**NEW_UNIT, "code": "env", "parent": "root"},
    ]

    response = await client.put("/v1/units", json=tree)

    assert response.status_code == 200
    assert response.json()["total"] == 2
    tombstones = [code for code, event in recorder.units if event is None]
    assert "430104-zjj" in tombstones


async def test_rules_are_listed_in_order(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/rules")).json()

    assert body["total"] == len(body["items"]) >= 1
    assert body["items"][0]["position"] == 1
    assert all(item["unit_known"] for item in body["items"])
    assert body["defaults"][0] == "cross-region-lead"


async def put_in_triage(app: FastAPI, event: CloudEvent[PetitionRegistered]) -> None:
    state: RoutingState = app.state.routing
    assert state.router is not None
    service = state.router.service
    service.process(event.id, "test", lambda s: service.registered(s, event, InForce(state.org_tree)))
    with service.database.sessions.begin() as session:
        case = session.get(RoutedCase, event.data.case_id)
        assert case is not None
        service._to_triage(case, "test", "the text classifier is unsure")


async def test_a_waiting_case_is_listed_then_assigned_by_hand_and_feeds_training_data(
    app: FastAPI,
    client: httpx.AsyncClient,
    recorder: Recorder,
    make_registered: MakeRegistered,
    tmp_path: Path,
) -> None:
    await put_in_triage(app, make_registered(case_id="tr-1", category=None))

    [item] = (await client.get("/v1/triage")).json()["items"]
    assert (item["case_id"], item["reason"]) == ("tr-1", "the text classifier is unsure")

    response = await client.post(
        "/v1/triage/tr-1/assign", json={"unit_code": "430104-zjj", "category": "城乡建设", "note": "施工噪音"}
    )

    assert response.status_code == 200
    assert response.json()["training_row_written"] is True
    [event] = recorder.events
    assert isinstance(event.data, CaseAssigned)
    assert (event.data.unit_code, event.data.rule, event.data.category) == (
        "430104-zjj",
        "manual-triage",
        "城乡建设",
    )
    assert "施工噪音" in event.data.explanation
    with (tmp_path / "training.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {"text": "小区旁工地夜间施工噪音扰民\n工地连续多日夜间施工，影响居民休息。", "label": "城乡建设"}
    ]
    assert (await client.get("/v1/triage")).json()["total"] == 0
    # Published and marked so in the outbox: a restart has nothing to send again.
    pending = app.state.routing.router.service.unpublished()
    assert event.id not in {o.event.id for _, outputs in pending for o in outputs}
    again = await client.post("/v1/triage/tr-1/assign", json={"unit_code": "430104-zjj", "note": "again"})
    assert again.status_code == 409


async def test_triage_assign_errors(
    app: FastAPI, client: httpx.AsyncClient, make_registered: MakeRegistered
) -> None:
    await put_in_triage(
        app, make_registered(case_id="tr-2", petition_type="report", subject_unit="430104-xfj")
    )

    unknown = await client.post("/v1/triage/nobody/assign", json={"unit_code": "430104-zjj", "note": "n"})
    bad_unit = await client.post("/v1/triage/tr-2/assign", json={"unit_code": "ghost", "note": "n"})
    shielded = await client.post("/v1/triage/tr-2/assign", json={"unit_code": "430104-zjj", "note": "n"})
    no_note = await client.post("/v1/triage/tr-2/assign", json={"unit_code": "430104-zjj"})

    assert unknown.status_code == 404
    assert bad_unit.status_code == 422
    assert bad_unit.json()["fields"][0]["field"] == "unit_code"
    assert shielded.status_code == 422
    assert "Art. 30" in shielded.json()["fields"][0]["reason"]
    assert no_note.status_code == 422


async def test_changing_units_and_triage_need_the_right_role(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as anonymous:
        assert (await anonymous.put("/v1/units/430104-sthj", json=NEW_UNIT)).status_code == 401
        assert (await anonymous.get("/v1/triage")).status_code == 401
        assert (await anonymous.get("/v1/units")).status_code == 200
    handler = bearer("430104-zjj", "handler")
    async with httpx.AsyncClient(transport=transport, base_url="http://routing", headers=handler) as staff:
        assert (await staff.put("/v1/units/430104-sthj", json=NEW_UNIT)).status_code == 403
        assert (await staff.get("/v1/triage")).status_code == 403
        assigned = await staff.post("/v1/triage/tr-1/assign", json={"unit_code": "430104-zjj", "note": "n"})
        assert assigned.status_code == 403
    registrar = bearer("430100-xfj", "registrar")
    async with httpx.AsyncClient(transport=transport, base_url="http://routing", headers=registrar) as office:
        assert (await office.get("/v1/triage")).status_code == 200
        assert (await office.put("/v1/units/430104-sthj", json=NEW_UNIT)).status_code == 403
