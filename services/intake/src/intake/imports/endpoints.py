"""HTTP endpoints of historical-case imports (``/v1/imports``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from intake.access.policy import IMPORT_ROLES
from intake.deps import SessionDep, StateDep
from intake.imports import service
from intake.imports.parsers import ALIASES, CASE_COLUMNS, PETITIONER_COLUMNS, STEP_COLUMNS
from intake.imports.runner import ImportRunner
from intake.imports.schemas import (
    MEDIA_TYPES,
    ImportAccepted,
    ImportErrorPage,
    ImportFormat,
    ImportJobRead,
    ImportStatus,
)
from xinfang_common.auth import Principal, require_roles
from xinfang_common.errors import ServiceError

ImporterDep = Annotated[Principal, Depends(require_roles(*IMPORT_ROLES))]

# Importing writes history for every unit at once: admins only, on every route.
router = APIRouter(
    prefix="/v1/imports",
    tags=["imports"],
    dependencies=[Depends(require_roles(*IMPORT_ROLES))],
    responses={
        401: {"description": "No valid bearer token"},
        403: {"description": "Only admins import"},
    },
)


class ImportTooLarge(ServiceError):
    """The uploaded file is larger than INTAKE_IMPORT_MAX_BYTES."""

    status_code = 413


_FLAT_COLUMNS = [
    *CASE_COLUMNS,
    *(column for at, fields in STEP_COLUMNS.values() for column in (at, *fields.values())),
    *PETITIONER_COLUMNS,
]

_CSV_EXAMPLE = (
    "external_id,channel,petition_type,category,title,content,region,unit_code,received_at,"
    "accepted_at,replied_at,opinion,outcome,rated_at,satisfaction,closed_at,petitioner_name,petitioner_phone\n"
    "WX-2019-002549,online,claim,城乡建设,A2区景蓉华苑物业管理有问题,"
    "业委会未召开业主大会即制定停车收费方案，请求调查处理。,430102,430102-zjj,2019-04-25 09:32:09,"
    "2019-04-26 10:00:00,2019-05-10 14:56:53,经调查核实，已责成街道督促业委会依法召开业主大会重新表决。,"
    "supported,2019-05-12 08:00:00,基本满意,2019-05-13 09:00:00,张三丰,13812345678\n"
)
_JSONL_EXAMPLE = (
    '{"external_id": "WX-2019-002554", "title": "小区楼下夜间施工噪音扰民", '
    '"content": "某小区旁工地连续多日夜间施工，影响居民休息。", "region": "430104", '
    '"unit_code": "430104-zjj", "received_at": "2019-04-24 16:03:40", "timeline": ['
    '{"kind": "accepted", "at": "2019-04-25 09:00:00"}, '
    '{"kind": "replied", "at": "2019-05-09 09:49:10", "opinion": "经核查，已责令工地停止夜间施工。"}]}\n'
)

_UPLOAD_DESCRIPTION = f"""Upload a file of historical cases from a legacy system; it is stored and
imported by a background job (read its progress at the returned link).

The raw file is the request body. Formats: **JSON Lines** (`application/x-ndjson`, one case per
line with a nested `timeline`), **CSV** (`text/csv`, UTF-8 or GB18030, header row) and **XLSX**
(first sheet, header row). `format` overrides the Content-Type.

Flat columns (CSV, XLSX): {", ".join(f"`{c}`" for c in _FLAT_COLUMNS)}; one petitioner per row.
Aliases: {", ".join(f"`{a}` = `{c}`" for a, c in ALIASES.items())}; unknown columns are ignored.
Times without an offset are Beijing time (Asia/Shanghai).

