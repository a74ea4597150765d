"""Errors the intake API returns to clients."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError

from xinfang_common.errors import Conflict, NotFound, Unavailable

log = logging.getLogger(__name__)


class PetitionNotFound(NotFound):
    """No petition has this id."""


class TransitionNotAllowed(Conflict):
    """The action is not allowed on the case in its current state; says which actions are."""

    def __init__(self, detail: str, *, status: str, allowed_actions: list[str]) -> None:
        super().__init__(detail)
        self.status = status
        self.allowed_actions = allowed_actions

    def response(self) -> JSONResponse:
        """The 409 answer: the suite's error shape plus the case status and the allowed actions."""
        return JSONResponse(
            status_code=self.status_code,
            content={
                "error": type(self).__name__,
                "detail": self.detail,
                "status": self.status,
                "allowed_actions": self.allowed_actions,
            },
        )


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached just now."""


def install_database_error_handler(app: FastAPI) -> None:
    """Turn a lost database connection into a 503 the client may retry, and a refused value
    into a 422, never a 500."""

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable", extra={"error": str(exc.orig)[:500]})
        error = DatabaseUnavailable("the database cannot be reached just now; try again shortly")
        return JSONResponse(
            status_code=error.status_code,
            content={"error": type(error).__name__, "detail": error.detail},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DataError)
    async def _value_refused(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (PostgreSQL rejects NUL
        # characters in text, for one): the client's input, so a 4xx, never a 500.
        log.info("database refused a value", extra={"error": str(exc.orig)[:200]})
        return JSONResponse(
            status_code=422,
            content={
                "error": "ValueRefused",
                "detail": "the database refused a value of the request (text may not contain NUL "
                "characters; numbers must fit their column)",
                # The database does not say which field; the shape stays that of every 422.
                "fields": [{"field": "body", "reason": "a value the database cannot hold"}],
            },
        )
