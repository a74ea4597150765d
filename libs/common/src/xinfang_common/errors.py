"""One error base class and one JSON shape for every HTTP error of the suite."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error meant for the client: ``{"error": <class name>, "detail": <what and why>}``."""

    status_code = 400

    def __init__(
        self, detail: str, status_code: int | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        if status_code is not None:
            self.status_code = status_code


class NotFound(ServiceError):
    """The resource does not exist."""

    status_code = 404


class Conflict(ServiceError):
    """The request conflicts with the resource's current state."""

    status_code = 409


class Unavailable(ServiceError):
    """A dependency (database, Kafka) cannot be reached just now; try again later."""

    status_code = 503


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Each bad field with the reason, in a form clients can show next to the field."""
    return [
        {"field": _field_path(tuple(err.get("loc", ()))), "reason": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Map ServiceError, validation errors and stray exceptions to the suite's JSON shape."""

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": type(exc).__name__, "detail": exc.detail},
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return JSONResponse(
            status_code=422,
            content={"error": "ValidationError", "detail": detail, "fields": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": "HTTPError", "detail": str(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            status_code=500,
            content={"error": "InternalError", "detail": "an unexpected error occurred; it was logged"},
        )
