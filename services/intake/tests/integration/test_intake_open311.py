"""The Open311 GeoReport v2 subset: requests become ordinary online petitions."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from intake.petitions import service as petitions
from xinfang_common.cloudevents import build_event, decode_event
from xinfang_common.events import CaseAssigned, PetitionRegistered
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

pytestmark = pytest.mark.database

DESCRIPTION = "某小区旁工地连续多日夜间施工，噪音很大，影响居民休息，请求相关部门尽快处理并督促施工单位整改。"
FORM = {
    "service_code": "urban-construction",
    "description": DESCRIPTION,
    "address_string": "岳麓区某小区东门",
    "lat": "28.2282",
    "long": "112.9388",
    "first_name": "三丰",
    "last_name": "张",
    "phone": "13812345678",
    "email": "zhang.sanfeng@example.com",
    "device_id": "device-42",
}


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    app = intake_app(relay_enabled=False, consumer_enabled=False)
    with staff_client(app) as test_client:
        yield test_client


def submit(client: TestClient, **overrides: Any) -> Any:
    form = {**FORM, **overrides}
    return client.post("/open311/v2/requests.json", data={k: v for k, v in form.items() if v is not None})


def error_fields(response: Any) -> set[str]:
    body = response.json()
    assert isinstance(body, list)
    assert body
    assert all(error["code"] == response.status_code for error in body)
    return {error["description"].split(":", 1)[0] for error in body}


def test_services_are_the_seven_categories(client: TestClient) -> None:
    response = client.get("/open311/v2/services.json", params={"jurisdiction_id": "changsha"})
    assert response.status_code == 200
    services = response.json()
    assert [s["service_name"] for s in services] == [
        "城乡建设",
        "劳动和社会保障",
        "教育文体",
        "商贸旅游",
        "环境保护",
        "卫生计生",
        "交通运输",
    ]
    assert services[0]["service_code"] == "urban-construction"
    assert len({s["service_code"] for s in services}) == 7
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)
    assert all(s["description"] and s["keywords"] and s["group"] for s in services)


def test_form_request_becomes_an_online_petition(client: TestClient) -> None:
    response = submit(client)
    assert response.status_code == 201, response.text
    [answer] = response.json()
    assert set(answer) == {"service_request_id", "service_notice", "x_tracking_code"}
    assert len(answer["x_tracking_code"]) == 19

    case = client.get(f"/v1/petitions/{answer['service_request_id']}").json()
    assert case["channel"] == "online"
    assert case["category"] == "城乡建设"
    assert case["region"] == "430100"
    assert case["petition_type"] is None
    assert case["title"] == DESCRIPTION[:30]
    assert case["content"].startswith(DESCRIPTION)
    assert "岳麓区某小区东门" in case["content"]
    assert "28.2282" in case["content"]
    assert case["anonymous"] is False
    assert case["petitioners"] == [{"name": "张**", "id_number": None, "phone": "138****5678"}]


def test_json_request_with_region_attribute(client: TestClient) -> None:
    body = {
        "service_code": "transport",
        "description": "公交站台破损\n雨天无法候车",
        "attribute": {"region": "430104"},
    }
    response = client.post("/open311/v2/requests.json", json=body)
    assert response.status_code == 201, response.text
    case = client.get(f"/v1/petitions/{response.json()[0]['service_request_id']}").json()
    assert case["region"] == "430104"
    assert case["category"] == "交通运输"
    assert case["title"] == "公交站台破损 雨天无法候车"
    assert case["anonymous"] is True
    assert case["petitioners"] == []


def test_email_device_and_clear_personal_data_are_not_stored(client: TestClient, database_url: str) -> None:
    answer = submit(client).json()[0]
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            dump = "\n".join(
                " ".join(str(v) for v in row)
                for table in ("petitions", "petitioners", "timeline_entries", "outbox_messages")
                for row in conn.execute(text(f"SELECT * FROM {table}"))
            )
    finally:
        engine.dispose()
    for secret in ("zhang.sanfeng", "device-42", "张三丰", "13812345678", answer["x_tracking_code"]):
        assert secret not in dump


def test_bad_input_is_400_naming_each_field(client: TestClient) -> None:
    response = submit(
        client,
        service_code="potholes",
        phone="123",
        lat="28.2",
        long=None,
        description=None,
        extra="x",
        **{"attribute[region]": "999999x"},
    )
    assert response.status_code == 400
    assert error_fields(response) == {
        "service_code",
        "long",
        "phone",
        "description",
        "attribute[region]",
        "extra",
    }


def test_region_outside_the_jurisdiction_is_refused(client: TestClient) -> None:
    response = submit(client, **{"attribute[region]": "330106"})
    assert response.status_code == 400
    assert error_fields(response) == {"attribute[region]"}


def test_phone_without_a_name_is_refused(client: TestClient) -> None:
    response = submit(client, first_name=None, last_name=None)
    assert response.status_code == 400
    assert error_fields(response) == {"phone"}


@pytest.mark.parametrize(
    ("content", "content_type", "status_code"),
    [
        (b"not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"attribute": "430104"}', "application/json", 400),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
        (b"service_code=transport&service_code=transport", "application/x-www-form-urlencoded", 400),
        (b"<request/>", "text/xml", 415),
    ],
)
def test_malformed_bodies_are_4xx_open311_errors(
    client: TestClient, content: bytes, content_type: str, status_code: int
) -> None:
    response = client.post(
        "/open311/v2/requests.json", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == status_code
    assert error_fields(response)


def test_new_request_is_open_and_shows_no_personal_data(client: TestClient) -> None:
    answer = submit(client).json()[0]
    response = client.get(f"/open311/v2/requests/{answer['service_request_id']}.json")
    assert response.status_code == 200
    [request] = response.json()
    assert request["service_request_id"] == answer["service_request_id"]
    assert request["status"] == "open"
    assert request["status_notes"] == "已登记，正在转送有权处理的机关。"
    assert request["service_code"] == "urban-construction"
    assert request["service_name"] == "城乡建设"
    assert request["agency_responsible"] is None
    # The spec wants ISO 8601 with the offset.
    assert datetime.fromisoformat(request["requested_datetime"]).utcoffset() is not None
    assert datetime.fromisoformat(request["updated_datetime"]).utcoffset() is not None
    for secret in (
        "张",
        "138",
        "zhang",
        "岳麓区某小区",
        "28.2282",
        DESCRIPTION[:10],
        answer["x_tracking_code"],
    ):
        assert secret not in response.text


def test_assigned_request_names_the_unit(client: TestClient) -> None:
    case_id = submit(client).json()[0]["service_request_id"]
    event = build_event(
        CaseAssigned(
            case_id=case_id,
            unit_code="430104-zjj",
            unit_name="岳麓区住建局",
            region="430104",
            category="城乡建设",
            rule="region-category",
            explanation="岳麓区住建局 serves 430104 and handles 城乡建设.",
            assigned_at=datetime.now(UTC),
        ),
        event_type=CASE_ASSIGNED.event_type,
        source=CASE_ASSIGNED.source,
        case_id=case_id,
    )
    session_factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    with session_factory() as session, session.begin():
        petitions.apply_case_assigned(session, event=event)

    [request] = client.get(f"/open311/v2/requests/{case_id}.json").json()
    assert request["status"] == "open"
    assert request["agency_responsible"] == "岳麓区住建局"
    assert request["status_notes"] == "已转送岳麓区住建局办理。"


def test_unknown_request_is_404(client: TestClient) -> None:
    response = client.get("/open311/v2/requests/no-such-case.json")
    assert response.status_code == 404
    assert error_fields(response) == {"service_request_id"}


@pytest.mark.kafka
def test_request_is_published_as_petition_registered(
    intake_app: Callable[..., FastAPI], kafka_broker: str
) -> None:
    app = intake_app(kafka_broker, consumer_enabled=False)
    with staff_client(app) as kafka_client:
        case_id = submit(kafka_client).json()[0]["service_request_id"]
        messages = read_messages(
            kafka_broker,
            PETITION_REGISTERED.name,
            until=lambda found: any(m.key == case_id.encode() for m in found),
        )
    [message] = [m for m in messages if m.key == case_id.encode()]
    event = decode_event(message.value, PetitionRegistered, PETITION_REGISTERED.event_type)
    assert event.data.channel == "online"
    assert event.data.category == "城乡建设"
    assert event.data.region == "430100"
    assert event.data.petitioner_count == 1
    for secret in ("张三丰", "13812345678", "zhang.sanfeng", "device-42"):
        assert secret not in message.value.decode()
