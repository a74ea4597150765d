"""Alerts' own tables: subscriptions, alerts raised, daily digests, deliveries, and the open
deadlines the digests list (mirrored from the case table, which each instance holds only a share of)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xinfang_common.db import UTCDateTime, naming_metadata


class Base(DeclarativeBase):
    """Declarative base with the shared constraint naming convention."""

    metadata = naming_metadata()


class Subscription(Base):
    """Where a unit wants its alerts: an HTTP webhook (signed) or an email address."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertRecord(Base):
    """An alert as received from the alert topic (once per alert id)."""

    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    target_unit_code: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(32))
    deadline_version: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text, doc="the CloudEvent as published, sent to webhooks as is")


class OpenDeadline(Base):
    """The latest version of one deadline of a case, as the instance owning the case computed it.

    The case table is split across instances by partition; the daily digest of a unit needs all
    of its cases, so each instance copies its share here (see ``DeadlineMirror``).
    """

    __tablename__ = "deadlines"

    deadline_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_day: Mapped[date] = mapped_column(Date)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    alerting: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Digest(Base):
    """A unit's daily digest (每日待办; 零报告 when empty): one per unit and local day, ever."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("unit_code", "day", name="uq_digests_unit_code_day"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True, doc="<unit_code>:<day>")
    unit_code: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, doc="the local day it reports on")
    event_id: Mapped[str] = mapped_column(String(64))
    open_count: Mapped[int] = mapped_column(Integer)
    overdue_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text, doc="the CloudEvent sent to webhooks as is")


class Delivery(Base):
    """An alert or digest to a subscription: pending, sending (leased), delivered or failed (dead letter)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "subscription_id", name="uq_deliveries_alert_subscription"),
        UniqueConstraint("digest_id", "subscription_id", name="uq_deliveries_digest_subscription"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.alert_id"), index=True, default=None)
    digest_id: Mapped[str | None] = mapped_column(ForeignKey("digests.id"), index=True, default=None)
    subscription_id: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
