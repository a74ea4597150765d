"""Registration's category scheme, subject address and attachment metadata."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intake import categories
from xinfang_common.testing.auth import staff_client

pytestmark = pytest.mark.database

PHOTO = {
    "filename": "现场照片.jpg",
    "content_type": "image/jpeg",
    "size_bytes": 482113,
    "description": "夜间拍摄",
}


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with staff_client(intake_app(relay_enabled=False, consumer_enabled=False)) as c:
        yield c


def bad_fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {f["field"]: f["reason"] for f in response.json()["fields"]}


def test_subject_address_and_attachments_are_kept_and_shown(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    body = petition_body(subject_address="岳麓区桃花岭路88号附近工地", attachments=[PHOTO])
    case_id = client.post("/v1/petitions", json=body).json()["id"]
    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["subject_address"] == "岳麓区桃花岭路88号附近工地"
    assert case["attachments"] == [{**PHOTO, "sha256": None}]


def test_bad_attachment_metadata_names_each_field(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    bad = {"filename": "", "content_type": "jpeg", "size_bytes": -1, "sha256": "xyz"}
    fields = bad_fields(client.post("/v1/petitions", json=petition_body(attachments=[bad])))
    assert set(fields) == {
        "attachments.0.filename",
        "attachments.0.content_type",
        "attachments.0.size_bytes",
        "attachments.0.sha256",
    }
    too_many = petition_body(attachments=[PHOTO] * 21)
    assert "attachments" in bad_fields(client.post("/v1/petitions", json=too_many))


def test_category_must_be_of_the_scheme(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    fields = bad_fields(client.post("/v1/petitions", json=petition_body(category="外星人")))
    assert "top-level categories are" in fields["category"]
    assert client.post("/v1/petitions", json=petition_body(category="环境保护")).status_code == 201


def test_an_organisations_full_scheme_allows_its_paths(
    tmp_path: Path, intake_app: Callable[..., FastAPI], petition_body: Callable[..., dict[str, Any]]
) -> None:
    scheme = tmp_path / "scheme.csv"
    scheme.write_text(
        "level1,level2,level3\n城乡建设,安全生产,事故处理\n环境保护,噪声污染,施工噪声\n", encoding="utf-8"
    )
    app = intake_app(relay_enabled=False, consumer_enabled=False, category_scheme_path=scheme)
    try:
        with staff_client(app) as client:
            for category in ("城乡建设", "城乡建设/安全生产", "环境保护 / 噪声污染 / 施工噪声"):
                response = client.post("/v1/petitions", json=petition_body(category=category))
                assert response.status_code == 201, response.text
            fields = bad_fields(
                client.post("/v1/petitions", json=petition_body(category="城乡建设/物业管理"))
            )
            assert "under 城乡建设" in fields["category"]
            assert "category" in bad_fields(
                client.post("/v1/petitions", json=petition_body(category="交通运输"))
            )
    finally:
        categories.configure(None)


def test_a_malformed_scheme_stops_the_service(tmp_path: Path, intake_app: Callable[..., FastAPI]) -> None:
    scheme = tmp_path / "scheme.csv"
    scheme.write_text("名称\n城乡建设\n", encoding="utf-8")
    try:
        with pytest.raises(categories.CategorySchemeError, match="level1"):
            intake_app(category_scheme_path=scheme)
        with pytest.raises(categories.CategorySchemeError, match="cannot read"):
            intake_app(category_scheme_path=tmp_path / "missing.csv")
    finally:
        categories.configure(None)
