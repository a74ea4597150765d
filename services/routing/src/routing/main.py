"""The routing service: a FastAPI app with the ``route_petitions`` faust agent running inside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import faust
from fastapi import FastAPI

from routing.agents import build_router, register_agents
from routing.app import SERVICE, build_faust_app
from routing.classification.endpoints import router as classifier_router
from routing.config import RoutingSettings
from routing.decisions.endpoints import router as decisions_router
from routing.model_watch import ClassifierWatcher
from routing.org_tree import load_org_tree
from routing.state import RoutingState
from routing.units.endpoints import router as units_router
from xinfang_common.errors import install_error_handlers
from xinfang_common.logging import configure_logging
from xinfang_common.observability import install_observability
from xinfang_common.settings import KafkaSettings
from xinfang_common.streams import stop_faust_app

log = logging.getLogger(__name__)


def _stream_running(faust_app: faust.App) -> bool:
    return bool(faust_app.started and not faust_app.crashed and not faust_app.should_stop)


def _producer_ready(faust_app: faust.App) -> bool:
    producer = faust_app.producer
    return bool(producer.started and not producer.crashed and not producer.should_stop)


def create_app(settings: RoutingSettings | None = None, kafka: KafkaSettings | None = None) -> FastAPI:
    """Build the routing app; a bad org tree or model file raises here, before serving."""
    configure_logging(SERVICE)
    settings = settings or RoutingSettings()
    kafka = kafka or KafkaSettings()
    watcher = ClassifierWatcher(settings.classifier_model_path)
    # A configured model that cannot be read stops start-up (ClassifierError), like a bad org
    # tree: running on without it would silently route every uncategorised petition by hand.
    watcher.load()
    state = RoutingState(
        org_tree=load_org_tree(settings.org_tree_path),
        classifier=watcher,
        min_confidence=settings.classifier_min_confidence,
    )
    log.info(
        "org tree loaded",
        extra={"path": str(settings.org_tree_path), "units": len(state.org_tree)},
    )
    if watcher.current is not None:
        log.info(
            "classifier model loaded",
            extra={"path": str(watcher.path), "labels": len(watcher.current.labels)},
        )
    faust_app = build_faust_app(kafka, settings)
    router = build_router(
        faust_app,
        lambda: state.org_tree,
        retry_max_seconds=settings.publish_retry_max_seconds,
        classifier=lambda: state.classifier.current,
        min_confidence=settings.classifier_min_confidence,
    )
    register_agents(faust_app, router)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watching = asyncio.create_task(watcher.watch()) if watcher.path is not None else None
        await faust_app.start()
        try:
            yield
        finally:
            await stop_faust_app(faust_app)
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching

    app = FastAPI(
        title="Xinfang routing",
        summary="Decides the unit responsible for each registered petition.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.routing = state
    app.state.faust_app = faust_app
    install_error_handlers(app)
    install_observability(
        app,
        SERVICE,
        checks={
            "org_tree": lambda: len(state.org_tree) > 0,
            "stream": lambda: _stream_running(faust_app),
            "producer": lambda: _producer_ready(faust_app),
        },
    )
    app.include_router(units_router)
    app.include_router(decisions_router)
    app.include_router(classifier_router)
    return app
