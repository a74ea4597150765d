"""Errors the intake API returns to clients."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from xinfang_common.errors import NotFound, Unavailable

log = logging.getLogger(__name__)


class PetitionNotFound(NotFound):
    """No petition has this id."""


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached just now."""


def install_database_error_handler(app: FastAPI) -> None:
    """Turn a lost database connection into a 503 the client may retry, not a 500."""

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable", extra={"error": str(exc.orig)[:500]})
        error = DatabaseUnavailable("the database cannot be reached just now; try again shortly")
        return JSONResponse(
            status_code=error.status_code,
            content={"error": type(error).__name__, "detail": error.detail},
            headers={"Retry-After": "5"},
        )
