"""``/v1/triage``: cases waiting for a person, and assigning them by hand."""

from __future__ import annotations

import asyncio
import csv
import threading
from pathlib import Path

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError

from routing.cases.database import transient
from routing.cases.models import RoutedCase
from routing.cases.service import CaseUnknown, NotWaiting, Output, report_forbids
from routing.deps import ROLE_RESPONSES, StateDep, TriagerDep, TriageReaderDep
from routing.errors import CaseNotFound, CaseNotWaiting, DatabaseUnavailable
from routing.rules import Rule
from routing.triage.schemas import TriageAssign, TriageAssigned, TriageItem, TriageList
from routing.units.schemas import UnitRead
from xinfang_common.events import PetitionRegistered

router = APIRouter(prefix="/v1/triage", tags=["triage"])

_csv_lock = threading.Lock()


def append_training_row(path: Path, text: str, label: str) -> None:
    """Append ``(text, label)`` to the CSV that ``xinfang-routing train`` reads, with a header if new."""
    with _csv_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["text", "label"])
            writer.writerow([text, label])


def _field_error(field: str, reason: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": reason, "type": "value_error"}])


@router.get(
    "",
    summary="Cases waiting for a person to choose the unit, longest waiting first",
    responses=ROLE_RESPONSES,
)
async def list_triage(state: StateDep, _: TriageReaderDep) -> TriageList:
    """Cases below the classifier's confidence, with a second objection, or that no rule could place."""
    assert state.router is not None
    service = state.router.service

    def read() -> list[TriageItem]:
        with service.database.sessions() as session:
            return [
                TriageItem(
                    case_id=c.case_id,
                    reason=c.triage_reason or "",
                    prediction=c.triage_prediction,
                    confidence=c.triage_confidence,
                    region=c.region,
                    category=c.category,
                    petition_type=c.petition_type,
                    title=PetitionRegistered.model_validate_json(c.petition).title,
                    objectors=list(c.objectors),
                    registered_at=c.registered_at,
                    waiting_since=c.triage_since,
                )
                for c in service.waiting(session)
            ]

    items = await asyncio.to_thread(read)
    return TriageList(items=items, total=len(items))


@router.post(
    "/{case_id}/assign",
    summary="Assign a waiting case to a unit by hand (publishes CaseAssigned, rule manual-triage)",
    responses={
        **ROLE_RESPONSES,
        404: {"description": "Routing has no such case"},
        409: {"description": "The case is not waiting in triage"},
        422: {"description": "Unknown or inactive unit, or one a report may not go to (Art. 30)"},
        503: {"description": "Routing's database is unreachable; nothing was changed"},
    },
)
async def assign(case_id: str, body: TriageAssign, state: StateDep, _: TriagerDep) -> TriageAssigned:
    """Assign the case; a category given (or the case's own) is appended to the training data."""
    router_ = state.router
    assert router_ is not None
    service = router_.service
    tree = state.org_tree
    unit = tree.get(body.unit_code)
    if unit is None:
        raise _field_error("unit_code", f"no unit has code {body.unit_code!r}")
    if not unit.active:
        raise _field_error(
            "unit_code", f"unit {unit.code} is not active (successor: {unit.successor or 'none'})"
        )

    def assign_now() -> tuple[Output, str, str | None]:
        with service.database.sessions.begin() as session:
            case = session.get(RoutedCase, case_id)
            if case is not None:
                forbidden = report_forbids(tree, case.petition, unit)
                if forbidden:
                    raise _field_error("unit_code", forbidden)
            return service.assign_by_hand(
                session, case_id, unit, tree=tree, category=body.category, note=body.note
            )

    async with router_.lock:
        try:
            output, text, label = await asyncio.to_thread(assign_now)
        except CaseUnknown as exc:
            raise CaseNotFound(str(exc)) from exc
        except NotWaiting as exc:
            raise CaseNotWaiting(str(exc)) from exc
        except SQLAlchemyError as exc:
            if transient(exc):
                raise DatabaseUnavailable(f"routing's database is unreachable: {type(exc).__name__}") from exc
            raise
        # The decision and its CaseAssigned were committed together (the outbox); published now,
        # retrying while Kafka refuses. A process that dies in between publishes it at start.
        await router_.publish_all(output.event.id, [output])
    written = False
    if label:
        await asyncio.to_thread(append_training_row, state.training_data_path, text, label)
        written = True
    data = output.event.data
    return TriageAssigned(
        case_id=case_id,
        unit=UnitRead.of(unit),
        category=data.category,
        rule=Rule.MANUAL_TRIAGE.value,
        explanation=data.explanation,
        training_row_written=written,
    )
