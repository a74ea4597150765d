"""HTTP endpoint of the audit log (``/v1/audit``), for auditors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict

from intake.access import audit
from intake.access.policy import AUDIT_ROLES
from intake.deps import SessionDep
from xinfang_common.auth import Principal, require_roles

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AuditorDep = Annotated[Principal, Depends(require_roles(*AUDIT_ROLES))]


class PersonalDataReadEntry(BaseModel):
    """One read of personal data."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1042,
                    "at": "2026-03-04T02:15:09Z",
                    "actor": "staff-0427",
                    "actor_unit": "430104-zjj",
                    "roles": ["handler"],
                    "case_id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                    "fields": ["petitioners[0].name", "petitioners[0].phone"],
                    "masked": False,
                    "endpoint": "GET /v1/petitions/0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10/petitioners",
                }
            ]
        },
    )

    id: int
    at: datetime
    actor: str
    actor_unit: str
    roles: list[str]
    case_id: str
    fields: list[str]
    masked: bool
    endpoint: str


class PersonalDataReadPage(BaseModel):
    """Audit entries, newest first; pass ``next_cursor`` back for older ones."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 1042,
                            "at": "2026-03-04T02:15:09Z",
                            "actor": "staff-0427",
                            "actor_unit": "430104-zjj",
                            "roles": ["handler"],
                            "case_id": "0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10",
                            "fields": ["petitioners[0].name", "petitioners[0].phone"],
                            "masked": False,
                            "endpoint": "GET /v1/petitions/0b7e3f8e-6a51-4b5c-9d7e-2f4a1c9e8d10/petitioners",
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[PersonalDataReadEntry]
    next_cursor: str | None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Only auditors and admins read the audit log"},
}


MAX_ID = 2**31 - 1
"""Audit entry ids are 32-bit integers (PostgreSQL ``integer``)."""


def _position(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    position = int(cursor)
    if position > MAX_ID:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": "not a cursor returned by this API", "type": "value_error"}]
        )
    return position


@router.get(
    "/personal-data-reads",
    summary="Who read which petitioner data of which case, when",
    responses=_RESPONSES,
)
def list_personal_data_reads(
    session: SessionDep,
    _: AuditorDep,
    case_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=64, description="staff account id")] = None,
    since: Annotated[AwareDatetime | None, Query(description="only reads at or after this instant")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,9}$", description="next_cursor of the previous page")
    ] = None,
) -> PersonalDataReadPage:
    """The audit log of personal-data reads (masked and in full), newest first."""
    rows = audit.list_reads(
        session,
        limit=limit + 1,
        after_id=_position(cursor),
        case_id=case_id,
        actor=actor,
        since=since,
    )
    page, more = rows[:limit], len(rows) > limit
    return PersonalDataReadPage(
        items=[PersonalDataReadEntry.model_validate(row) for row in page],
        next_cursor=str(page[-1].id) if more and page else None,
    )
