"""The ``route_petitions`` agent: read PetitionRegistered, decide, publish CaseAssigned."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import faust

from routing.app import SERVICE
from routing.classifier import TextClassifier, petition_text
from routing.metrics import CASES_ASSIGNED, CLASSIFIER_PREDICTIONS, DECISION_SECONDS, PUBLISH_RETRIES
from routing.org_tree import OrgTree
from routing.rules import CategoryGuess, Decision, decide
from xinfang_common.cloudevents import CloudEvent, build_event, derived_event_id, utcnow
from xinfang_common.events import CaseAssigned, PetitionRegistered
from xinfang_common.retry import retry_until_done
from xinfang_common.streams import dlq_topic, handle_or_dead_letter, publish, spec_topic
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

log = logging.getLogger(__name__)

Publisher = Callable[[Any, CloudEvent[Any]], Awaitable[None]]


def case_assigned(
    registered: CloudEvent[PetitionRegistered], decision: Decision, *, at: datetime
) -> CloudEvent[CaseAssigned]:
    """The CaseAssigned event for a decision; its id depends only on the input event's id."""
    petition = registered.data
    data = CaseAssigned(
        case_id=petition.case_id,
        unit_code=decision.unit.code,
        unit_name=decision.unit.name,
        region=petition.region,
        category=decision.category,
        petition_type=petition.petition_type,
        rule=decision.rule.value,
        explanation=decision.explanation,
        assigned_at=at,
    )
    return build_event(
        data,
        event_type=CASE_ASSIGNED.event_type,
        source=CASE_ASSIGNED.source,
        case_id=petition.case_id,
        event_id=derived_event_id(registered.id, CASE_ASSIGNED.event_type),
    )


class PetitionRouter:
    """Routes one raw PetitionRegistered message; what the agent runs for each message."""

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
        classifier: Callable[[], TextClassifier | None] = lambda: None,
        min_confidence: float = 0.6,
    ) -> None:
        self._org_tree = org_tree
        self._assigned_topic = assigned_topic
        self._dead_letters = dead_letters
        self._publish = publisher
        self._retry_max_seconds = retry_max_seconds
        self._retry_initial_seconds = retry_initial_seconds
        self._clock = clock
        self._classifier = classifier
        self._min_confidence = min_confidence

    async def handle(self, raw: bytes | None, key: bytes | None) -> bool:
        """Decide and publish; a message that cannot be decoded or decided is dead-lettered.

        Returns True when a CaseAssigned was published.
        """
        decided: list[tuple[Decision, CloudEvent[CaseAssigned]]] = []

        async def decide_one(registered: CloudEvent[PetitionRegistered]) -> None:
            with DECISION_SECONDS.time():
                decision = decide(registered.data, self._org_tree(), self._guess(registered.data))
            decided.append((decision, case_assigned(registered, decision, at=self._clock())))

        if not await handle_or_dead_letter(
            service=SERVICE,
            spec=PETITION_REGISTERED,
            raw=raw,
            key=key,
            dead_letters=self._dead_letters,
            handler=decide_one,
            data_model=PetitionRegistered,
        ):
            return False
        decision, event = decided[0]
        # Publishing sits outside the dead-letter guard: a broker hiccup is not the message's
        # fault, so we keep trying (holding this partition, which keeps each case in order)
        # rather than send a good petition to the dead letters.
        await self._publish_until_acknowledged(event)
        CASES_ASSIGNED.labels(decision.rule.value).inc()
        log.info(
            "case assigned",
            extra={"case_id": event.data.case_id, "unit": decision.unit.code, "rule": decision.rule.value},
        )
        return True

    def _guess(self, petition: PetitionRegistered) -> CategoryGuess | None:
        """The classifier's category for a petition without one (None when it has one)."""
        if petition.category:
            return None
        guess = guess_category(self._classifier(), petition, self._min_confidence)
        CLASSIFIER_PREDICTIONS.labels(guess.outcome.value).inc()
        return guess

    async def _publish_until_acknowledged(self, event: CloudEvent[CaseAssigned]) -> None:
        await retry_until_done(
            lambda: self._publish(self._assigned_topic, event),
            what="publishing CaseAssigned",
            initial_seconds=self._retry_initial_seconds,
            max_seconds=self._retry_max_seconds,
            on_retry=PUBLISH_RETRIES.inc,
            log_extra={"case_id": event.data.case_id},
        )


def guess_category(classifier: TextClassifier | None, petition: Any, min_confidence: float) -> CategoryGuess:
    """What ``classifier`` makes of a petition's title and content (no label when there is no model)."""
    if classifier is None:
        return CategoryGuess(None, 0.0, min_confidence)
    label, confidence = classifier.predict(
        petition_text(getattr(petition, "title", None), getattr(petition, "content", None))
    )
    return CategoryGuess(label, confidence, min_confidence)


def register_agents(app: faust.App, router: PetitionRouter) -> Any:
    """Attach ``route_petitions`` to ``app``; returns the agent."""

    @app.agent(spec_topic(app, PETITION_REGISTERED), name="route_petitions")
    async def route_petitions(stream: faust.StreamT[bytes]) -> AsyncIterator[bool]:
        async for message in stream.events():
            yield await router.handle(message.value, message.key)

    return route_petitions


def build_router(
    app: faust.App,
    org_tree: Callable[[], OrgTree],
    *,
    retry_max_seconds: float,
    classifier: Callable[[], TextClassifier | None] = lambda: None,
    min_confidence: float = 0.6,
) -> PetitionRouter:
    """A router publishing on the app's CaseAssigned topic and routing's dead-letter topic."""
    return PetitionRouter(
        org_tree=org_tree,
        assigned_topic=spec_topic(app, CASE_ASSIGNED),
        dead_letters=dlq_topic(app, PETITION_REGISTERED, SERVICE),
        retry_max_seconds=retry_max_seconds,
        classifier=classifier,
        min_confidence=min_confidence,
    )
