"""Daily digests: each subscribed unit's open cases by due date (零报告 when none), once per unit and day."""

import asyncio
import json
import threading
from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.clock import make_clock
from alerts.deadlines import TierRule
from alerts.digest import DIGEST_EVENT_TYPE, digest_day
from alerts.notify.models import Base, Delivery, Digest, Subscription
from alerts.notify.service import (
    DeadlineMirror,
    Deliverer,
    SmtpConfig,
    create_digests,
    delivery_loop,
    digest_loop,
    sign,
)
from alerts.testing import NATIONAL, case_event
from alerts.tracker import Tracker, fact_of
from xinfang_common.calendar import load_calendar
from xinfang_common.db import make_engine
from xinfang_common.testing.plugin import free_port
from xinfang_common.topics import topic_by_name

SHANGHAI = ZoneInfo("Asia/Shanghai")
BUSY, QUIET = "430104-zjj", "430104-rsj"
SECRET = "digest-webhook-secret-0123"


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def test_the_digest_of_a_day_falls_due_at_the_configured_local_time() -> None:
    at = time(8, 30)
    day = date(2026, 3, 20)

    assert digest_day(local(day, 8, 29), at, SHANGHAI) is None
    assert digest_day(local(day, 8, 30), at, SHANGHAI) == day
    assert digest_day(local(day, 23, 59), at, SHANGHAI) == day
    # 00:30 UTC is 08:30 in Shanghai; 23:00 UTC the day before is 07:00 there.
    assert digest_day(datetime(2026, 3, 20, 0, 30, tzinfo=UTC), at, SHANGHAI) == day
    assert digest_day(datetime(2026, 3, 19, 23, 0, tzinfo=UTC), at, SHANGHAI) is None


@pytest.fixture
def engine(tmp_path):
    made = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    Base.metadata.create_all(made)
    yield made
    made.dispose()


async def _no_publish(topic: Any, event: Any) -> None:
    return None


def tracker() -> Tracker:
    return Tracker(
        store={},
        scheduled_topic="scheduled",
        alerts_topic="alerts",
        policy=NATIONAL,
        calendar=load_calendar(None),
        tz=SHANGHAI,
        intake_unit="petition-office",
        rule=TierRule(),
        superior_of=lambda code: None,
        publisher=_no_publish,
    )


async def track(cases: Tracker, what: str, case_id: str, at: datetime, **overrides: Any) -> None:
    event = case_event(what, case_id, at, **overrides)
    spec = next(s for s in map(topic_by_name, _TOPICS) if s.event_type == event.type)
    await cases.apply(case_id, fact_of(spec, event))


_TOPICS = (
    "xinfang.petition.registered.v1",
    "xinfang.case.assigned.v1",
    "xinfang.case.accepted.v1",
    "xinfang.case.replied.v1",
)


