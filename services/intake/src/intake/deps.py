"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from intake.access.policy import CaseScope
from intake.access.units import UnitTree
from intake.config import IntakeSettings
from intake.consumers import CaseAssignedConsumer
from intake.crypto import PersonalDataCipher
from intake.outbox import OutboxRelay
from intake.tracking.rate_limit import TrackingLimiter
from xinfang_common.auth import PrincipalDep
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.cloudevents import utcnow


@dataclass
class IntakeState:
    """What the app's lifespan builds and the endpoints use."""

    settings: IntakeSettings
    engine: Engine
    session_factory: sessionmaker[Session]
    cipher: PersonalDataCipher
    relay: OutboxRelay
    consumer: CaseAssignedConsumer
    calendar: HolidayCalendar
    track_limiter: TrackingLimiter
    clock: Callable[[], datetime] = field(default=utcnow)
    """The current time for the petitioner's periods and actions; tests replace it to move time."""


def get_state(request: Request) -> IntakeState:
    """The running service's state."""
    state: IntakeState = request.app.state.intake
    return state


StateDep = Annotated[IntakeState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A database session for one request."""
    with state.session_factory() as session:
        yield session


def get_cipher(state: StateDep) -> PersonalDataCipher:
    """The personal-data cipher."""
    return state.cipher


def get_relay(state: StateDep) -> OutboxRelay:
    """The outbox relay, to wake after a commit."""
    return state.relay


SessionDep = Annotated[Session, Depends(get_session)]
CipherDep = Annotated[PersonalDataCipher, Depends(get_cipher)]
RelayDep = Annotated[OutboxRelay, Depends(get_relay)]


def get_scope(principal: PrincipalDep, state: StateDep) -> CaseScope:
    """The cases the caller may see."""
    # A session of its own: the request's session must still be free to begin its transaction.
    with state.session_factory() as session:
        return CaseScope.of(principal, UnitTree.load(session))


ScopeDep = Annotated[CaseScope, Depends(get_scope)]
