"""Every topic routing consumes: hostile messages are dead-lettered with a reason, the next good one
is still handled (through PetitionRouter, what the agents run per message)."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from routing.agents import CONSUMED, PetitionRouter
from routing.org_tree import OrgTree
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.testing.events import example_event
from xinfang_common.testing.hostile import hostile_messages
from xinfang_common.topics import (
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_OBJECTED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    PETITION_REGISTERED,
    ROUTING,
    TOPICS,
    TopicSpec,
)

pytestmark = pytest.mark.anyio

CONSUMED_BY_SPEC = [spec for spec in TOPICS if ROUTING in spec.consumers]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Recorder:
    """Stands in for the dead-letter topic and the topics routing publishes to."""

    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    published: list[CloudEvent[Any]] = field(default_factory=list)

    async def send(self, **message: Any) -> "asyncio.Future[None]":
        self.dead_letters.append(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        self.published.append(event)


def handlers(router: PetitionRouter) -> dict[str, Callable[[bytes | None, bytes | None], Awaitable[bool]]]:
    return {
        PETITION_REGISTERED.name: router.handle,
        CASE_OBJECTED.name: router.handle_objection,
        CASE_REVIEW_REQUESTED.name: router.handle_review,
        CASE_REPLIED.name: router.handle_reply,
        CASE_DECLINED.name: router.handle_declined,
        CASE_CLOSED.name: router.handle_closed,
    }


def test_the_agents_read_every_topic_routing_is_named_a_consumer_of() -> None:
    assert {spec.name for spec in CONSUMED} == {spec.name for spec in CONSUMED_BY_SPEC}


def good_event(spec: TopicSpec, case_id: str) -> CloudEvent[Any]:
    if spec is PETITION_REGISTERED:
        return example_event(spec, case_id, region="430104", category="城乡建设")
    return example_event(spec, case_id, unit_code="430104-zjj")


@pytest.mark.parametrize("spec", CONSUMED_BY_SPEC, ids=lambda s: s.name)
async def test_hostile_messages_are_dead_lettered_and_the_next_good_one_handled(
    spec: TopicSpec, demo_tree: OrgTree
) -> None:
    recorder = Recorder()
    router = PetitionRouter(
        org_tree=lambda: demo_tree,
        assigned_topic="case-assigned",
        dead_letters=recorder,
        publisher=recorder.publish,
        retry_initial_seconds=0.001,
    )
    handle = handlers(router)[spec.name]
    case_id = f"hostile-{spec.name}"
    if spec is not PETITION_REGISTERED:
        # The case routing assigned to 430104-zjj, which the event of ``spec`` is about.
        assert await router.handle(good_event(PETITION_REGISTERED, case_id).to_json_bytes(), case_id.encode())
    before = len(recorder.published)
    hostile = hostile_messages(good_event(spec, case_id))

    outcomes = [await handle(message.value, message.key) for message in hostile]

    assert outcomes == [False] * len(hostile)
    assert len(recorder.dead_letters) == len(hostile)
    for message, letter in zip(hostile, recorder.dead_letters, strict=True):
        headers = dict(letter["headers"])
        assert message.reason.encode() in headers["x-error"], (message.name, headers["x-error"])
        assert headers["x-source-topic"] == spec.name.encode()
        assert (letter["key"], letter["value"]) == (message.key, message.value)
    assert len(recorder.published) == before
    assert await handle(good_event(spec, case_id).to_json_bytes(), case_id.encode())
    assert len(recorder.dead_letters) == len(hostile)
    if spec in (PETITION_REGISTERED, CASE_OBJECTED, CASE_REVIEW_REQUESTED):
        assert len(recorder.published) > before  # a new assignment (or a place in the triage queue)
