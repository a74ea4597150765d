"""The stream side of alerts: the ``schedule_deadlines`` agent and what it does per event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import faust

from alerts import metrics
from alerts.app import AlertsStream
from alerts.policies import DeadlinePolicy
from alerts.scheduling import Scheduled, Skipped, plan_acceptance
from alerts.tables import read_case_deadlines
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.cloudevents import CloudEvent, utcnow
from xinfang_common.events import CaseAssigned, DeadlineScheduled
from xinfang_common.retry import retry_until_done
from xinfang_common.streams import handle_or_dead_letter, publish
from xinfang_common.topics import ALERTS, CASE_ASSIGNED

log = logging.getLogger(__name__)

Publisher = Callable[[Any, CloudEvent[Any]], Awaitable[None]]


class MessageKeyMismatch(ValueError):
    """The message is not keyed by its case id, so it would land in the wrong table partition."""


class DeadlineScheduler:
    """Handles one raw CaseAssigned message: what the agent runs for each message.

    Decoding and planning run under the dead-letter guard; publishing does not, since a broker
    hiccup is not the message's fault: it is retried while holding the partition, which keeps
    each case's events in order. The event is acknowledged by the broker before the table is
    updated, so a crash in between replays the input and republishes the same event id, which
    consumers drop as a duplicate.
    """

    def __init__(
        self,
        *,
        store: MutableMapping[str, Any],
        scheduled_topic: Any,
        dead_letters: Any,
        default_policy: DeadlinePolicy,
        calendar: HolidayCalendar,
        tz: ZoneInfo,
        publisher: Publisher = publish,
        retry_max_seconds: float = 30.0,
        retry_initial_seconds: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._scheduled_topic = scheduled_topic
        self._dead_letters = dead_letters
        self._default_policy = default_policy
        self._calendar = calendar
        self._tz = tz
        self._publish = publisher
        self._retry_max_seconds = retry_max_seconds
        self._retry_initial_seconds = retry_initial_seconds
        self._clock = clock

    async def handle(self, raw: bytes | None, key: bytes | None) -> bool:
        """Schedule (or re-schedule) the case's acceptance deadline; True if one was published."""
        planned: list[Scheduled | Skipped] = []

        async def plan_one(assigned: CloudEvent[CaseAssigned]) -> None:
            case_id = assigned.data.case_id
            if key != case_id.encode():
                raise MessageKeyMismatch(f"message key {key!r} is not the case id {case_id!r}")
            planned.append(
                plan_acceptance(
                    assigned,
                    read_case_deadlines(self._store, case_id),
                    default_policy=self._default_policy,
                    calendar=self._calendar,
                    tz=self._tz,
                    now=self._clock(),
                )
            )

        if not await handle_or_dead_letter(
            service=ALERTS,
            spec=CASE_ASSIGNED,
            raw=raw,
            key=key,
            dead_letters=self._dead_letters,
            handler=plan_one,
            data_model=CaseAssigned,
        ):
            return False
        plan = planned[0]
        if isinstance(plan, Skipped):
            metrics.ASSIGNMENTS_SKIPPED.labels(plan.reason).inc()
            log.info("assignment skipped", extra={"reason": plan.detail})
            return False
        data = plan.event.data
        await self._publish_until_acknowledged(plan.event)
        self._store[data.case_id] = plan.deadlines.to_json_bytes()
        metrics.DEADLINES_SCHEDULED.labels(data.kind.value).inc()
        metrics.note_uncovered(plan.due.uncovered_years)
        log.info(
            "deadline scheduled",
            extra={
                "case_id": data.case_id,
                "deadline_id": data.deadline_id,
                "due_at": data.due_at.isoformat(),
            },
        )
        return True

    async def _publish_until_acknowledged(self, event: CloudEvent[DeadlineScheduled]) -> None:
        await retry_until_done(
            lambda: self._publish(self._scheduled_topic, event),
            what="publishing DeadlineScheduled",
            initial_seconds=self._retry_initial_seconds,
            max_seconds=self._retry_max_seconds,
            on_retry=metrics.PUBLISH_RETRIES.inc,
            log_extra={"case_id": event.data.case_id},
        )


def install_agents(stream: AlertsStream, scheduler: DeadlineScheduler) -> Any:
    """Declare the agents on the stream's faust app; returns ``schedule_deadlines``."""

    @stream.app.agent(stream.case_assigned, name="schedule_deadlines")
    async def schedule_deadlines(messages: faust.StreamT[bytes]) -> AsyncIterator[bool]:
        """Each CaseAssigned starts (or restarts) the case's acceptance deadline."""
        async for message in messages.events():
            yield await scheduler.handle(message.value, message.key)

    return schedule_deadlines