Each case keeps its history: it is stored in the state its timeline ends in and published like a
live case (PetitionRegistered with `imported: true`, then one event per step at its historical
time). A reply without an acceptance or a decline before it implies an acceptance at
registration (timeline detail `implied: true`). Rows whose `external_id` was imported before are
counted as `skipped_existing`. A bad row is recorded with its line, field and reason, and the
others are imported.
"""

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            MEDIA_TYPES[ImportFormat.CSV]: {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
            MEDIA_TYPES[ImportFormat.JSONL]: {"schema": {"type": "string"}, "example": _JSONL_EXAMPLE},
            MEDIA_TYPES[ImportFormat.XLSX]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No import job with this id"}}


_EXTENSIONS = {
    "jsonl": ImportFormat.JSONL,
    "ndjson": ImportFormat.JSONL,
    "csv": ImportFormat.CSV,
    "xlsx": ImportFormat.XLSX,
}


def _format_of(request: Request, fmt: ImportFormat | None, filename: str | None) -> ImportFormat:
    """The file's format: the query parameter, else the Content-Type, else the file name's extension."""
    if fmt is not None:
        return fmt
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    for candidate, known in MEDIA_TYPES.items():
        if media_type == known:
            return candidate
    if media_type in ("application/jsonl", "application/jsonlines", "application/json-lines"):
        return ImportFormat.JSONL
    extension = (filename or "").rsplit(".", 1)[-1].lower()
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    raise RequestValidationError(
        [
            {
                "loc": ("query", "format"),
                "msg": "give format=jsonl, csv or xlsx, or a Content-Type of "
                + ", ".join(MEDIA_TYPES.values()),
                "type": "value_error",
            }
        ]
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ImportTooLarge(f"the file has {int(declared)} bytes; at most {limit} are taken")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImportTooLarge(f"the file has more than {limit} bytes; at most {limit} are taken")
        chunks.append(chunk)
    return b"".join(chunks)


def _runner(request: Request) -> ImportRunner:
    runner: ImportRunner = request.app.state.import_runner
    return runner


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportAccepted,
    summary="Import historical cases (JSON Lines, CSV or XLSX)",
    description=_UPLOAD_DESCRIPTION,
    response_description="The job, stored and queued; follow links.self for its progress",
    openapi_extra=_UPLOAD_BODY,
    responses={
        413: {"description": "The file is larger than INTAKE_IMPORT_MAX_BYTES"},
        422: {"description": "An empty body, or a format that cannot be told"},
    },
)
async def upload_import(
    request: Request,
    session: SessionDep,
    state: StateDep,
    importer: ImporterDep,
    fmt: Annotated[
        ImportFormat | None,
        Query(alias="format", description="jsonl, csv or xlsx; default: from the Content-Type"),
    ] = None,
    unit: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="unit_code of rows that name none: the unit that handled them",
            examples=["430102-zjj"],
        ),
    ] = None,
    filename: Annotated[
        str | None, Query(min_length=1, max_length=255, description="the original file name, for the record")
    ] = None,
) -> JSONResponse:
    """Store the file as a queued job and answer 202 at once; rows are imported in the background."""
    chosen = _format_of(request, fmt, filename)
    content = await _read_body(request, state.settings.import_max_bytes)
    if not content.strip():
        raise RequestValidationError([{"loc": ("body",), "msg": "the file is empty", "type": "value_error"}])
    job = await run_in_threadpool(
        lambda: service.create_job(
            session,
            content=content,
            fmt=chosen,
            filename=filename,
            default_unit=unit,
            created_by=importer.subject,
        )
    )
    _runner(request).wake()
    accepted = ImportAccepted(id=job.id, status=ImportStatus(job.status), links=service.links(job.id))
    return JSONResponse(
        status_code=status.HTTP_202_ACCEPTED,
        content=accepted.model_dump(mode="json"),
        headers={"Location": accepted.links.self},
    )


@router.get(
    "/{job_id}",
    summary="Read an import job's progress and first errors",
    responses=_NOT_FOUND,
)
def read_import(job_id: str, session: SessionDep) -> ImportJobRead:
    """Counts so far (total once the file has been read through), status, and the first row errors."""
    return service.read_job(session, job_id=job_id)


@router.get(
    "/{job_id}/errors",
    summary="List an import job's row errors, in file order",
    responses=_NOT_FOUND,
)
def list_import_errors(
    job_id: str,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 200,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> ImportErrorPage:
    """Every error of the job, page by page: line, external id, field and reason."""
    try:
        return service.error_page(session, job_id=job_id, cursor=cursor, limit=limit)
    except service.InvalidCursor as exc:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": str(exc), "type": "value_error"}]
        ) from exc
