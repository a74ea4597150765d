"""The reporting service: a FastAPI app with the faust agents that feed its read model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from reporting.agents import CONSUMED, build_recorder, register_agents
from reporting.app import SERVICE, build_faust_app, stream_running
from reporting.config import ReportingSettings
from reporting.dead_letters import DeadLetterWatch
from reporting.exports.endpoints import router as exports_router
from reporting.kpis.endpoints import router as kpis_router
from reporting.kpis.rollups import ensure_rollups
from reporting.metrics import install_case_counts, install_faust_sensor, uninstall_case_counts
from reporting.readmodel.database import Database
from reporting.stats.endpoints import router as stats_router
from xinfang_common.auth import AuthSettings, install_auth
from xinfang_common.errors import install_error_handlers
from xinfang_common.gc_tuning import freeze_startup_heap
from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.logging import configure_logging
from xinfang_common.observability import install_observability
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import stop_faust_app
from xinfang_common.tracing import install_tracing

log = logging.getLogger(__name__)


def create_app(
    settings: ReportingSettings | None = None,
    kafka: KafkaSettings | None = None,
    auth: AuthSettings | None = None,
    *,
    log_setup: bool = True,
) -> FastAPI:
    """Build the app; the database is created and the agents started by its lifespan.

    Raises AuthConfigError without a usable token key (``XINFANG_AUTH_JWT_KEY``).
    """
    if log_setup:
        configure_logging(SERVICE)
    settings = settings or ReportingSettings()
    kafka = kafka or KafkaSettings()
    auth = auth or AuthSettings()
    database = Database(settings.database_url)
    faust_app = build_faust_app(kafka, consumer_group=settings.consumer_group)
    install_faust_sensor(faust_app)
    register_agents(
        faust_app, build_recorder(faust_app, database, retry_max_seconds=settings.db_retry_max_seconds)
    )
    dead_letters = DeadLetterWatch(kafka, interval=settings.dlq_poll_seconds)

    def count_cases() -> None:
        install_case_counts(
            database,
            unit_depth=settings.metrics_unit_depth,
            cache_seconds=settings.metrics_cache_seconds,
            kpi_window_days=settings.metrics_kpi_window_days,
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await database.run(database.create_tables)
        await database.run(ensure_rollups, database, settings.zone)
        # Idempotent; the broker creates no topic on demand, dead-letter topics included.
        await asyncio.to_thread(ensure_topics, kafka, specs=tuple(spec for spec, _ in CONSUMED))
        count_cases()
        await faust_app.start()
        dead_letters.start()
        freeze_startup_heap()
        log.info("reporting started", extra={"database": database.backend, "group": settings.consumer_group})
        try:
            yield
        finally:
            await dead_letters.stop()
            await stop_faust_app(faust_app)
            uninstall_case_counts(database)
            database.close()

    app = FastAPI(
        title="Xinfang reporting",
        summary="KPIs, backlog, trends and exports by unit, category, region and period; never one case.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.faust_app = faust_app
    app.state.count_cases = count_cases
    install_auth(app.state, auth)
    install_error_handlers(app)
    install_tracing(app)  # before the routers: it adds an app-wide dependency
    install_observability(
        app,
        SERVICE,
        checks={"database": lambda: database.run(database.ping), "stream": lambda: stream_running(faust_app)},
    )
    app.include_router(stats_router)
    app.include_router(kpis_router)
    app.include_router(exports_router)
    return app
