"""A bare FastAPI app: the ceiling for intake's throughput on the same server setup.

``POST /sync`` validates a petition-shaped body with pydantic in a plain ``def`` endpoint (run in
the thread pool, as intake's POST /v1/petitions is) and answers 201 with a small JSON receipt;
``POST /async`` does the same in the event loop. No database, no Kafka, no auth.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, status
from pydantic import BaseModel, Field


class Petitioner(BaseModel):
    """A petitioner as intake takes one (without its validators)."""

    name: str = Field(min_length=1, max_length=100)
    phone: str | None = None


class Body(BaseModel):
    """The fields intake's PetitionCreate has that the load generator sends."""

    channel: str
    category: str | None = None
    region: str = Field(pattern=r"^\d{6}$")
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20000)
    petitioners: list[Petitioner] = Field(default_factory=list, max_length=5)


class Receipt(BaseModel):
    """What intake answers, roughly."""

    id: str
    status: str
    channel: str
    region: str
    registered_at: datetime


def _receipt(body: Body) -> Receipt:
    return Receipt(
        id=str(uuid.uuid4()),
        status="registered",
        channel=body.channel,
        region=body.region,
        registered_at=datetime.now(UTC),
    )


def create_app() -> FastAPI:
    """The app uvicorn serves (``--factory``)."""
    app = FastAPI(title="bare")

    @app.post("/sync", status_code=status.HTTP_201_CREATED)
    def register_sync(body: Body) -> Receipt:
        return _receipt(body)

    @app.post("/async", status_code=status.HTTP_201_CREATED)
    async def register_async(body: Body) -> Receipt:
        return _receipt(body)

    return app