def subscribe(engine, unit: str, channel: str, target: str, secret: str | None = None) -> None:
    with Session(engine) as session:
        session.add(
            Subscription(
                id=f"{unit}-{channel}",
                unit_code=unit,
                channel=channel,
                target=target,
                secret=secret,
                created_by="t",
                created_at=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )
        session.commit()


async def open_cases(engine) -> DeadlineMirror:
    """Cases of BUSY: two waiting for acceptance, one in progress, one replied, one imported."""
    cases = tracker()
    march = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
    for case_id, day in (("late", 0), ("soon", 4), ("handling", 6), ("answered", 7), ("legacy", 8)):
        at = march + timedelta(days=day)
        await track(cases, "registered", case_id, at, imported=case_id == "legacy")
        await track(cases, "assigned", case_id, at + timedelta(hours=1), unit_code=BUSY)
    await track(cases, "accepted", "handling", march + timedelta(days=7), unit_code=BUSY)
    await track(cases, "accepted", "answered", march + timedelta(days=8), unit_code=BUSY)
    await track(cases, "replied", "answered", march + timedelta(days=9), unit_code=BUSY)
    mirror = DeadlineMirror(engine)
    await mirror.sync(cases.states())  # what the database lacks (nothing after a "restart")
    assert await mirror.sync(cases.states()) == 0  # unchanged: nothing written again
    return mirror


def digests(engine) -> list[tuple[str, date]]:
    with Session(engine) as session:
        return [(d.unit_code, d.day) for d in session.scalars(select(Digest).order_by(Digest.id))]


def test_each_subscribed_unit_gets_one_digest_a_day_and_a_zero_report_when_nothing_is_open(engine) -> None:
    asyncio.run(open_cases(engine))
    subscribe(engine, BUSY, "webhook", "http://hooks.example/busy", SECRET)
    subscribe(engine, BUSY, "email", "duty@busy.example")
    subscribe(engine, QUIET, "email", "duty@quiet.example")
    day = date(2026, 3, 20)
    now = local(day, 8, 30)

    made = create_digests(engine, day=day, now=now, tz=SHANGHAI, unit_name={BUSY: "岳麓区住建局"}.get)

    assert made == sorted([BUSY, QUIET])
    with Session(engine) as session:
        busy = json.loads(session.get(Digest, f"{BUSY}:2026-03-20").body)
        quiet = json.loads(session.get(Digest, f"{QUIET}:2026-03-20").body)
        deliveries = session.scalars(select(Delivery)).all()
    assert (busy["type"], busy["subject"]) == (DIGEST_EVENT_TYPE, BUSY)
    items = busy["data"]["items"]
    # Soonest first; the replied and the imported cases are not open work.
    assert [(i["case_id"], i["kind"]) for i in items] == [
        ("late", "acceptance"),  # last day 17 March: overdue
        ("soon", "acceptance"),  # last day 21 March (a Saturday) moves to Monday 23 March
        ("handling", "completion"),
    ]
    assert [i["overdue"] for i in items] == [True, False, False]
    assert (busy["data"]["open_count"], busy["data"]["overdue_count"]) == (3, 1)
    assert (busy["data"]["zero_report"], busy["data"]["unit_name"]) == (False, "岳麓区住建局")
    assert (quiet["data"]["zero_report"], quiet["data"]["items"]) == (True, [])
    assert sorted((d.channel, d.digest_id, d.alert_id) for d in deliveries) == [
        ("email", f"{QUIET}:2026-03-20", None),
        ("email", f"{BUSY}:2026-03-20", None),
        ("webhook", f"{BUSY}:2026-03-20", None),
    ]

    # Later the same day, and from a second instance on the same database: nothing more.
    assert create_digests(engine, day=day, now=now + timedelta(hours=3), tz=SHANGHAI) == []
    other = make_engine(str(engine.url))
    try:
        assert create_digests(other, day=day, now=now, tz=SHANGHAI) == []
    finally:
        other.dispose()
    # The next day is another digest.
    assert sorted(create_digests(engine, day=day + timedelta(days=1), now=now, tz=SHANGHAI)) == [QUIET, BUSY]
    assert len(digests(engine)) == 4


class Hooks:
    """A webhook receiver recording each body and signature."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.received.append((body, self.headers.get("X-Xinfang-Signature", "")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.content)
        return "250 OK"


async def _poll(ok: Any) -> None:
    for _ in range(400):  # 20 s
        if ok():
            return
        await asyncio.sleep(0.05)
    pytest.fail("condition not met within 20 s")


def test_on_the_simulated_clock_digests_reach_webhook_and_mail_once_a_day_across_restarts(engine) -> None:
    hooks, sink = Hooks(), Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp = SmtpConfig("127.0.0.1", controller.server.sockets[0].getsockname()[1], "alerts@xinfang.example")
    subscribe(engine, BUSY, "webhook", hooks.url, SECRET)
    subscribe(engine, QUIET, "email", "duty@quiet.example")
    # ALERTS_CLOCK_*: simulated 20 March 08:00 now, one simulated day every 4 real seconds, so the
    # first digests fall due after 0.08 s and the next day's after 4 s; every "restart" below
    # builds the clock again from the same settings and continues the same timeline.
    origin, real_origin = local(date(2026, 3, 20), 8, 0), datetime.now(UTC)

    def clock() -> Any:
        return make_clock(origin, real_origin, 86400 / 4)

    async def run_for(until: Any) -> None:
        mirror = await open_cases(engine)
        tasks = [
            asyncio.create_task(
                digest_loop(engine, mirror, at=time(8, 30), tz=SHANGHAI, poll_seconds=0.05, clock=clock())
            ),
            asyncio.create_task(
                delivery_loop(
                    engine,
                    Deliverer(timeout=5, smtp=smtp),
                    poll_seconds=0.05,
                    max_attempts=3,
                    backoff_seconds=0.1,
                    lease=timedelta(seconds=15),
                    clock=clock(),
                )
            ),
        ]
        try:
            await _poll(until)
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    def delivered() -> int:
        return len(hooks.received) + len(sink.messages)

    try:
        asyncio.run(run_for(lambda: delivered() >= 2))  # the first day
        for hour in (12, 16):  # restarted twice within the same simulated day: nothing more
            asyncio.run(run_for(lambda h=hour: clock()() >= local(date(2026, 3, 20), h)))
        first_day = delivered()
        asyncio.run(run_for(lambda: delivered() >= 4))  # runs into the next simulated day
    finally:
        controller.stop()
        hooks.server.shutdown()

    assert first_day == 2
    assert digests(engine) == [
        (QUIET, date(2026, 3, 20)),
        (QUIET, date(2026, 3, 21)),
        (BUSY, date(2026, 3, 20)),
        (BUSY, date(2026, 3, 21)),
    ]
    assert (len(hooks.received), len(sink.messages)) == (2, 2)
    bodies = [json.loads(body) for body, _ in hooks.received]
    assert [b["data"]["day"] for b in bodies] == ["2026-03-20", "2026-03-21"]
    assert all(signature == sign(SECRET, body) for body, signature in hooks.received)
    assert [i["case_id"] for i in bodies[0]["data"]["items"]] == ["late", "soon", "handling"]
    mails = [message_from_bytes(raw) for raw in sink.messages]
    assert all(m["To"] == "duty@quiet.example" for m in mails)
    assert [str(make_header(decode_header(m["Subject"]))) for m in mails] == [
        f"[信访日报] {QUIET} 2026-03-20 零报告",
        f"[信访日报] {QUIET} 2026-03-21 零报告",
    ]
    assert "零报告" in mails[0].get_payload(decode=True).decode("utf-8")
