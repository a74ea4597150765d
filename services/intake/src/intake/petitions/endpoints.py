"""HTTP endpoints of the petitions API (``/v1/petitions``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.exceptions import RequestValidationError

from intake.deps import CipherDep, RelayDep, SessionDep
from intake.petitions import service
from intake.petitions.schemas import PetitionCreate, PetitionCreated, PetitionPage, PetitionRead

router = APIRouter(prefix="/v1/petitions", tags=["petitions"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No petition with this id"}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a petition (登记)",
    response_description="The case id and the tracking code, shown only this once",
)
def register_petition(
    body: PetitionCreate, session: SessionDep, cipher: CipherDep, relay: RelayDep
) -> PetitionCreated:
    """Register a petition; it is published to routing even if Kafka is down right now."""
    created = service.register_petition(session, data=body, cipher=cipher)
    relay.notify()
    return created


@router.get("/{case_id}", summary="Read a case (petitioners masked)", responses=_NOT_FOUND)
def read_petition(case_id: str, session: SessionDep, cipher: CipherDep) -> PetitionRead:
    """A case with its status, assigned unit, timeline and masked petitioners."""
    return service.get_petition(session, case_id=case_id, cipher=cipher)


@router.get("", summary="List cases, newest first")
def list_petitions(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> PetitionPage:
    """A page of cases; follow ``next_cursor`` for older ones."""
    try:
        return service.list_petitions(session, limit=limit, cursor=cursor)
    except service.InvalidCursor as exc:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": str(exc), "type": "value_error"}]
        ) from exc
