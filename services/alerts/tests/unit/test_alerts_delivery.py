"""Delivering alerts: signed webhooks with retries and a dead letter, email to a local SMTP sink."""

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.notify import service
from alerts.notify.models import AlertRecord, Base, Delivery, Subscription
from alerts.notify.service import Deliverer, SmtpConfig, claim_due, finish, record_alert, sign
from xinfang_common.db import make_engine
from xinfang_common.testing.events import example_event
from xinfang_common.testing.plugin import free_port
from xinfang_common.topics import ALERT_RAISED

NOW = datetime(2026, 3, 18, 0, 0, 5, tzinfo=UTC)
UNIT = "430104-zjj"


@pytest.fixture
def engine(tmp_path):
    made = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    Base.metadata.create_all(made)
    yield made
    made.dispose()


def subscribe(engine, channel: str, target: str, secret: str | None = None) -> None:
    with Session(engine) as session:
        session.add(
            Subscription(
                id=f"sub-{channel}",
                unit_code=UNIT,
                channel=channel,
                target=target,
                secret=secret,
                created_by="t",
                created_at=NOW,
            )
        )
        session.commit()


def raise_one(engine, case_id: str = "case-1") -> Any:
    event = example_event(
        ALERT_RAISED, case_id, alert_id=f"{case_id}:acceptance:1:overdue", target_unit_code=UNIT
    )
    with Session(engine) as session:
        assert record_alert(session, event, now=NOW)
        session.commit()
    with Session(engine) as session:
        assert not record_alert(session, event, now=NOW)  # a redelivered alert is recorded once
    return event


def claim(engine, at: datetime) -> list[service.Claimed]:
    with Session(engine, expire_on_commit=False) as session:
        return claim_due(session, now=at, lease=timedelta(seconds=30))


def test_a_failing_webhook_is_retried_with_backoff_then_dead_lettered(engine, monkeypatch):
    subscribe(engine, "webhook", "http://hooks.example/unit", secret="s" * 20)
    raise_one(engine)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    real_client = httpx.AsyncClient
    monkeypatch.setattr(
        service.httpx, "AsyncClient", lambda **kw: real_client(transport=httpx.MockTransport(answer), **kw)
    )
    deliverer = Deliverer(timeout=5, smtp=None)
    at, outcomes = NOW, []
    for _ in range(3):
        [claimed] = claim(engine, at)
        assert claim(engine, at) == []  # leased: nobody else takes it meanwhile
        try:
            asyncio.run(deliverer.deliver(claimed))
            error = None
        except RuntimeError as exc:
            error = str(exc)
        with Session(engine) as session:
            outcomes.append(finish(session, claimed, error=error, now=at, max_attempts=3, backoff_seconds=10))
        with Session(engine) as session:
            row = session.scalars(select(Delivery)).one()
        if outcomes[-1] == "retried":
            assert row.next_attempt_at == at + timedelta(seconds=10 * 2 ** (len(outcomes) - 1))
            assert claim(engine, row.next_attempt_at - timedelta(seconds=1)) == []
            at = row.next_attempt_at

    assert outcomes == ["retried", "retried", "failed"]
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "webhook answered 503")
    body = seen[0].content
    assert seen[0].headers["X-Xinfang-Signature"] == sign("s" * 20, body)
    assert sign("s" * 20, body) == "sha256=" + hmac.new(b"s" * 20, body, hashlib.sha256).hexdigest()


class Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.content)
        return "250 OK"


def test_an_email_alert_reaches_the_smtp_server(engine):
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        subscribe(engine, "email", "duty@unit.example")
        raise_one(engine, "case-mail")
        [claimed] = claim(engine, NOW)
        smtp = SmtpConfig(
            "127.0.0.1", controller.server.sockets[0].getsockname()[1], "alerts@xinfang.example"
        )

        asyncio.run(Deliverer(timeout=5, smtp=smtp).deliver(claimed))

        [raw] = sink.messages
        mail = message_from_bytes(raw)
        assert mail["To"] == "duty@unit.example"
        assert "overdue" in mail["Subject"]
        assert "case-mail" in mail.get_payload(decode=True).decode("utf-8")
    finally:
        controller.stop()


def test_an_alert_for_a_unit_without_subscriptions_is_only_recorded(engine):
    raise_one(engine, "case-quiet")

    with Session(engine) as session:
        assert session.get(AlertRecord, "case-quiet:acceptance:1:overdue") is not None
        assert session.scalars(select(Delivery)).all() == []
