"""HTTP endpoints of the petitions API (``/v1/petitions``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from intake import idempotency
from intake.access import audit
from intake.access.policy import REGISTER_ROLES, UNMASK_ROLES
from intake.deps import CipherDep, RelayDep, ScopeDep, SessionDep, StateDep
from intake.petitions import service
from intake.petitions.lifecycle import PetitionStatus
from intake.petitions.repository import PetitionFilters
from intake.petitions.schemas import (
    PetitionCreate,
    PetitionCreated,
    PetitionersRead,
    PetitionPage,
    PetitionRead,
)
from xinfang_common.auth import Principal, PrincipalDep, require_roles
from xinfang_common.domain import PetitionType

router = APIRouter(prefix="/v1/petitions", tags=["petitions"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "The token's roles do not allow this"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    404: {"description": "No petition with this id that the caller may see"},
}
RegistrarDep = Annotated[Principal, Depends(require_roles(*REGISTER_ROLES))]
UnmaskerDep = Annotated[Principal, Depends(require_roles(*UNMASK_ROLES))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PetitionCreated,
    summary="Register a petition (登记)",
    response_description="The case id and the tracking code, shown only this once",
    responses={**_AUTH, **idempotency.RESPONSES},
)
def register_petition(
    body: PetitionCreate,
    registrar: RegistrarDep,
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
        register=lambda within: service.register_petition(
            session, data=body, cipher=cipher, within=within, registrar=registrar
        ),
        render=lambda created: created.model_dump(mode="json"),
    )
    if not answer.replayed:
        relay.notify()
    return answer.response()


@router.get("/{case_id}", summary="Read a case (petitioners masked)", responses=_NOT_FOUND)
def read_petition(
    case_id: str,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: PrincipalDep,
    scope: ScopeDep,
) -> PetitionRead:
    """A case with its status, assigned unit, timeline and masked petitioners.

    Even masked, petitioners' data is personal: the read is written to the audit log.
    """
    case = service.get_petition(session, case_id=case_id, cipher=cipher, scope=scope)
    if case.petitioners:
        audit.record_read(
            session,
            principal=principal,
            case_id=case_id,
            fields=audit.read_fields([p.model_dump() for p in case.petitioners]),
            masked=True,
            endpoint=f"GET {request.url.path}",
        )
    return case


@router.get(
    "/{case_id}/petitioners",
    summary="Read the petitioners' personal data in full (audited)",
    responses=_NOT_FOUND,
)
def read_petitioners(
    case_id: str,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    principal: UnmaskerDep,
    scope: ScopeDep,
) -> PetitionersRead:
    """Names, ID numbers, phones and addresses, decrypted, for staff who must contact the petitioner.

    Every call is written to the audit log (who, when, which case, which fields) before the data
    is returned; if the log cannot be written, nothing is returned.
    """
    found = service.get_petitioners(session, case_id=case_id, cipher=cipher, scope=scope)
    audit.record_read(
        session,
        principal=principal,
        case_id=case_id,
        fields=audit.read_fields([p.model_dump() for p in found.petitioners]),
        masked=False,
        endpoint=f"GET {request.url.path}",
    )
    return found


@router.get("", summary="List cases, newest first, optionally filtered", responses=_AUTH)
def list_petitions(
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    unit: Annotated[
        str | None, Query(min_length=1, max_length=64, description="code of the assigned unit")
    ] = None,
    case_status: Annotated[PetitionStatus | None, Query(alias="status", description="case status")] = None,
    petition_type: Annotated[PetitionType | None, Query(alias="type", description="petition type")] = None,
    overdue: Annotated[
        bool | None,
        Query(
            description="true: only cases past a deadline the unit still owes (forwarding, acceptance, "
            "completion, review or recheck answer); false: only cases that are not"
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, description="text the title or content contains", examples=["噪音"]
        ),
    ] = None,
) -> PetitionPage:
    """A page of the cases the caller may see that meet every filter given, newest first.

    Follow ``next_cursor`` (with the same filters) for older ones.
    """
    filters = PetitionFilters(
        unit_code=unit,
        status=case_status.value if case_status else None,
        petition_type=petition_type.value if petition_type else None,
        text=q,
        visible=scope.where(),
        overdue=overdue,
        now=state.clock(),
    )
    try:
        return service.list_petitions(session, limit=limit, cursor=cursor, filters=filters)
    except service.InvalidCursor as exc:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": str(exc), "type": "value_error"}]
        ) from exc
