"""Every topic alerts consumes: hostile messages are dead-lettered with a reason, the next good one
is still applied (case topics through CaseHandler, what the track_cases agent runs per message;
the units topic through apply_unit_message, what follow_units runs per message)."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.agents import CaseHandler
from alerts.testing import SPECS, case_event
from alerts.tracker import INPUT_SPECS
from alerts.units import UnitDirectory, apply_unit_message
from xinfang_common.testing.events import example_event
from xinfang_common.testing.hostile import hostile_messages
from xinfang_common.testing.recording import RecordingTopic
from xinfang_common.topics import ALERTS, TOPICS, UNIT_CHANGED, TopicSpec

CASE_TOPICS = [spec for spec in TOPICS if ALERTS in spec.consumers and spec.name != UNIT_CHANGED.name]
KIND_OF = {spec.name: what for what, (spec, _) in SPECS.items()}


@dataclass
class Stream:
    """The part of AlertsStream the handler uses: which spec a topic has, where its dead letters go."""

    dead_letters: dict[str, RecordingTopic] = field(
        default_factory=lambda: {spec.name: RecordingTopic() for spec in INPUT_SPECS}
    )

    def spec_of(self, topic: str) -> TopicSpec:
        return next(spec for spec in INPUT_SPECS if spec.name == topic)


@dataclass
class Tracker:
    """Records the facts applied instead of deriving deadlines from them."""

    applied: list[tuple[str, Any]] = field(default_factory=list)

    async def apply(self, case_id: str, fact: Any) -> int:
        self.applied.append((case_id, fact))
        return 1


def test_the_agent_reads_every_case_topic_alerts_is_named_a_consumer_of() -> None:
    assert {spec.name for spec in INPUT_SPECS} == {spec.name for spec in CASE_TOPICS}


@pytest.mark.parametrize("spec", CASE_TOPICS, ids=lambda s: s.name)
def test_hostile_messages_are_dead_lettered_and_the_next_good_one_applied(spec: TopicSpec) -> None:
    stream, tracker = Stream(), Tracker()
    handler = CaseHandler(stream, tracker)  # type: ignore[arg-type]
    case_id = f"hostile-{spec.name}"
    good = case_event(KIND_OF[spec.name], case_id, datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    hostile = hostile_messages(good)

    async def feed() -> list[int]:
        changes = [await handler.handle(spec.name, m.value, m.key) for m in hostile]
        return [*changes, await handler.handle(spec.name, good.to_json_bytes(), case_id.encode())]

    changes = asyncio.run(feed())

    assert changes == [0] * len(hostile) + [1]
    assert [applied for applied, _ in tracker.applied] == [case_id]
    letters = stream.dead_letters[spec.name].sent
    assert len(letters) == len(hostile)
    for message, letter in zip(hostile, letters, strict=True):
        headers = dict(letter["headers"])
        assert message.reason.encode() in headers["x-error"], (message.name, headers["x-error"])
        assert headers["x-source-topic"] == spec.name.encode()
        assert headers["x-consumer"] == ALERTS.encode()
        assert (letter["key"], letter["value"]) == (message.key, message.value)


@dataclass
class Message:
    """What aiokafka hands follow_units: a value and a key."""

    value: bytes | None
    key: bytes | None


def test_a_live_hostile_unit_message_is_dead_lettered_and_at_restart_only_skipped() -> None:
    good = example_event(UNIT_CHANGED, "430104-zjj")
    hostile = hostile_messages(good)
    directory = UnitDirectory()
    dead: list[tuple[Any, str]] = []

    async def dead_letter(message: Any, reason: str) -> None:
        dead.append((message, reason))

    async def feed(*, live: bool) -> list[bool]:
        read = [
            await apply_unit_message(directory, Message(m.value, m.key), live=live, dead_letter=dead_letter)
            for m in hostile
        ]
        good_message = Message(good.to_json_bytes(), b"430104-zjj")
        return [*read, await apply_unit_message(directory, good_message, live=live, dead_letter=dead_letter)]

    # Read again from the start at a restart: reported when it first came live, now only logged.
    assert asyncio.run(feed(live=False)) == [False] * len(hostile) + [True]
    assert dead == []
    assert asyncio.run(feed(live=True)) == [False] * len(hostile) + [True]
    assert [(m.value, m.key) for m, _ in dead] == [(h.value, h.key) for h in hostile]
    for (_, reason), message in zip(dead, hostile, strict=True):
        assert message.reason in reason
    assert "430104-zjj" in directory.units
    # A tombstone removes the unit; it is not a bad message.
    assert asyncio.run(
        apply_unit_message(directory, Message(None, b"430104-zjj"), live=True, dead_letter=dead_letter)
    )
    assert "430104-zjj" not in directory.units
