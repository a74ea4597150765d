"""HTTP endpoints of the Open311 GeoReport v2 subset (``/open311/v2``); JSON only."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from intake import idempotency
from intake.deps import IntakeState, SessionDep, StateDep
from intake.errors import PetitionNotFound
from intake.open311 import service
from intake.open311.schemas import (
    Open311Error,
    Service,
    ServiceRequestCreate,
    ServiceRequestCreated,
    ServiceRequestRead,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": list[Open311Error], "description": "Bad input; each error names its field"},
    503: {"model": list[Open311Error], "description": "The database is unreachable; retry later"},
}

_REQUEST_SCHEMA = ServiceRequestCreate.model_json_schema(by_alias=True)
_REQUEST_EXAMPLE = {
    "service_code": "environmental-protection",
    "description": "麓山南路一餐馆油烟直排，周边住户窗户无法打开，请尽快处理。",
    "lat": 28.1791,
    "long": 112.9388,
    "address_string": "长沙市岳麓区麓山南路",
    "first_name": "丽",
    "last_name": "王",
    "phone": "13912345678",
    "attribute[region]": "430104",
}

_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            service.FORM: {"schema": _REQUEST_SCHEMA, "example": _REQUEST_EXAMPLE},
            "application/json": {"schema": _REQUEST_SCHEMA, "example": _REQUEST_EXAMPLE},
        },
    }
}


def _errors(status_code: int, errors: list[tuple[str, str]]) -> JSONResponse:
    # Open311 errors are a list of {code, description}, not the suite's usual shape.
    body = [Open311Error(code=status_code, description=f"{field}: {reason}") for field, reason in errors]
    return JSONResponse(status_code=status_code, content=[e.model_dump() for e in body])


def _unavailable(exc: OperationalError) -> JSONResponse:
    log.warning("database unavailable", extra={"error": str(exc.orig)[:500]})
    response = _errors(503, [("database", "cannot be reached just now; try again shortly")])
    response.headers["Retry-After"] = "5"
    return response


@router.get("/services.json", summary="Service types: the petition categories")
def list_services() -> list[Service]:
    """The seven top-level categories; ``jurisdiction_id`` is accepted and ignored."""
    return service.list_services()


def _submit(
    state: IntakeState, data: ServiceRequestCreate, request: idempotency.IdempotentRequest | None
) -> idempotency.Answer:
    store = idempotency.store_of(state.cipher, ttl_hours=state.settings.idempotency_ttl_hours)
    with state.session_factory() as session:
        return store.run(
            session,
            request,
            status_code=status.HTTP_201_CREATED,
            register=lambda within: service.submit_request(
                session,
                data=data,
                cipher=state.cipher,
                default_region=state.settings.open311_default_region,
                within=within,
            ),
            render=lambda created: [created.model_dump(mode="json")],
        )


@router.post(
    "/requests.json",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a service request: registers an online petition",
    openapi_extra=_REQUEST_BODY,
    responses={
        201: {
            "model": list[ServiceRequestCreated],
            "description": "The case id and tracking code",
            "headers": {idempotency.REPLAYED_HEADER: idempotency.REPLAYED_DOC},
        },
        409: {
            "model": list[Open311Error],
            "description": f"The {idempotency.HEADER} was already used with a different request",
        },
        415: {"model": list[Open311Error], "description": "Neither a form nor JSON"},
        **_ERRORS,
    },
)
async def create_request(
    request: Request,
    state: StateDep,
    idempotency_key: Annotated[
        str | None,
        # Checked here rather than by FastAPI, so a bad key is an Open311 400 like any bad field.
        Header(
            alias=idempotency.HEADER,
            description=idempotency.HEADER_DESCRIPTION,
            examples=[idempotency.HEADER_EXAMPLE],
        ),
    ] = None,
) -> JSONResponse:
    """Register the request as a petition (form-encoded as the spec says, or JSON).

    With an ``Idempotency-Key``, a retry of the same request answers as the first one did.
    """
    try:
        if idempotency_key is not None and (problem := idempotency.key_problem(idempotency_key)):
            raise service.InvalidRequest([(idempotency.FIELD, problem)])
        fields = service.parse_body(await request.body(), request.headers.get("content-type"))
        data = service.read_request(fields, jurisdiction=state.settings.open311_default_region)
    except service.InvalidRequest as exc:
        return _errors(exc.status_code, exc.errors)
    keyed = idempotency.IdempotentRequest.of(idempotency.SCOPE_OPEN311, idempotency_key, data)
    try:
        answer = await run_in_threadpool(_submit, state, data, keyed)
    except idempotency.IdempotencyKeyReused as exc:
        return _errors(status.HTTP_409_CONFLICT, [(idempotency.FIELD, exc.detail)])
    except ValidationError as exc:
        # The request passed its own checks, so this is a petition rule it could not foresee.
        return _errors(400, service.validation_errors(exc))
    except OperationalError as exc:
        return _unavailable(exc)
    if not answer.replayed:
        state.relay.notify()
    return answer.response()


@router.get(
    "/requests/{service_request_id}.json",
    summary="A service request's status and notes",
    responses={
        200: {"model": list[ServiceRequestRead], "description": "A list holding the one request"},
        404: {"model": list[Open311Error], "description": "No request with this id"},
        503: _ERRORS[503],
    },
)
def read_request(service_request_id: str, session: SessionDep) -> JSONResponse:
    """Status, notes and the responsible unit; never the petitioners or the petition text."""
    try:
        found = service.get_request(session, service_request_id=service_request_id)
    except PetitionNotFound as exc:
        return _errors(404, [("service_request_id", str(exc))])
    except OperationalError as exc:
        return _unavailable(exc)
    return JSONResponse(content=[found.model_dump(mode="json")])
