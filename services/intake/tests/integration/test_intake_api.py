"""The petitions API on a real database, without Kafka."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from intake.tracking_codes import hash_tracking_code

pytestmark = pytest.mark.database


def test_register_then_read_masked(
    offline_client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    created = offline_client.post("/v1/petitions", json=petition_body())
    assert created.status_code == 201, created.text
    receipt = created.json()
    assert receipt["status"] == "registered"
    assert len(receipt["tracking_code"]) == 19

    case = offline_client.get(f"/v1/petitions/{receipt['id']}").json()
    assert case["status"] == "registered"
    assert case["assigned_unit"] is None
    assert case["petitioner_count"] == 1
    assert case["petitioners"] == [
        {"name": "张**", "id_number": "110105********002X", "phone": "138****5678"}
    ]
    assert [entry["kind"] for entry in case["timeline"]] == ["registered"]
    assert "tracking_code" not in case


def test_personal_data_and_tracking_code_are_not_stored_in_clear(
    offline_client: TestClient, petition_body: Callable[..., dict[str, Any]], database_url: str
) -> None:
    receipt = offline_client.post("/v1/petitions", json=petition_body()).json()
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = [
                " ".join(str(v) for v in row)
                for table in ("petitions", "petitioners", "timeline_entries", "outbox_messages")
                for row in conn.execute(text(f"SELECT * FROM {table}"))
            ]
            stored_hash = conn.execute(text("SELECT tracking_code_hash FROM petitions")).scalar_one()
    finally:
        engine.dispose()
    dump = "\n".join(rows)
    for secret in (
        "张三丰",
        "11010519491231002X",
        "13812345678",
        "长沙市岳麓区某街道",
        receipt["tracking_code"],
    ):
        assert secret not in dump
    assert stored_hash == hash_tracking_code(receipt["tracking_code"])


def test_bad_input_is_422_naming_each_field(
    offline_client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    body = petition_body(
        region="999999x",
        petitioners=[{"name": "张三", "id_number": "110105194912310021", "phone": "123"}],
        extra_field=1,
    )
    response = offline_client.post("/v1/petitions", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["error"] == "ValidationError"
    fields = {f["field"] for f in payload["fields"]}
    assert fields == {"region", "petitioners.0.id_number", "petitioners.0.phone", "extra_field"}
    assert all(f["reason"] for f in payload["fields"])


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"channel": "online"'])
def test_malformed_bodies_are_422_not_500(offline_client: TestClient, raw: bytes) -> None:
    response = offline_client.post("/v1/petitions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_unknown_case_is_404(offline_client: TestClient) -> None:
    response = offline_client.get("/v1/petitions/no-such-case")
    assert response.status_code == 404
    assert response.json()["error"] == "PetitionNotFound"


def test_list_pages_newest_first(
    offline_client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    ids = [
        offline_client.post("/v1/petitions", json=petition_body(title=f"第{i}件")).json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = offline_client.get("/v1/petitions", params=params).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    bad = offline_client.get("/v1/petitions", params={"cursor": "garbage"})
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "query.cursor"


def test_operations_endpoints_answer(offline_client: TestClient) -> None:
    assert offline_client.get("/healthz").status_code == 200
    assert offline_client.get("/readyz").json()["checks"]["database"] is True
    assert "xinfang_intake_petitions_registered_total" in offline_client.get("/metrics").text
