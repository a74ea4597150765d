"""The alerts service: a FastAPI app with the faust app that tracks deadlines embedded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI

from alerts.agents import CaseHandler, Scanner, install_agents
from alerts.app import build_stream
from alerts.clock import make_clock
from alerts.config import AlertsSettings
from alerts.deadlines import TierRule
from alerts.deadlines_endpoints import calendar_router
from alerts.deadlines_endpoints import router as deadlines_router
from alerts.notify.endpoints import router as notify_router
from alerts.notify.service import (
    DeadlineMirror,
    Deliverer,
    SmtpConfig,
    delivery_loop,
    digest_loop,
    record_alert_in,
)
from alerts.policies import load_policy
from alerts.tables import TableStore, changelog_spec
from alerts.tracker import INPUT_SPECS, Tracker
from alerts.units import UnitDirectory, dead_letter_unit, follow_units
from xinfang_common.auth import AuthSettings, install_auth
from xinfang_common.calendar import load_calendar
from xinfang_common.db import make_engine
from xinfang_common.errors import install_error_handlers
from xinfang_common.gc_tuning import freeze_startup_heap
from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.logging import configure_logging
from xinfang_common.migrate import upgrade_to_head
from xinfang_common.observability import install_observability
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import publish, stop_faust_app
from xinfang_common.topics import ALERT_RAISED, ALERTS, DEADLINE_SCHEDULED, UNIT_CHANGED
from xinfang_common.tracing import install_tracing


def create_app(
    settings: AlertsSettings | None = None,
    kafka: KafkaSettings | None = None,
    auth: AuthSettings | None = None,
) -> FastAPI:
    """Build the app; a bad calendar, policy or token key raises here, before serving."""
    settings = settings or AlertsSettings()
    kafka = kafka or KafkaSettings()
    configure_logging(ALERTS)
    calendar = load_calendar(settings.holiday_calendar_path)
    policy = load_policy(settings.policy_path)
    clock = make_clock(settings.clock_origin, settings.clock_real_origin, settings.clock_speed)
    engine = make_engine(settings.database_url)
    units = UnitDirectory()
    stream = build_stream(
        kafka,
        consumer_group=settings.consumer_group,
        start_at_latest=settings.start_at_latest,
        table_store=settings.table_store,
        data_dir=settings.data_dir,
    )
    tracker = Tracker(
        store=TableStore(stream.cases),
        scheduled_topic=stream.deadline_scheduled,
        alerts_topic=stream.alert_raised,
        policy=policy,
        calendar=calendar,
        tz=settings.zone,
        intake_unit=settings.intake_unit_code,
        rule=TierRule(settings.approaching_working_days, settings.escalate_after_days),
        superior_of=units.superior_of,
        publisher=publish,
        clock=clock,
        registration_grace_seconds=settings.registration_grace_seconds,
        retry_max_seconds=settings.publish_retry_max_seconds,
        on_raised=lambda event: asyncio.to_thread(record_alert_in, engine, event),
    )
    mirror = DeadlineMirror(engine, clock)
    scanner = Scanner(
        stream,
        tracker,
        units,
        calendar_path=settings.holiday_calendar_path,
        calendar_reload_seconds=settings.calendar_reload_seconds,
        mirror=mirror,
    )
    install_agents(
        stream,
        CaseHandler(stream, tracker),
        scanner,
        scan_interval=settings.scan_interval_seconds,
        in_flight=settings.messages_in_flight,
    )
    smtp = (
        SmtpConfig(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
        )
        if settings.smtp_host
        else None
    )
    deliverer = Deliverer(timeout=settings.delivery_timeout_seconds, smtp=smtp)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade_to_head, engine, "alerts.migrations")
        # Idempotent; the broker creates no topic on demand, including the table's changelog.
        await asyncio.to_thread(
            ensure_topics,
            kafka,
            specs=(
                *INPUT_SPECS,
                DEADLINE_SCHEDULED,
                ALERT_RAISED,
                UNIT_CHANGED,
                changelog_spec(stream.cases),
            ),
        )
        background = [
            asyncio.create_task(
                follow_units(
                    units,
                    kafka,
                    client_id=f"{kafka.client_id_prefix}-alerts-units",
                    dead_letter=lambda message, reason: dead_letter_unit(stream, message, reason),
                )
            ),
            asyncio.create_task(
                delivery_loop(
                    engine,
                    deliverer,
                    poll_seconds=settings.delivery_poll_seconds,
                    max_attempts=settings.delivery_max_attempts,
                    backoff_seconds=settings.delivery_backoff_seconds,
                    lease=timedelta(seconds=settings.delivery_timeout_seconds * 3),
                )
            ),
        ]
        if settings.digest_time is not None:
            background.append(
                asyncio.create_task(
                    digest_loop(
                        engine,
                        mirror,
                        at=settings.digest_time,
                        tz=settings.zone,
                        poll_seconds=settings.scan_interval_seconds,
                        clock=clock,
                        unit_name=lambda code: unit.name if (unit := units.units.get(code)) else None,
                    )
                )
            )
        await stream.app.start()
        freeze_startup_heap()
        try:
            yield
        finally:
            await stop_faust_app(stream.app)
            for task in background:
                task.cancel()
            for task in background:
                with suppress(asyncio.CancelledError, Exception):
                    await task
            engine.dispose()

    app = FastAPI(
        title="Xinfang alerts",
        summary="Legal deadlines of petition cases on China's official holiday calendar; warnings, "
        "escalation and their delivery",
        version="0.2.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stream = stream
    app.state.tracker = tracker
    app.state.units = units
    app.state.engine = engine
    app.state.scanner = scanner
    install_auth(app.state, auth)
    install_error_handlers(app)
    install_tracing(app)  # before the routers: it adds an app-wide dependency
    install_observability(app, ALERTS, checks={"kafka": stream.is_ready})
    app.include_router(calendar_router)
    app.include_router(deadlines_router)
    app.include_router(notify_router)
    return app
