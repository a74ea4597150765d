"""The agents: each reads one topic and applies its events to the read model."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import faust
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from reporting.app import SERVICE
from reporting.metrics import DB_RETRIES, DUPLICATE_EVENTS
from reporting.readmodel.database import Database
from reporting.readmodel.projector import Outcome, apply_event
from xinfang_common.cloudevents import CloudEvent, utcnow
from xinfang_common.retry import retry_until_done
from xinfang_common.streams import dlq_topic, handle_or_dead_letter, spec_topic
from xinfang_common.topics import (
    ALERT_RAISED,
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_EXTENDED,
    CASE_LINKED,
    CASE_OBJECTED,
    CASE_RATED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    DEADLINE_SCHEDULED,
    PETITION_REGISTERED,
    SURGE_DETECTED,
    UNIT_CHANGED,
    TopicSpec,
)

log = logging.getLogger(__name__)

AGENT_NAMES: dict[str, str] = {
    PETITION_REGISTERED.name: "record_registrations",
    CASE_ASSIGNED.name: "record_assignments",
    DEADLINE_SCHEDULED.name: "record_deadlines",
    CASE_ACCEPTED.name: "record_acceptances",
    CASE_DECLINED.name: "record_declines",
    CASE_OBJECTED.name: "record_objections",
    CASE_EXTENDED.name: "record_extensions",
    CASE_REPLIED.name: "record_replies",
    CASE_CLOSED.name: "record_closures",
    CASE_RATED.name: "record_ratings",
    CASE_REVIEW_REQUESTED.name: "record_review_requests",
    UNIT_CHANGED.name: "record_units",
    CASE_LINKED.name: "record_links",
    ALERT_RAISED.name: "record_alerts",
    SURGE_DETECTED.name: "record_surges",
}
"""Every topic reporting reads, with the name of the agent that reads it."""

CONSUMED: tuple[tuple[TopicSpec, type[BaseModel]], ...] = tuple(
    (spec, spec.schema)
    for spec in (
        PETITION_REGISTERED,
        CASE_ASSIGNED,
        DEADLINE_SCHEDULED,
        CASE_ACCEPTED,
        CASE_DECLINED,
        CASE_OBJECTED,
        CASE_EXTENDED,
        CASE_REPLIED,
        CASE_CLOSED,
        CASE_RATED,
        CASE_REVIEW_REQUESTED,
        UNIT_CHANGED,
        CASE_LINKED,
        ALERT_RAISED,
        SURGE_DETECTED,
    )
)


def _transient(exc: Exception) -> bool:
    """Whether a database error is about reaching the database rather than about the event."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class EventRecorder:
    """Applies one raw message from a consumed topic; what every agent runs per message."""

    def __init__(
        self,
        *,
        database: Database,
        dead_letters: dict[str, Any],
        retry_max_seconds: float = 30.0,
        retry_initial_seconds: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._dead_letters = dead_letters
        self._retry_max_seconds = retry_max_seconds
        self._retry_initial_seconds = retry_initial_seconds
        self._clock = clock

    async def handle(
        self, spec: TopicSpec, data_model: type[BaseModel], raw: bytes | None, key: bytes | None
    ) -> bool:
        """Decode and apply; a message that cannot be decoded or applied is dead-lettered.

        Returns True when the event was applied or was a duplicate.
        """

        async def record(event: CloudEvent[Any]) -> None:
            if await self._apply_until_stored(spec, event) is Outcome.DUPLICATE:
                DUPLICATE_EVENTS.labels(spec.name).inc()

        return await handle_or_dead_letter(
            service=SERVICE,
            spec=spec,
            raw=raw,
            key=key,
            dead_letters=self._dead_letters[spec.name],
            handler=record,
            data_model=data_model,
        )

    async def _apply_until_stored(self, spec: TopicSpec, event: CloudEvent[Any]) -> Outcome:
        # An unreachable database is not the event's fault: keep trying (holding this partition,
        # which keeps each case in order) instead of dead-lettering good events. Any other error
        # is about the event and propagates to the dead-letter guard.
        return await retry_until_done(
            lambda: self._database.run(apply_event, self._database.sessions, event, now=self._clock()),
            what="writing to the read model",
            initial_seconds=self._retry_initial_seconds,
            max_seconds=self._retry_max_seconds,
            retryable=_transient,
            on_retry=DB_RETRIES.inc,
            log_extra={"topic": spec.name, "case_id": event.subject},
        )


def build_recorder(app: faust.App, database: Database, *, retry_max_seconds: float) -> EventRecorder:
    """A recorder dead-lettering to reporting's own dead-letter topic of each consumed topic."""
    return EventRecorder(
        database=database,
        dead_letters={spec.name: dlq_topic(app, spec, SERVICE) for spec, _ in CONSUMED},
        retry_max_seconds=retry_max_seconds,
    )


def register_agents(app: faust.App, recorder: EventRecorder) -> dict[str, Any]:
    """Attach one agent per consumed topic to ``app``; returns them by name."""
    agents: dict[str, Any] = {}
    for spec, data_model in CONSUMED:
        agents[AGENT_NAMES[spec.name]] = _agent(app, recorder, spec, data_model)
    return agents


def _agent(app: faust.App, recorder: EventRecorder, spec: TopicSpec, data_model: type[BaseModel]) -> Any:
    async def record(stream: faust.StreamT[bytes]) -> AsyncIterator[bool]:
        async for message in stream.events():
            yield await recorder.handle(spec, data_model, message.value, message.key)

    return app.agent(spec_topic(app, spec), name=AGENT_NAMES[spec.name])(record)
