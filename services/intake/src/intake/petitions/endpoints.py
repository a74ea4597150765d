"""HTTP endpoints of the petitions API (``/v1/petitions``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from intake import idempotency
from intake.deps import CipherDep, RelayDep, SessionDep
from intake.petitions import service
from intake.petitions.lifecycle import PetitionStatus
from intake.petitions.repository import PetitionFilters
from intake.petitions.schemas import PetitionCreate, PetitionCreated, PetitionPage, PetitionRead
from xinfang_common.domain import PetitionType

router = APIRouter(prefix="/v1/petitions", tags=["petitions"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No petition with this id"}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PetitionCreated,
    summary="Register a petition (登记)",
    response_description="The case id and the tracking code, shown only this once",
    responses=idempotency.RESPONSES,
)
def register_petition(
    body: PetitionCreate,
    session: SessionDep,
    cipher: CipherDep,
    relay: RelayDep,
    store: idempotency.IdempotencyDep,
    idempotency_key: idempotency.IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Register a petition; it is published to routing even if Kafka is down right now.

    With an ``Idempotency-Key``, a retry of the same request answers as the first one did.
    """
    answer = store.run(
        session,
        idempotency.IdempotentRequest.of(idempotency.SCOPE_PETITIONS, idempotency_key, body),
        status_code=status.HTTP_201_CREATED,
        register=lambda within: service.register_petition(session, data=body, cipher=cipher, within=within),
        render=lambda created: created.model_dump(mode="json"),
    )
    if not answer.replayed:
        relay.notify()
    return answer.response()


@router.get("/{case_id}", summary="Read a case (petitioners masked)", responses=_NOT_FOUND)
def read_petition(case_id: str, session: SessionDep, cipher: CipherDep) -> PetitionRead:
    """A case with its status, assigned unit, timeline and masked petitioners."""
    return service.get_petition(session, case_id=case_id, cipher=cipher)


@router.get("", summary="List cases, newest first, optionally filtered")
def list_petitions(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    unit: Annotated[
        str | None, Query(min_length=1, max_length=64, description="code of the assigned unit")
    ] = None,
    case_status: Annotated[PetitionStatus | None, Query(alias="status", description="case status")] = None,
    petition_type: Annotated[PetitionType | None, Query(alias="type", description="petition type")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, description="text the title or content contains", examples=["噪音"]
        ),
    ] = None,
) -> PetitionPage:
    """A page of cases meeting every filter given; follow ``next_cursor`` (same filters) for older ones."""
    filters = PetitionFilters(
        unit_code=unit,
        status=case_status.value if case_status else None,
        petition_type=petition_type.value if petition_type else None,
        text=q,
    )
    try:
        return service.list_petitions(session, limit=limit, cursor=cursor, filters=filters)
    except service.InvalidCursor as exc:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": str(exc), "type": "value_error"}]
        ) from exc
