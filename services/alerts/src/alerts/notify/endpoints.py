"""HTTP API of the notifier: webhook and email subscriptions per unit, and the alerts raised."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, HttpUrl, model_validator
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.notify.models import AlertRecord, Subscription
from alerts.notify.service import new_subscription_id
from xinfang_common.auth import Forbidden, Principal, PrincipalDep, Role
from xinfang_common.cloudevents import utcnow
from xinfang_common.errors import NotFound


class SubscriptionNotFound(NotFound):
    """No such subscription (or not one of the caller's unit)."""


class SubscriptionCreate(BaseModel):
    """A unit's webhook (signed with ``secret``) or email address for its alerts."""

    unit_code: str = Field(min_length=1, max_length=64)
    channel: Literal["webhook", "email"]
    url: HttpUrl | None = Field(default=None, description="for a webhook: where alerts are POSTed")
    email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", description="for email: the mailbox"
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="for a webhook: the HMAC-SHA256 key of the X-Xinfang-Signature header (sha256=<hex>)",
    )

    @model_validator(mode="after")
    def _target_matches_channel(self) -> SubscriptionCreate:
        if self.channel == "webhook" and (self.url is None or not self.secret):
            raise ValueError("a webhook needs url and secret")
        if self.channel == "email" and self.email is None:
            raise ValueError("an email subscription needs email")
        return self


class SubscriptionRead(BaseModel):
    """A subscription; the secret is never shown again."""

    id: str
    unit_code: str
    channel: str
    target: str
    created_by: str
    created_at: datetime


class AlertRead(BaseModel):
    """An alert raised on a case."""

    alert_id: str
    event_id: str
    case_id: str
    unit_code: str
    target_unit_code: str
    kind: str
    tier: str
    deadline_version: int
    due_at: datetime
    raised_at: datetime
    provisional: bool


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(_engine)]

_MANAGE = (Role.ADMIN, Role.SUPERVISOR, Role.HANDLER)
_READ_ALL = (Role.ADMIN, Role.AUDITOR)


def visible_units(request: Request, principal: Principal) -> set[str] | None:
    """The units whose alerts and deadlines the caller may see; None for all of them."""
    if principal.has(*_READ_ALL):
        return None
    if principal.has(Role.SUPERVISOR):
        subtree: set[str] = request.app.state.units.subtree(principal.unit)
        return subtree
    return {principal.unit}


def _may_manage(principal: Principal, unit_code: str) -> None:
    if principal.has(Role.ADMIN):
        return
    if not principal.has(*_MANAGE) or principal.unit != unit_code:
        raise Forbidden(f"only an admin, or staff of {unit_code}, may manage its subscriptions")


def _read(sub: Subscription) -> SubscriptionRead:
    return SubscriptionRead(
        id=sub.id,
        unit_code=sub.unit_code,
        channel=sub.channel,
        target=sub.target,
        created_by=sub.created_by,
        created_at=sub.created_at,
    )


router = APIRouter(prefix="/v1", tags=["notifications"])

_MANAGERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Neither an admin nor a handler or supervisor of the subscription's unit"},
}


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a unit's webhook or mailbox",
    responses=_MANAGERS,
)
async def create_subscription(
    engine: EngineDep, principal: PrincipalDep, body: SubscriptionCreate
) -> SubscriptionRead:
    """Alerts whose target is the unit are delivered here from now on."""
    _may_manage(principal, body.unit_code)

    def create() -> SubscriptionRead:
        with Session(engine) as session:
            sub = Subscription(
                id=new_subscription_id(),
                unit_code=body.unit_code,
                channel=body.channel,
                target=str(body.url) if body.channel == "webhook" else str(body.email),
                secret=body.secret,
                created_by=principal.subject,
                created_at=utcnow(),
            )
            session.add(sub)
            session.commit()
            return _read(sub)

    return await asyncio.to_thread(create)


@router.get("/subscriptions", summary="Subscriptions the caller may manage", responses=_MANAGERS)
async def list_subscriptions(
    engine: EngineDep,
    principal: PrincipalDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> list[SubscriptionRead]:
    """An admin sees every unit's (or ``unit``'s); others their own unit's."""
    if not principal.has(Role.ADMIN):
        _may_manage(principal, unit or principal.unit)
        unit = principal.unit

    def rows() -> list[SubscriptionRead]:
        with Session(engine) as session:
            query = select(Subscription).order_by(Subscription.created_at)
            if unit:
                query = query.where(Subscription.unit_code == unit)
            return [_read(s) for s in session.scalars(query)]

    return await asyncio.to_thread(rows)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe",
    responses={**_MANAGERS, 404: {"description": "No such subscription"}},
)
async def delete_subscription(engine: EngineDep, principal: PrincipalDep, subscription_id: str) -> Response:
    """Pending deliveries to it fail with 'the subscription was removed'."""

    def delete() -> None:
        with Session(engine) as session:
            sub = session.get(Subscription, subscription_id)
            if sub is None:
                raise SubscriptionNotFound(f"no subscription {subscription_id}")
            _may_manage(principal, sub.unit_code)
            session.delete(sub)
            session.commit()

    await asyncio.to_thread(delete)
    return Response(status_code=204)


@router.get(
    "/alerts",
    summary="Alerts raised, newest first",
    responses={
        401: {"description": "No valid bearer token"},
        403: {"description": "The unit asked for is not visible to the caller"},
    },
)
async def list_alerts(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    unit: Annotated[str | None, Query(max_length=64, description="target unit (who was told)")] = None,
    since: Annotated[AwareDatetime | None, Query(description="raised at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertRead]:
    """Alerts whose target is ``unit`` (or any unit the caller may see), raised since ``since``."""
    allowed = visible_units(request, principal)
    if unit is not None and allowed is not None and unit not in allowed:
        raise Forbidden(f"alerts of {unit} are not visible to you")

    def rows() -> list[AlertRead]:
        with Session(engine) as session:
            query = select(AlertRecord).order_by(AlertRecord.raised_at.desc()).limit(limit)
            if unit is not None:
                query = query.where(AlertRecord.target_unit_code == unit)
            elif allowed is not None:
                query = query.where(AlertRecord.target_unit_code.in_(sorted(allowed)))
            if since is not None:
                query = query.where(AlertRecord.raised_at >= since)
            return [
                AlertRead(
                    alert_id=a.alert_id,
                    event_id=a.event_id,
                    case_id=a.case_id,
                    unit_code=a.unit_code,
                    target_unit_code=a.target_unit_code,
                    kind=a.kind,
                    tier=a.tier,
                    deadline_version=a.deadline_version,
                    due_at=a.due_at,
                    raised_at=a.raised_at,
                    provisional=a.provisional,
                )
                for a in session.scalars(query)
            ]

    return await asyncio.to_thread(rows)
