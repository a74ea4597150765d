"""The routing service: a FastAPI app with routing's faust agents running inside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import faust
from fastapi import FastAPI

from routing.agents import CONSUMED, PRODUCED, build_router, register_agents
from routing.app import SERVICE, build_faust_app
from routing.cases.database import Database
from routing.cases.service import CaseService, RoutingPolicy
from routing.classification.endpoints import router as classifier_router
from routing.config import RoutingSettings
from routing.configured_rules import RulesWatcher
from routing.decisions.endpoints import router as decisions_router
from routing.model_watch import ClassifierWatcher
from routing.org_tree import load_org_tree
from routing.rules_api.endpoints import router as rules_router
from routing.state import RoutingState
from routing.surge import SurgePolicy
from routing.triage.endpoints import router as triage_router
from routing.units.endpoints import router as units_router
from routing.units.follower import UnitFollower
from routing.units.registry import UnitRegistry
from xinfang_common.auth import AuthSettings, install_auth
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.errors import install_error_handlers
from xinfang_common.events import UnitChanged
from xinfang_common.gc_tuning import freeze_startup_heap
from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.logging import configure_logging
from xinfang_common.observability import install_observability
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import spec_topic, stop_faust_app
from xinfang_common.topics import UNIT_CHANGED
from xinfang_common.tracing import install_tracing

log = logging.getLogger(__name__)


def _stream_running(faust_app: faust.App) -> bool:
    return bool(faust_app.started and not faust_app.crashed and not faust_app.should_stop)


def _producer_ready(faust_app: faust.App) -> bool:
    producer = faust_app.producer
    return bool(producer.started and not producer.crashed and not producer.should_stop)


def _policy(settings: RoutingSettings) -> RoutingPolicy:
    return RoutingPolicy(
        min_confidence=settings.classifier_min_confidence,
        report_target=settings.report_target_kind,
        repeat_similarity=settings.repeat_similarity,
        repeat_window=timedelta(days=settings.repeat_window_days),
        surge=SurgePolicy(
            window=timedelta(hours=settings.surge_window_hours),
            baseline_windows=settings.surge_baseline_windows,
            ratio=settings.surge_ratio,
            min_count=settings.surge_min_count,
        ),
    )


def create_app(
    settings: RoutingSettings | None = None,
    kafka: KafkaSettings | None = None,
    auth: AuthSettings | None = None,
) -> FastAPI:
    """Build the routing app; a bad org tree, rules or model file, or no token key, raises here."""
    configure_logging(SERVICE)
    settings = settings or RoutingSettings()
    kafka = kafka or KafkaSettings()
    watcher = ClassifierWatcher(settings.classifier_model_path)
    # A configured model that cannot be read stops start-up (ClassifierError), like a bad org
    # tree: running on without it would silently route every uncategorised petition by hand.
    watcher.load()
    rules = RulesWatcher(settings.rules_path)
    rules.load()
    seed = load_org_tree(settings.org_tree_path)
    registry = UnitRegistry(seed)
    state = RoutingState(
        units=registry,
        classifier=watcher,
        min_confidence=settings.classifier_min_confidence,
        rules=rules,
        report_target=settings.report_target_kind,
        training_data_path=settings.training_data_path,
    )
    log.info(
        "configuration loaded",
        extra={"org_tree": str(settings.org_tree_path), "units": len(seed), "rules": len(rules.current)},
    )
    database = Database(settings.database_url)
    faust_app = build_faust_app(kafka, settings)
    router = build_router(
        faust_app,
        lambda: registry.tree,
        service=CaseService(database, _policy(settings)),
        retry_max_seconds=settings.publish_retry_max_seconds,
        classifier=lambda: state.classifier.current,
        rules=lambda: state.rules.current,
    )
    state.router = router
    register_agents(faust_app, router, in_flight=settings.messages_in_flight)
    units_topic = spec_topic(faust_app, UNIT_CHANGED)

    async def send_unit(code: str, event: CloudEvent[UnitChanged] | None) -> None:
        value = event.to_json_bytes() if event is not None else None
        headers = event.kafka_headers() if event is not None else None
        fut = await units_topic.send(key=code.encode(), value=value, headers=headers)
        await fut

    registry.sender = send_unit
    follower = UnitFollower(kafka, registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(database.create_tables)
        # Idempotent; the broker creates no topic on demand, dead-letter topics included.
        await asyncio.to_thread(ensure_topics, kafka, specs=(*CONSUMED, *PRODUCED, UNIT_CHANGED))
        # The units topic first: petitions must be routed on the tree as it now is.
        await follower.start()
        await faust_app.start()
        # Decisions committed by a process that died before their events were out (outbox).
        republished = await router.republish_pending()
        if republished:
            log.info("published the events of earlier decisions", extra={"decisions": republished})
        if registry.seen_on_topic == 0:
            await registry.publish_all(seed.units())
            log.info("units topic was empty: seeded from the org tree file", extra={"units": len(seed)})
        elif not registry.from_topic:
            log.error("the units on the topic do not make a valid tree; the org tree file stays in force")
        tasks = [asyncio.create_task(follower.follow()), asyncio.create_task(rules.watch())]
        if watcher.path is not None:
            tasks.append(asyncio.create_task(watcher.watch()))
        freeze_startup_heap()
        try:
            yield
        finally:
            await stop_faust_app(faust_app)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await follower.stop()
            database.close()

    app = FastAPI(
        title="Xinfang routing",
        summary="Decides the unit responsible for each registered petition.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.routing = state
    app.state.faust_app = faust_app
    install_auth(app.state, auth or AuthSettings())
    install_error_handlers(app)
    install_tracing(app)  # before the routers: it adds an app-wide dependency
    install_observability(
        app,
        SERVICE,
        checks={
            "org_tree": lambda: len(registry.tree) > 0,
            "units": follower.caught_up.is_set,
            "database": lambda: asyncio.to_thread(database.ping),
            "stream": lambda: _stream_running(faust_app),
            "producer": lambda: _producer_ready(faust_app),
        },
    )
    app.include_router(units_router)
    app.include_router(decisions_router)
    app.include_router(rules_router)
    app.include_router(triage_router)
    app.include_router(classifier_router)
    return app
