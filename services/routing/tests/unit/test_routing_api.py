"""The HTTP API over the demo tree, without Kafka (the lifespan that starts faust is not run)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from routing.config import RoutingSettings
from routing.main import create_app
from routing.org_tree import OrgTreeError
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import bearer
from xinfang_common.topics import PETITION_REGISTERED

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(demo_tree_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        RoutingSettings(org_tree_path=demo_tree_path), KafkaSettings(bootstrap_servers="127.0.0.1:1")
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://routing", headers=bearer()
    ) as http:
        yield http


async def test_units_are_listed_flat_with_parent_codes_root_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/units")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == len(body["items"]) == 20
    assert body["items"][0]["code"] == "430100-xfj"
    assert body["items"][0]["parent"] is None
    by_code = {u["code"]: u for u in body["items"]}
    assert by_code["430104-zjj"]["parent"] == "430104-xfj"


async def test_one_unit_by_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/units/430100-jw")

    assert response.status_code == 200
    assert response.json()["kind"] == "discipline_inspection"
    assert response.json()["regions"] == ["430100"]


async def test_an_unknown_unit_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/units/999999-x")

    assert response.status_code == 404
    assert response.json() == {"error": "UnitNotFound", "detail": "no unit has code '999999-x'"}


async def test_preview_accepts_a_full_petition_registered_payload(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/routing/preview", json=PETITION_REGISTERED.example)

    assert response.status_code == 200
    body = response.json()
    assert body["unit"]["code"] == "430104-zjj"
    assert body["rule"] == "region-category"
    assert "城乡建设" in body["explanation"]
    assert body["case_id"] == PETITION_REGISTERED.example["case_id"]


async def test_preview_of_a_report_avoids_the_unit_reported_on(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/routing/preview",
        json={
            "region": "430104",
            "category": "城乡建设",
            "petition_type": "report",
            "subject_unit": "430104-zjj",
        },
    )

    assert response.status_code == 200
    assert response.json()["unit"]["code"] == "430100-jw"
    assert response.json()["rule"] == "report-discipline-inspection"


async def test_preview_rejects_bad_input_naming_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/routing/preview", json={"region": "4301", "petition_type": "complaint", "category": 5}
    )

    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["fields"]}
    assert fields == {"region", "petition_type", "category"}


async def test_preview_without_body_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/routing/preview", content=b"not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422


async def test_not_ready_while_the_stream_is_not_running(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks == {"org_tree": True, "units": False, "database": True, "stream": False, "producer": False}


def test_a_bad_org_tree_stops_start_up_naming_unit_and_field(tmp_path: Path) -> None:
    path = tmp_path / "tree.yaml"
    path.write_text(
        "- {code: root, name: 信访局, parent: null, kind: petition_office, regions: ['430100']}\n"
        "- {code: 430104-zjj, name: 住建局, parent: 430104-xfj, kind: department, regions: ['430104']}\n",
        encoding="utf-8",
    )

    with pytest.raises(OrgTreeError, match="unit 430104-zjj, field parent"):
        create_app(RoutingSettings(org_tree_path=path), KafkaSettings(bootstrap_servers="127.0.0.1:1"))
