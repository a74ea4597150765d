"""The intake service: registers petitions, relays their events, follows routing's decisions and
serves petitioners by tracking code."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from intake import categories
from intake.access.endpoints import router as audit_router
from intake.config import IntakeSettings
from intake.consumers import CaseAssignedConsumer, kafka_consumer_factory
from intake.crypto import PersonalDataCipher
from intake.db import create_tables, database_ready, make_engine, make_session_factory
from intake.deps import IntakeState
from intake.errors import install_database_error_handler
from intake.imports.endpoints import router as imports_router
from intake.imports.runner import ImportRunner
from intake.open311.endpoints import router as open311_router
from intake.outbox import OutboxRelay, kafka_producer_factory
from intake.petitions.actions import router as actions_router
from intake.petitions.endpoints import router as petitions_router
from intake.tracking.endpoints import router as tracking_router
from intake.tracking.rate_limit import TrackingLimiter
from xinfang_common.auth import AuthSettings, install_auth
from xinfang_common.calendar import load_calendar
from xinfang_common.errors import install_error_handlers
from xinfang_common.gc_tuning import freeze_startup_heap
from xinfang_common.logging import configure_logging
from xinfang_common.observability import install_observability
from xinfang_common.settings import KafkaSettings
from xinfang_common.tracing import install_tracing

log = logging.getLogger(__name__)


def create_app(
    settings: IntakeSettings | None = None,
    kafka: KafkaSettings | None = None,
    auth: AuthSettings | None = None,
) -> FastAPI:
    """Build the intake app; missing or invalid encryption or token keys raise here."""
    settings = settings or IntakeSettings()
    kafka = kafka or KafkaSettings()
    auth = auth or AuthSettings()
    configure_logging(settings.service_name)
    categories.configure(settings.category_scheme_path)
    cipher = PersonalDataCipher.from_setting(settings.encryption_keys.get_secret_value())
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    client_id = f"{kafka.client_id_prefix}-{settings.service_name}"
    # Wait a little longer for an ack than the producer's own delivery timeout.
    ack_timeout = kafka.request_timeout_ms / 1000 + 10
    producer_factory = kafka_producer_factory(
        kafka, client_id=client_id, connect_timeout_seconds=settings.kafka_connect_timeout_seconds
    )
    relay = OutboxRelay(
        session_factory,
        producer_factory,
        poll_seconds=settings.outbox_poll_seconds,
        batch_size=settings.outbox_batch_size,
        retry_max_seconds=settings.kafka_retry_max_seconds,
        ack_timeout_seconds=ack_timeout,
    )
    consumer = CaseAssignedConsumer(
        session_factory,
        kafka_consumer_factory(
            kafka,
            group_id=settings.consumer_group,
            client_id=client_id,
            connect_timeout_seconds=settings.kafka_connect_timeout_seconds,
        ),
        kafka_producer_factory(
            kafka,
            client_id=f"{client_id}-dlq",
            connect_timeout_seconds=settings.kafka_connect_timeout_seconds,
        ),
        retry_max_seconds=settings.kafka_retry_max_seconds,
        ack_timeout_seconds=ack_timeout,
    )
    state = IntakeState(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        cipher=cipher,
        relay=relay,
        consumer=consumer,
        calendar=load_calendar(),
        track_limiter=TrackingLimiter(
            per_minute=settings.track_rate_per_minute, failed_per_hour=settings.track_failed_per_hour
        ),
    )

    import_runner = ImportRunner(
        session_factory,
        cipher,
        default_region=settings.import_default_region,
        batch_size=settings.import_batch_size,
        notify=relay.notify,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(create_tables, engine)
        if settings.relay_enabled:
            relay.start()
        if settings.consumer_enabled:
            consumer.start()
        if settings.import_runner_enabled:
            import_runner.start()
        freeze_startup_heap()
        log.info("intake started", extra={"kafka": kafka.bootstrap_servers})
        try:
            yield
        finally:
            # The runner and the consumer stop side by side; the relay goes on publishing
            # meanwhile and stops last, so that its final flush takes the events the runner's
            # last batch put in the outbox. At most 30 s (runner) + 16 s (relay's flush and abort).
            await asyncio.gather(asyncio.to_thread(import_runner.stop), asyncio.to_thread(consumer.stop))
            await asyncio.to_thread(relay.stop)
            engine.dispose()

    async def database_check() -> bool:
        return await asyncio.to_thread(database_ready, engine)

    def kafka_check() -> bool:
        relay_ok = relay.kafka_ok or not settings.relay_enabled
        consumer_ok = consumer.kafka_ok or not settings.consumer_enabled
        return relay_ok and consumer_ok

    app = FastAPI(
        title="Xinfang intake",
        summary="Registers petitions (登记) and shows each case's progress.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.intake = state
    app.state.import_runner = import_runner
    install_auth(app.state, auth)
    install_error_handlers(app)
    install_tracing(app)  # before the routers: it adds an app-wide dependency
    install_database_error_handler(app)
    install_observability(
        app, settings.service_name, checks={"database": database_check, "kafka": kafka_check}
    )
    app.include_router(petitions_router)
    app.include_router(actions_router)
    app.include_router(tracking_router)
    app.include_router(open311_router)
    app.include_router(imports_router)
    app.include_router(audit_router)
    return app
