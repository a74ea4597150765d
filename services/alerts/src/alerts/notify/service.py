"""Recording alerts, fanning them out to subscriptions, and delivering with retries.

The alert topic is the record; right after publishing an alert the scanner records it here (the
outbox that turns each alert into deliveries), before marking it raised in its table. A
delivery is leased (status ``sending`` until a deadline) before it is tried, so that several
alerts instances sharing the database do not send it twice, and a crashed try is taken up
again when its lease runs out. After the last failed try it stays as ``failed``: the dead letter.

Daily digests go the same way: ``create_digests`` stores each unit's digest of the day once (the
row keyed by unit and day is the exactly-once guard across restarts and instances) with one
pending delivery per subscription.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import httpx
from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import metrics
from alerts.deadlines import CaseState, deadline_id
from alerts.digest import (
    OpenItem,
    UnitDigest,
    build_digest,
    digest_day,
    digest_event,
    digest_id,
    digest_text,
)
from alerts.notify.models import AlertRecord, Delivery, Digest, OpenDeadline, Subscription
from xinfang_common.cloudevents import CloudEvent, utcnow
from xinfang_common.events import AlertRaised

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Xinfang-Signature"
_PROVISIONAL = "(期限为暂定: 该年度法定节假日安排尚未发布)"


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of the body with the secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def record_alert(session: Session, event: CloudEvent[AlertRaised], *, now: datetime) -> bool:
    """Store the alert and one pending delivery per subscription of its target unit; False if known."""
    data = event.data
    if session.get(AlertRecord, data.alert_id) is not None:
        return False
    session.add(
        AlertRecord(
            alert_id=data.alert_id,
            event_id=event.id,
            case_id=data.case_id,
            unit_code=data.unit_code,
            target_unit_code=data.target_unit_code,
            kind=data.kind.value,
            tier=data.tier.value,
            deadline_version=data.deadline_version,
            due_at=data.due_at,
            raised_at=data.raised_at,
            provisional=data.provisional,
            body=event.to_json_bytes().decode("utf-8"),
        )
    )
    session.flush()
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.unit_code == data.target_unit_code)
    ).all()
    for subscription in subscriptions:
        session.add(
            Delivery(
                alert_id=data.alert_id,
                subscription_id=subscription.id,
                channel=subscription.channel,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
    return True


def record_alert_in(engine: Engine, event: CloudEvent[AlertRaised]) -> bool:
    """``record_alert`` in a transaction of its own (the scanner's outbox step)."""
    with Session(engine) as session:
        new = record_alert(session, event, now=utcnow())
        session.commit()
        return new


# --- open deadlines, for the digests ---------------------------------------------------------


def _mirror_rows(states: Iterable[CaseState], now: datetime) -> list[dict[str, Any]]:
    return [
        dict(
            deadline_id=deadline_id(state.case_id, kind),
            case_id=state.case_id,
            kind=kind.value,
            unit_code=d.unit_code,
            version=d.version,
            due_at=d.due_at,
            last_day=d.last_day,
            provisional=d.provisional,
            stopped=d.stopped,
            alerting=d.alerting and not state.imported,
            updated_at=now,
        )
        for state in states
        for kind, d in state.deadlines.items()
    ]


_STORE_CHUNK = 500
"""Deadline ids per query: well under SQLite's and PostgreSQL's bound-parameter limits."""


def store_deadlines(engine: Engine, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update each deadline (the columns of ``OpenDeadline``) unless the table has that
    version or a newer one; how many rows were written."""
    batch = list(rows)
    written = 0
    with Session(engine) as session:
        for start in range(0, len(batch), _STORE_CHUNK):
            chunk = batch[start : start + _STORE_CHUNK]
            query = select(OpenDeadline.deadline_id, OpenDeadline.version).where(
                OpenDeadline.deadline_id.in_([row["deadline_id"] for row in chunk])
            )
            stored = {ident: version for ident, version in session.execute(query)}
            new = [row for row in chunk if row["deadline_id"] not in stored]
            newer = [row for row in chunk if stored.get(row["deadline_id"], row["version"]) < row["version"]]
            if new:
                session.execute(insert(OpenDeadline), new)
            if newer:
                session.execute(update(OpenDeadline), newer)
            written += len(new) + len(newer)
        session.commit()
    return written


class DeadlineMirror:
    """Copies this instance's share of the case table into the ``deadlines`` table.

    The scanner copies every case it owns after each recovery (``complete``), then after each
    round only the cases whose deadlines changed. ``copied`` is set after the first complete copy
    since start, and the digest waits for it so that it does not report from before this
    instance caught up. The table's versions decide what is written, so nothing is kept here.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self.copied = asyncio.Event()

    async def sync(self, states: Iterable[CaseState], *, complete: bool = True) -> int:
        """Write the deadlines whose version is new to the table; how many. ``complete``: these are
        all the cases this instance owns (or the last part of them)."""
        rows = _mirror_rows(states, self._clock())
        written = await asyncio.to_thread(store_deadlines, self._engine, rows) if rows else 0
        if complete:
            self.copied.set()
        return written


# --- daily digests ---------------------------------------------------------------------------


def create_digests(
    engine: Engine,
    *,
    day: date,
    now: datetime,
    tz: ZoneInfo,
    unit_name: Callable[[str], str | None] = lambda code: None,
) -> list[str]:
    """Store the digest of ``day`` of every subscribed unit that has none yet, with its deliveries.

    One transaction per unit; the unique (unit, day) row makes a second instance, or a restart,
    fail to add it again, and that unit is simply skipped. Returns the units whose digest was made.
    """
    with Session(engine) as session:
        subscribed = set(session.scalars(select(Subscription.unit_code).distinct()).all())
        done = set(session.scalars(select(Digest.unit_code).where(Digest.day == day)).all())
    made: list[str] = []
    for unit in sorted(subscribed - done):
        with Session(engine) as session:
            open_rows = session.scalars(
                select(OpenDeadline).where(
                    OpenDeadline.unit_code == unit,
                    OpenDeadline.stopped.is_(False),
                    OpenDeadline.alerting.is_(True),
                )
            ).all()
            digest = build_digest(
                unit,
                unit_name(unit),
                day,
                now=now,
                tz=tz,
                open_items=[
                    OpenItem(r.case_id, r.kind, r.due_at, r.last_day, r.provisional) for r in open_rows
                ],
            )
            event = digest_event(digest)
            ident = digest_id(unit, day)
            session.add(
                Digest(
                    id=ident,
                    unit_code=unit,
                    day=day,
                    event_id=event.id,
                    open_count=digest.open_count,
                    overdue_count=digest.overdue_count,
                    created_at=now,
                    body=event.to_json_bytes().decode("utf-8"),
                )
            )
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                continue  # another instance made it first
            subscriptions = session.scalars(select(Subscription).where(Subscription.unit_code == unit)).all()
            for subscription in subscriptions:
                session.add(
                    Delivery(
                        digest_id=ident,
                        subscription_id=subscription.id,
                        channel=subscription.channel,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
        metrics.DIGESTS.labels("zero" if digest.zero_report else "open").inc()
        made.append(unit)
    return made


async def digest_loop(
    engine: Engine,
    mirror: DeadlineMirror,
    *,
    at: time,
    tz: ZoneInfo,
    poll_seconds: float,
    clock: Callable[[], datetime] = utcnow,
    unit_name: Callable[[str], str | None] = lambda code: None,
) -> None:
    """Make each day's digests once the local digest time has passed, for ever (cancelled at shutdown)."""
    await mirror.copied.wait()
    while True:
        try:
            now = clock()
            day = digest_day(now, at, tz)
            if day is not None:
                made = await asyncio.to_thread(
                    create_digests, engine, day=day, now=now, tz=tz, unit_name=unit_name
                )
                if made:
                    log.info("daily digests made", extra={"day": day.isoformat(), "units": len(made)})
        except Exception:
            log.exception("digest round failed")
        await asyncio.sleep(poll_seconds)


# --- delivery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery leased for one try, with what it needs."""

    id: int
    attempts: int
    channel: str
    target: str
    secret: str | None
    body: str
    alert: AlertRecord | None
    digest: Digest | None = None


def claim_due(session: Session, *, now: datetime, lease: timedelta, limit: int = 20) -> list[Claimed]:
    """Lease deliveries whose next try is due (pending, or a lapsed lease of a crashed try)."""
    rows = session.scalars(
        select(Delivery)
        .where(
            or_(Delivery.status == "pending", Delivery.status == "sending"), Delivery.next_attempt_at <= now
        )
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    ).all()
    claimed: list[Claimed] = []
    for row in rows:
        taken = session.execute(
            update(Delivery)
            .where(
                Delivery.id == row.id,
                Delivery.next_attempt_at == row.next_attempt_at,
                Delivery.status == row.status,
            )
            .values(status="sending", next_attempt_at=now + lease)
        )
        if not getattr(taken, "rowcount", 0):
            continue  # another instance leased it first
        subscription = session.get(Subscription, row.subscription_id)
        alert = session.get(AlertRecord, row.alert_id) if row.alert_id else None
        digest = session.get(Digest, row.digest_id) if row.digest_id else None
        record = alert or digest
        claimed.append(
            Claimed(
                id=row.id,
                attempts=row.attempts,
                channel=row.channel,
                target=subscription.target if subscription else "",
                secret=subscription.secret if subscription else None,
                body=record.body if record else "",
                alert=alert,
                digest=digest,
            )
        )
    session.commit()
    return claimed


def finish(
    session: Session,
    claimed: Claimed,
    *,
    error: str | None,
    now: datetime,
    max_attempts: int,
    backoff_seconds: float,
) -> str:
    """Record the outcome of one try: delivered, retried later (exponential back-off) or failed."""
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": error}
    if error is None:
        outcome = "delivered"
        values.update(status="delivered", finished_at=now)
    elif attempts >= max_attempts:
        outcome = "failed"
        values.update(status="failed", finished_at=now)
    else:
        outcome = "retried"
        delay = backoff_seconds * (2 ** (attempts - 1))
        values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay))
    session.execute(update(Delivery).where(Delivery.id == claimed.id).values(**values))
    session.commit()
    metrics.DELIVERIES.labels(claimed.channel, outcome).inc()
    return outcome


@dataclass(frozen=True)
class SmtpConfig:
    """Where email alerts go out."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False


class Deliverer:
    """Tries one delivery over its channel; raises with the reason when it did not go through."""

    def __init__(self, *, timeout: float, smtp: SmtpConfig | None) -> None:
        self._timeout = timeout
        self._smtp = smtp

    async def deliver(self, claimed: Claimed) -> None:
        """One try."""
        if not claimed.target:
            raise LookupError("the subscription was removed")
        if claimed.channel == "webhook":
            await self._webhook(claimed)
        elif claimed.channel == "email":
            await self._email(claimed)
        else:
            raise ValueError(f"unknown channel {claimed.channel!r}")

    async def _webhook(self, claimed: Claimed) -> None:
        body = claimed.body.encode("utf-8")
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "X-Xinfang-Delivery": str(claimed.id),
        }
        record = claimed.alert or claimed.digest
        if record is not None:
            headers["X-Xinfang-Event-Id"] = record.event_id
        if claimed.secret:
            headers[SIGNATURE_HEADER] = sign(claimed.secret, body)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(claimed.target, content=body, headers=headers)
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered {response.status_code}")

    async def _email(self, claimed: Claimed) -> None:
        if self._smtp is None or not self._smtp.host:
            raise RuntimeError("email is not configured (ALERTS_SMTP_HOST)")
        alert = claimed.alert
        message = EmailMessage()
        message["From"] = self._smtp.sender
        message["To"] = claimed.target
        if claimed.digest is not None:
            subject, text = digest_text(CloudEvent[UnitDigest].model_validate_json(claimed.body).data)
            message["Subject"] = subject
            message.set_content(text)
        elif alert is not None:
            message["Subject"] = f"[信访预警] {alert.tier} {alert.kind} {alert.case_id}"
            message.set_content(
                f"案件 {alert.case_id} 的 {alert.kind} 期限 ({alert.due_at.isoformat()}) : {alert.tier}\n"
                f"责任单位 {alert.unit_code}; 通知单位 {alert.target_unit_code}\n"
                f"{_PROVISIONAL if alert.provisional else ''}\n\n{claimed.body}\n"
            )
        else:
            message["Subject"] = "[信访预警]"
            message.set_content(claimed.body)
        await aiosmtplib.send(
            message,
            hostname=self._smtp.host,
            port=self._smtp.port,
            username=self._smtp.username or None,
            password=self._smtp.password or None,
            start_tls=self._smtp.starttls,
            timeout=self._timeout,
        )


async def delivery_loop(
    engine: Engine,
    deliverer: Deliverer,
    *,
    poll_seconds: float,
    max_attempts: int,
    backoff_seconds: float,
    lease: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Deliver whatever is due, for ever (cancelled at shutdown)."""
    while True:
        try:
            # Not expired on commit: the claimed rows are read after their session is gone.
            with Session(engine, expire_on_commit=False) as session:
                batch = await asyncio.to_thread(claim_due, session, now=clock(), lease=lease)
            for claimed in batch:
                error: str | None = None
                try:
                    await deliverer.deliver(claimed)
                except Exception as exc:  # noqa: BLE001 - any failure is a failed try, recorded
                    error = f"{type(exc).__name__}: {exc}"[:1000]
                with Session(engine) as session:
                    outcome = await asyncio.to_thread(
                        finish,
                        session,
                        claimed,
                        error=error,
                        now=clock(),
                        max_attempts=max_attempts,
                        backoff_seconds=backoff_seconds,
                    )
                if outcome != "delivered":
                    log.warning(
                        "alert delivery %s",
                        outcome,
                        extra={"delivery": claimed.id, "channel": claimed.channel, "reason": error},
                    )
        except Exception:
            log.exception("delivery round failed")
        await asyncio.sleep(poll_seconds)


def new_subscription_id() -> str:
    """A fresh subscription id."""
    return str(uuid.uuid4())
