"""Health, readiness and Prometheus endpoints shared by every service's FastAPI app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Info, generate_latest
from pydantic import BaseModel

log = logging.getLogger(__name__)

_build_info: dict[str, Info] = {}

ReadinessCheck = Callable[[], Awaitable[bool] | bool]
"""Returns True when the dependency it checks is usable; may raise, which counts as False."""


class Readiness(BaseModel):
    """Whether the service can do its work, and each dependency's check."""

    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


async def _run_check(check: ReadinessCheck) -> bool:
    try:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await asyncio.wait_for(result, timeout=5)
        return bool(result)
    except Exception:
        log.warning("readiness check failed", exc_info=True)
        return False


def observability_router(
    service: str,
    checks: Mapping[str, ReadinessCheck],
    registry: CollectorRegistry = REGISTRY,
) -> APIRouter:
    """``/healthz`` (process alive), ``/readyz`` (dependencies usable) and ``/metrics``."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is running")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="Readiness: the database and Kafka are usable",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: `checks` says which dependency"}},
    )
    async def readyz() -> JSONResponse:
        results = {name: await _run_check(check) for name, check in checks.items()}
        ready = all(results.values())
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ready" if ready else "not ready", "checks": results},
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def install_observability(
    app: FastAPI, service: str, checks: Mapping[str, ReadinessCheck], version: str = "0.1.0"
) -> None:
    """Mount the operations endpoints and publish the build info metric."""
    if service not in _build_info:
        _build_info[service] = Info(f"xinfang_{service}_build", f"Build information of the {service} service")
    _build_info[service].info({"version": version, "service": service})
    app.include_router(observability_router(service, checks))
