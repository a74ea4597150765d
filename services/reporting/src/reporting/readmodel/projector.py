"""Apply one event to the read model, exactly once per event id, in any order across topics.

The ``merge_*`` functions are the decisions and touch nothing but the row they are given.
They are written so that the row a case ends with does not depend on the order its
events arrived in:

- registration owns ``channel``, ``received_at``, ``registered_at``, ``imported`` and
  ``region`` (where the matter arises); an assignment fills ``region`` only while it is unknown;
- an assignment owns the unit; ``category`` and ``petition_type`` come from the newest
  assignment when it has them (routing may have classified the petition), else from the
  registration;
- of several assignments (re-routing) the latest ``assigned_at`` wins, ties broken by unit code;
- of several acceptance deadlines the one started latest wins.

One corner is not order-free: a re-assignment without a category, after an assignment with
one, leaves whichever category was there; routing copies the category into every
assignment, so this does not happen today.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from reporting.readmodel import repository
from reporting.readmodel.models import CaseFact
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.domain import DeadlineKind
from xinfang_common.events import CaseAssigned, DeadlineScheduled, EventData, PetitionRegistered


class Outcome(StrEnum):
    """What applying an event did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


def _value(enum_or_none: StrEnum | None) -> str | None:
    return None if enum_or_none is None else enum_or_none.value


def merge_registered(fact: CaseFact, data: PetitionRegistered) -> None:
    """Fold a registration into the case's row."""
    fact.channel = data.channel.value
    fact.received_at = data.received_at
    fact.registered_at = data.registered_at
    fact.imported = data.imported
    fact.region = data.region
    # The assignment's classification wins when there is one, whichever came first.
    if fact.assigned_at is None or fact.category is None:
        fact.category = data.category
    if fact.assigned_at is None or fact.petition_type is None:
        fact.petition_type = _value(data.petition_type)


def merge_assigned(fact: CaseFact, data: CaseAssigned) -> None:
    """Fold an assignment into the case's row, unless a later assignment is already there."""
    if (
        fact.assigned_at is not None
        and fact.unit_code is not None
        and (data.assigned_at, data.unit_code) < (fact.assigned_at, fact.unit_code)
    ):
        return
    fact.unit_code = data.unit_code
    fact.unit_name = data.unit_name
    fact.assigned_at = data.assigned_at
    if data.category is not None:
        fact.category = data.category
    if data.petition_type is not None:
        fact.petition_type = data.petition_type.value
    if fact.region is None:
        fact.region = data.region


def merge_deadline(fact: CaseFact, data: DeadlineScheduled) -> None:
    """Fold a deadline into the case's row; only the acceptance deadline is kept so far."""
    if data.kind is not DeadlineKind.ACCEPTANCE:
        return
    if fact.acceptance_starts_at is not None and data.starts_at < fact.acceptance_starts_at:
        return
    fact.acceptance_starts_at = data.starts_at
    fact.acceptance_due_at = data.due_at


def _merge(fact: CaseFact, data: EventData) -> None:
    if isinstance(data, PetitionRegistered):
        merge_registered(fact, data)
    elif isinstance(data, CaseAssigned):
        merge_assigned(fact, data)
    elif isinstance(data, DeadlineScheduled):
        merge_deadline(fact, data)
    else:
        raise TypeError(f"reporting does not project {type(data).__name__}")


def apply_event(
    sessions: sessionmaker[Session],
    event: CloudEvent[PetitionRegistered] | CloudEvent[CaseAssigned] | CloudEvent[DeadlineScheduled],
    *,
    now: datetime,
) -> Outcome:
    """Apply ``event`` and record its id in one transaction; a known id changes nothing."""
    data: EventData = event.data
    case_id: str = data.case_id  # type: ignore[attr-defined]
    with sessions.begin() as session:
        if not repository.claim_event(session, event_id=event.id, at=now):
            return Outcome.DUPLICATE
        fact = repository.case_for_update(session, case_id=case_id, at=now)
        _merge(fact, data)
        fact.updated_at = now
    return Outcome.APPLIED
