"""Idempotency-Key on registration: a retry answers as the first request did and creates nothing."""

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.orm import Session

from intake.crypto import PersonalDataCipher
from intake.db import create_tables, make_engine, make_session_factory
from intake.idempotency import (
    SCOPE_PETITIONS,
    Answer,
    IdempotencyKey,
    IdempotentRequest,
    Within,
    store_of,
)
from intake.outbox import OutboxMessage
from intake.petitions import service
from intake.petitions.models import Petition
from intake.petitions.schemas import PetitionCreate, PetitionCreated
from xinfang_common.cloudevents import utcnow

pytestmark = pytest.mark.database

Body = Callable[..., dict[str, Any]]

OPEN311_FORM = {
    "service_code": "urban-construction",
    "description": "某小区旁工地连续多日夜间施工，噪音很大，影响居民休息，请求相关部门尽快处理。",
    "first_name": "三丰",
    "last_name": "张",
    "phone": "13812345678",
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A second engine on the service's database, to look at what it stored."""
    e = create_engine(database_url)
    yield e
    e.dispose()


def count(engine: Engine, table: type[Any]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def post(client: TestClient, body: dict[str, Any], key: str | bytes | None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post("/v1/petitions", json=body, headers=headers)


def test_same_key_and_body_answers_the_first_answer_and_creates_nothing(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    first = post(offline_client, petition_body(), "retry-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    again = post(offline_client, petition_body(), "retry-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["tracking_code"] == first.json()["tracking_code"]
    assert count(engine, Petition) == 1
    assert count(engine, OutboxMessage) == 1


def test_reordered_fields_and_whitespace_are_the_same_request(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    body = petition_body()
    first = post(offline_client, body, "reordered")
    reordered = dict(reversed(list(body.items())))
    raw = json.dumps(reordered, ensure_ascii=False, indent=4).encode()
    again = offline_client.post(
        "/v1/petitions",
        content=raw,
        headers={"Idempotency-Key": "reordered", "content-type": "application/json"},
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert count(engine, Petition) == 1


def test_same_key_with_another_body_is_409(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    post(offline_client, petition_body(), "reused")
    response = post(offline_client, petition_body(title="另一件事"), "reused")
    assert response.status_code == 409
    assert response.json()["error"] == "IdempotencyKeyReused"
    assert "Idempotency-Key" in response.json()["detail"]
    assert count(engine, Petition) == 1


def test_different_keys_register_two_petitions(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    first = post(offline_client, petition_body(), "key-a").json()
    second = post(offline_client, petition_body(), "key-b").json()
    assert first["id"] != second["id"]
    assert count(engine, Petition) == 2
    assert count(engine, OutboxMessage) == 2


def test_without_a_key_every_request_registers(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    assert post(offline_client, petition_body(), None).status_code == 201
    assert post(offline_client, petition_body(), None).status_code == 201
    assert count(engine, Petition) == 2
    assert count(engine, IdempotencyKey) == 0


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "must not be empty"),
        ("k" * 201, "at most 200 characters"),
        ("查询".encode(), "printable ASCII characters only"),
        (b"tab\there", "printable ASCII characters only"),
    ],
    ids=["empty", "too-long", "not-ascii", "control-character"],
)
def test_bad_key_is_422_naming_the_header(
    offline_client: TestClient, petition_body: Body, engine: Engine, key: str | bytes, reason: str
) -> None:
    response = post(offline_client, petition_body(), key)
    assert response.status_code == 422
    [error] = response.json()["fields"]
    assert error["field"] == "header.Idempotency-Key"
    assert reason in error["reason"]
    assert count(engine, Petition) == 0


def test_longest_key_is_accepted(offline_client: TestClient, petition_body: Body) -> None:
    key = "~ !" + "k" * 197
    assert post(offline_client, petition_body(), key).status_code == 201
    assert post(offline_client, petition_body(), key).headers["idempotent-replayed"] == "true"


def test_expired_key_is_new_again(offline_client: TestClient, petition_body: Body, engine: Engine) -> None:
    first = post(offline_client, petition_body(), "old-key").json()
    with Session(engine) as session, session.begin():
        session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, minutes=1)))

    again = post(offline_client, petition_body(title="一天后的新事项"), "old-key")
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first["id"]
    assert count(engine, Petition) == 2
    # The expired key was purged and the key now stands for the new petition.
    assert count(engine, IdempotencyKey) == 1
    assert post(offline_client, petition_body(title="一天后的新事项"), "old-key").json() == again.json()


def test_concurrent_duplicates_register_one_petition(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    racers = 8
    start = threading.Barrier(racers)

    def race(_: int) -> httpx.Response:
        start.wait(timeout=30)
        return post(offline_client, petition_body(), "raced")

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(race, range(racers)))
    assert [r.status_code for r in responses] == [201] * racers
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert count(engine, Petition) == 1
    assert count(engine, OutboxMessage) == 1


def test_losing_the_race_on_the_key_rolls_back_and_answers_as_the_winner(
    database_url: str, encryption_key: str, petition_body: Body
) -> None:
    service_engine = make_engine(database_url)
    create_tables(service_engine)
    sessions = make_session_factory(service_engine)
    cipher = PersonalDataCipher.from_setting(encryption_key)
    store = store_of(cipher, ttl_hours=24)
    data = PetitionCreate.model_validate(petition_body())
    request = IdempotentRequest.of(SCOPE_PETITIONS, "photo-finish", data)
    winner: list[Answer] = []

    def render(created: PetitionCreated) -> Any:
        return created.model_dump(mode="json")

    def register_after_the_winner(session: Session) -> Callable[[Within[PetitionCreated] | None], Any]:
        def register(within: Within[PetitionCreated] | None) -> PetitionCreated:
            # The key was unused when this request looked; another request takes it right now.
            with sessions() as other:
                winner.append(
                    store.run(
                        other,
                        request,
                        status_code=201,
                        register=lambda w: service.register_petition(
                            other, data=data, cipher=cipher, within=w
                        ),
                        render=render,
                    )
                )
            return service.register_petition(session, data=data, cipher=cipher, within=within)

        return register

    try:
        with sessions() as session:
            answer = store.run(
                session, request, status_code=201, register=register_after_the_winner(session), render=render
            )
        assert not winner[0].replayed
        assert answer.replayed
        assert answer.body == winner[0].body
        assert count(service_engine, Petition) == 1
        assert count(service_engine, OutboxMessage) == 1
    finally:
        service_engine.dispose()


def test_tracking_code_and_personal_data_are_not_stored_in_clear(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    receipt = post(offline_client, petition_body(), "at-rest").json()
    answer = offline_client.post(
        "/open311/v2/requests.json", data=OPEN311_FORM, headers={"Idempotency-Key": "at-rest"}
    ).json()[0]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM idempotency_keys")).all()
        dump = "\n".join(
            " ".join(str(v) for v in row)
            for table in (
                "petitions",
                "petitioners",
                "timeline_entries",
                "outbox_messages",
                "idempotency_keys",
            )
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert len(stored) == 2
    for secret in (
        receipt["tracking_code"],
        answer["x_tracking_code"],
        "张三丰",
        "11010519491231002X",
        "13812345678",
        "长沙市岳麓区某街道",
    ):
        assert secret not in dump


def open311(client: TestClient, form: dict[str, str], key: str | bytes) -> httpx.Response:
    return client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": key})


def test_open311_retry_answers_the_first_answer(offline_client: TestClient, engine: Engine) -> None:
    first = open311(offline_client, OPEN311_FORM, "311-retry")
    assert first.status_code == 201, first.text
    reordered = dict(reversed(list(OPEN311_FORM.items())))
    again = open311(offline_client, reordered, "311-retry")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    as_json = offline_client.post(
        "/open311/v2/requests.json", json=OPEN311_FORM, headers={"Idempotency-Key": "311-retry"}
    )
    assert as_json.headers["idempotent-replayed"] == "true"
    assert as_json.json() == first.json()
    assert count(engine, Petition) == 1
    assert count(engine, OutboxMessage) == 1


def test_open311_and_v1_keys_do_not_collide(
    offline_client: TestClient, petition_body: Body, engine: Engine
) -> None:
    assert post(offline_client, petition_body(), "shared").status_code == 201
    response = open311(offline_client, OPEN311_FORM, "shared")
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
    assert count(engine, Petition) == 2


def test_open311_same_key_with_another_request_is_409(offline_client: TestClient, engine: Engine) -> None:
    open311(offline_client, OPEN311_FORM, "311-reused")
    response = open311(
        offline_client, {**OPEN311_FORM, "description": "公交站台破损，雨天无法候车。"}, "311-reused"
    )
    assert response.status_code == 409
    [error] = response.json()
    assert error["code"] == 409
    assert error["description"].startswith("header.Idempotency-Key: ")
    assert count(engine, Petition) == 1


def test_open311_bad_key_is_400_naming_the_header(offline_client: TestClient, engine: Engine) -> None:
    response = open311(offline_client, OPEN311_FORM, "k" * 201)
    assert response.status_code == 400
    [error] = response.json()
    assert error["description"] == "header.Idempotency-Key: at most 200 characters"
    assert count(engine, Petition) == 0
