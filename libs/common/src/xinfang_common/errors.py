"""One error base class and one JSON shape for every HTTP error of the suite."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
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
        {
            "field": _field_path(tuple(err.get("loc", ()))),
            # pydantic prefixes a validator's own message with "Value error, ": it adds nothing.
            "reason": str(err.get("msg", "invalid")).removeprefix("Value error, "),
        }
        for err in exc.errors()
    ]


class FieldProblem(BaseModel):
    """One bad field and why."""

    field: str = Field(description="dotted path of the field, e.g. petitioners.0.id_number or query.limit")
    reason: str


class ErrorBody(BaseModel):
    """Every error answer of the suite."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "ValidationError",
                    "detail": "region: must be a 6-digit GB/T 2260 administrative division code, e.g. 330106",
                    "fields": [
                        {
                            "field": "region",
                            "reason": "must be a 6-digit GB/T 2260 administrative division code, e.g. 330106",
                        }
                    ],
                }
            ]
        }
    )

    error: str = Field(description="kind of error, e.g. ValidationError, NotFound, Conflict")
    detail: str = Field(description="what is wrong, in words")
    fields: list[FieldProblem] | None = Field(default=None, description="for a 422: each bad field")


def _document_error_shape(app: FastAPI) -> None:
    """Describe the suite's error body in OpenAPI instead of FastAPI's default 422 shape."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(body.pop("$defs", {}))
            body["required"] = ["error", "detail", "fields"]
            schemas["HTTPValidationError"] = body
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Map ServiceError, validation errors and stray exceptions to the suite's JSON shape."""
    _document_error_shape(app)

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
