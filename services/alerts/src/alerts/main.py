"""The alerts service: a FastAPI app with the faust app that schedules deadlines embedded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerts.agents import DeadlineScheduler, install_agents
from alerts.app import build_stream
from alerts.config import AlertsSettings
from alerts.deadlines_endpoints import router as deadlines_router
from alerts.policies import get_policy
from alerts.tables import changelog_spec
from xinfang_common.calendar import load_calendar
from xinfang_common.errors import install_error_handlers
from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.logging import configure_logging
from xinfang_common.observability import install_observability
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import stop_faust_app
from xinfang_common.topics import ALERTS, CASE_ASSIGNED, DEADLINE_SCHEDULED


def create_app(
    settings: AlertsSettings | None = None,
    kafka: KafkaSettings | None = None,
) -> FastAPI:
    """Build the app; a bad calendar or policy raises here, before serving."""
    settings = settings or AlertsSettings()
    kafka = kafka or KafkaSettings()
    configure_logging(ALERTS)
    calendar = load_calendar(settings.holiday_calendar_path)
    policy = get_policy(settings.policy_version)
    stream = build_stream(kafka, consumer_group=settings.consumer_group)
    scheduler = DeadlineScheduler(
        store=stream.deadlines,
        scheduled_topic=stream.deadline_scheduled,
        dead_letters=stream.case_assigned_dlq,
        default_policy=policy,
        calendar=calendar,
        tz=settings.zone,
        retry_max_seconds=settings.publish_retry_max_seconds,
    )
    install_agents(stream, scheduler)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Idempotent; the broker creates no topic on demand, including the table's changelog.
        await asyncio.to_thread(
            ensure_topics,
            kafka,
            specs=(CASE_ASSIGNED, DEADLINE_SCHEDULED, changelog_spec(stream.deadlines)),
        )
        await stream.app.start()
        try:
            yield
        finally:
            await stop_faust_app(stream.app)

    app = FastAPI(
        title="Xinfang alerts",
        summary="Legal deadlines of petition cases on China's official holiday calendar",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.calendar = calendar
    app.state.stream = stream
    install_error_handlers(app)
    install_observability(app, ALERTS, checks={"kafka": stream.is_ready})
    app.include_router(deadlines_router)
    return app
