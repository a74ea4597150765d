"""Routing's agents: read case events, let ``CaseService`` decide, publish what it returns.

``route_petitions`` (PetitionRegistered), ``reroute_objections`` (CaseObjected),
``assign_reviews`` (ReviewRequested), ``track_replies`` (CaseReplied), ``track_declines``
(CaseDeclined) and ``track_closures`` (CaseClosed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import faust
from pydantic import BaseModel
from sqlalchemy.orm import Session

from routing.app import SERVICE
from routing.cases.database import Database, transient
from routing.cases.service import CaseService, Classifier, InForce, Output, RoutingPolicy, guess_category
from routing.configured_rules import RoutingRule
from routing.metrics import (
    CASES_ASSIGNED,
    CASES_LINKED,
    CASES_TRIAGED,
    DATABASE_RETRIES,
    DECISION_SECONDS,
    PUBLISH_RETRIES,
    SURGES_DETECTED,
)
from routing.org_tree import OrgTree
from xinfang_common.cloudevents import CloudEvent, utcnow
from xinfang_common.events import (
    CaseAssigned,
    CaseClosed,
    CaseDeclined,
    CaseLinked,
    CaseObjected,
    CaseReplied,
    PetitionRegistered,
    ReviewRequested,
    TriageQueued,
)
from xinfang_common.keyed import consume_by_key
from xinfang_common.retry import retry_until_done
from xinfang_common.streams import dlq_topic, handle_or_dead_letter, publish, spec_topic
from xinfang_common.topics import (
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_LINKED,
    CASE_OBJECTED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    CASE_TRIAGED,
    PETITION_REGISTERED,
    SURGE_DETECTED,
    TopicSpec,
)

__all__ = ["PetitionRouter", "build_router", "guess_category", "register_agents"]

log = logging.getLogger(__name__)

Publisher = Callable[[Any, CloudEvent[Any]], Awaitable[None]]

CONSUMED: tuple[TopicSpec, ...] = (
    PETITION_REGISTERED,
    CASE_OBJECTED,
    CASE_REVIEW_REQUESTED,
    CASE_REPLIED,
    CASE_DECLINED,
    CASE_CLOSED,
)
PRODUCED: tuple[TopicSpec, ...] = (CASE_ASSIGNED, CASE_LINKED, SURGE_DETECTED, CASE_TRIAGED)


def _in_memory_service(clock: Callable[[], datetime], min_confidence: float) -> CaseService:
    database = Database("sqlite://")
    database.create_tables()
    return CaseService(database, RoutingPolicy(min_confidence=min_confidence), clock=clock)


class PetitionRouter:
    """Handles one raw message of each consumed topic; what the agents run for each message."""

    def __init__(
        self,
        *,
        org_tree: Callable[[], OrgTree],
        assigned_topic: Any,
        dead_letters: Any,
        publisher: Publisher = publish,
        retry_max_seconds: float = 30.0,
        retry_initial_seconds: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
        classifier: Callable[[], Classifier | None] = lambda: None,
        min_confidence: float = 0.6,
        rules: Callable[[], Sequence[RoutingRule]] = lambda: (),
        service: CaseService | None = None,
        topics: Mapping[str, Any] | None = None,
        dead_letters_by_topic: Mapping[str, Any] | None = None,
    ) -> None:
        self._org_tree = org_tree
        self._dead_letters = dead_letters
        self._dead_letters_by_topic = dict(dead_letters_by_topic or {})
        self._publish = publisher
        self._retry_max_seconds = retry_max_seconds
        self._retry_initial_seconds = retry_initial_seconds
        self._classifier = classifier
        self._rules = rules
        self.service = service or _in_memory_service(clock, min_confidence)
        self._topics: dict[str, Any] = {spec.name: spec.name for spec in PRODUCED}
        self._topics.update(topics or {})
        self._topics[CASE_ASSIGNED.name] = assigned_topic
        # One message at a time: the HTTP triage endpoint may write the same rows meanwhile.
        self.lock = asyncio.Lock()

    def in_force(self) -> InForce:
        """The tree, rules and model in force right now."""
        return InForce(self._org_tree(), tuple(self._rules()), self._classifier())

    async def handle(self, raw: bytes | None, key: bytes | None) -> bool:
        """Route one PetitionRegistered; True when it was handled (assigned, linked or sent to triage)."""
        return await self._handle(
            PETITION_REGISTERED,
            PetitionRegistered,
            raw,
            key,
            lambda s, e, now: self.service.registered(s, e, now),
        )

    async def handle_objection(self, raw: bytes | None, key: bytes | None) -> bool:
        """Re-route a case its unit objected to."""
        return await self._handle(
            CASE_OBJECTED, CaseObjected, raw, key, lambda s, e, now: self.service.objected(s, e, now)
        )

    async def handle_review(self, raw: bytes | None, key: bytes | None) -> bool:
        """Assign a review or recheck to the next superior unit."""
        return await self._handle(
            CASE_REVIEW_REQUESTED,
            ReviewRequested,
            raw,
            key,
            lambda s, e, now: self.service.review_requested(s, e, now),
        )

    async def handle_reply(self, raw: bytes | None, key: bytes | None) -> bool:
        """Remember that a case was answered (and whether finally)."""
        return await self._handle(
            CASE_REPLIED, CaseReplied, raw, key, lambda s, e, _: self.service.replied(s, e)
        )

    async def handle_declined(self, raw: bytes | None, key: bytes | None) -> bool:
        """Remember that a case was declined: it is no longer in progress."""
        return await self._handle(
            CASE_DECLINED, CaseDeclined, raw, key, lambda s, e, _: self.service.ended(s, e)
        )

    async def handle_closed(self, raw: bytes | None, key: bytes | None) -> bool:
        """Remember that a case was closed: it is no longer in progress."""
        return await self._handle(CASE_CLOSED, CaseClosed, raw, key, lambda s, e, _: self.service.ended(s, e))

    async def _with_database(self, what: str, call: Callable[[], Any], key: str | None) -> Any:
        """Run blocking database work off the loop, retrying while the database is unreachable."""
        return await retry_until_done(
            lambda: asyncio.to_thread(call),
            what=what,
            initial_seconds=self._retry_initial_seconds,
            max_seconds=self._retry_max_seconds,
            retryable=transient,
            on_retry=DATABASE_RETRIES.inc,
            log_extra={"key": key},
        )

    async def _handle(
        self,
        spec: TopicSpec,
        model: type[BaseModel],
        raw: bytes | None,
        key: bytes | None,
        handler: Callable[[Session, Any, InForce], list[Output]],
    ) -> bool:
        results: list[tuple[str, list[Output]]] = []

        async def decide_one(event: CloudEvent[Any]) -> None:
            now = self.in_force()

            def process() -> tuple[list[Output], bool]:
                with DECISION_SECONDS.time():
                    return self.service.process(
                        event.id, spec.name, lambda session: handler(session, event, now)
                    )

            # A database that is down or locked is not the message's fault: retry (holding the
            # partition, as for publishing) instead of dead-lettering a good event. Only what
            # will fail every time (unreadable, unknown case, a constraint) reaches the DLQ.
            outputs, _ = await self._with_database(f"handling {spec.schema.__name__}", process, event.subject)
            results.append((event.id, outputs))

        async with self.lock:
            if not await handle_or_dead_letter(
                service=SERVICE,
                spec=spec,
                raw=raw,
                key=key,
                dead_letters=self._dead_letters_by_topic.get(spec.name, self._dead_letters),
                handler=decide_one,
                data_model=model,
            ):
                return False
        # Publishing sits outside the dead-letter guard: a broker hiccup is not the message's
        # fault, so we keep trying (holding this partition, which keeps each case in order)
        # rather than send a good event to the dead letters. The outputs are already stored
        # with the input's id: a redelivery after a crash republishes the same events.
        for output in results[0][1]:
            await self.publish(output)
        return True

    async def publish_all(self, cause_id: str, outputs: Sequence[Output]) -> None:
        """Publish the events of a decision kept in the outbox, then mark it published."""
        for output in outputs:
            await self.publish(output)
        if outputs:
            await self._with_database(
                "marking events published", lambda: self.service.mark_published(cause_id), cause_id
            )

    async def republish_pending(self) -> int:
        """Publish the events of decisions committed but not known to be published (a crash in between).

        Run at start, before any new event is handled; the events keep their ids, so a consumer
        that got them before the crash drops them as duplicates. Returns how many decisions.
        """
        async with self.lock:
            pending = await self._with_database("reading unpublished events", self.service.unpublished, None)
            for cause_id, outputs in pending:
                log.info("publishing events of an earlier decision", extra={"cause": cause_id})
                await self.publish_all(cause_id, outputs)
        return len(pending)

    async def publish(self, output: Output) -> None:
        """Publish one event until the broker acknowledges it, and count it."""
        topic = self._topics[output.spec.name]
        await retry_until_done(
            lambda: self._publish(topic, output.event),
            what=f"publishing {output.spec.schema.__name__}",
            initial_seconds=self._retry_initial_seconds,
            max_seconds=self._retry_max_seconds,
            on_retry=PUBLISH_RETRIES.inc,
            log_extra={"key": output.event.subject},
        )
        data = output.event.data
        if isinstance(data, CaseAssigned):
            CASES_ASSIGNED.labels(data.rule).inc()
            log.info(
                "case assigned", extra={"case_id": data.case_id, "unit": data.unit_code, "rule": data.rule}
            )
        elif isinstance(data, CaseLinked):
            CASES_LINKED.labels(data.kind.value).inc()
        elif isinstance(data, TriageQueued):
            CASES_TRIAGED.inc()
        else:
            SURGES_DETECTED.inc()


def register_agents(app: faust.App, router: PetitionRouter, *, in_flight: int = 1) -> Any:
    """Attach the agents to ``app``; returns ``route_petitions`` (the others are on ``app.agents``).

    ``in_flight`` above 1 lets each agent work on that many cases at once (see ``consume_by_key``).
    """

    @app.agent(spec_topic(app, PETITION_REGISTERED), name="route_petitions")
    async def route_petitions(stream: faust.StreamT[bytes]) -> AsyncIterator[object]:
        async for result in consume_by_key(
            stream, lambda e: router.handle(e.value, e.key), in_flight=in_flight
        ):
            yield result

    @app.agent(spec_topic(app, CASE_OBJECTED), name="reroute_objections")
    async def reroute_objections(stream: faust.StreamT[bytes]) -> AsyncIterator[object]:
        async for result in consume_by_key(
            stream, lambda e: router.handle_objection(e.value, e.key), in_flight=in_flight
        ):
            yield result

    @app.agent(spec_topic(app, CASE_REVIEW_REQUESTED), name="assign_reviews")
    async def assign_reviews(stream: faust.StreamT[bytes]) -> AsyncIterator[object]:
        async for result in consume_by_key(
            stream, lambda e: router.handle_review(e.value, e.key), in_flight=in_flight
        ):
            yield result

    @app.agent(spec_topic(app, CASE_REPLIED), name="track_replies")
    async def track_replies(stream: faust.StreamT[bytes]) -> AsyncIterator[object]:
        async for result in consume_by_key(
            stream, lambda e: router.handle_reply(e.value, e.key), in_flight=in_flight
        ):
            yield result

    @app.agent(spec_topic(app, CASE_DECLINED), name="track_declines")
    async def track_declines(stream: faust.StreamT[bytes]) -> AsyncIterator[object]:
        async for result in consume_by_key(
            stream, lambda e: router.handle_declined(e.value, e.key), in_flight=in_flight
        ):
            yield result

    @app.agent(spec_topic(app, CASE_CLOSED), name="track_closures")
    async def track_closures(stream: faust.StreamT[bytes]) -> AsyncIterator[object]:
        async for result in consume_by_key(
            stream, lambda e: router.handle_closed(e.value, e.key), in_flight=in_flight
        ):
            yield result

    return route_petitions


def build_router(
    app: faust.App,
    org_tree: Callable[[], OrgTree],
    *,
    service: CaseService,
    retry_max_seconds: float,
    classifier: Callable[[], Classifier | None] = lambda: None,
    rules: Callable[[], Sequence[RoutingRule]] = lambda: (),
) -> PetitionRouter:
    """A router publishing on the app's topics and routing's dead-letter topics."""
    return PetitionRouter(
        org_tree=org_tree,
        assigned_topic=spec_topic(app, CASE_ASSIGNED),
        dead_letters=dlq_topic(app, PETITION_REGISTERED, SERVICE),
        dead_letters_by_topic={spec.name: dlq_topic(app, spec, SERVICE) for spec in CONSUMED},
        topics={spec.name: spec_topic(app, spec) for spec in PRODUCED},
        retry_max_seconds=retry_max_seconds,
        classifier=classifier,
        rules=rules,
        service=service,
    )
