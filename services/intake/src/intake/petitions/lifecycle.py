"""The case state machine: which actions a unit may take on a case now, and where each one leads.

Pure: no database, no Kafka, no clock (the caller passes ``now``), so every transition is
unit-tested directly.

- ``registered`` → ``routed`` when routing's CaseAssigned arrives;
- ``routed`` → ``accepted`` | ``declined`` | ``objected`` (the last within 5 working days of the
  assignment; the case goes back to routing and a new CaseAssigned makes it ``routed`` again);
- ``accepted`` → ``replied`` → ``closed``; ``declined`` → ``closed``.

``extend`` is taken on an accepted case, once; the case stays ``accepted`` and records the days
(``extended_days``), because an extension changes the deadline, not what the unit may do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from intake.errors import TransitionNotAllowed
from xinfang_common.domain import Outcome, PetitionType


class PetitionStatus(StrEnum):
    """Where a case stands."""

    REGISTERED = "registered"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    OBJECTED = "objected"
    REPLIED = "replied"
    CLOSED = "closed"


class Action(StrEnum):
    """What a handling unit can do to a case."""

    ACCEPT = "accept"
    DECLINE = "decline"
    OBJECT = "object"
    EXTEND = "extend"
    REPLY = "reply"
    CLOSE = "close"


PAST_TENSE: dict[Action, str] = {
    Action.ACCEPT: "accepted",
    Action.DECLINE: "declined",
    Action.OBJECT: "objected",
    Action.EXTEND: "extended",
    Action.REPLY: "replied",
    Action.CLOSE: "closed",
}
"""The fact each action records: the timeline entry's kind and the event's name."""

TRANSITIONS: dict[tuple[PetitionStatus, Action], PetitionStatus] = {
    (PetitionStatus.ROUTED, Action.ACCEPT): PetitionStatus.ACCEPTED,
    (PetitionStatus.ROUTED, Action.DECLINE): PetitionStatus.DECLINED,
    (PetitionStatus.ROUTED, Action.OBJECT): PetitionStatus.OBJECTED,
    (PetitionStatus.ACCEPTED, Action.EXTEND): PetitionStatus.ACCEPTED,
    (PetitionStatus.ACCEPTED, Action.REPLY): PetitionStatus.REPLIED,
    (PetitionStatus.DECLINED, Action.CLOSE): PetitionStatus.CLOSED,
    (PetitionStatus.REPLIED, Action.CLOSE): PetitionStatus.CLOSED,
}
"""Every legal (status, action) pair and the status it leads to; guards below narrow them."""

ROUTABLE: frozenset[PetitionStatus] = frozenset(
    {PetitionStatus.REGISTERED, PetitionStatus.ROUTED, PetitionStatus.OBJECTED}
)
"""Statuses in which a routing decision (CaseAssigned) still applies to the case."""

OBJECTION_WORKING_DAYS = 5
"""A unit may object that a forwarded matter is not its own within 5 working days (Art. 23)."""

LOCAL_TIME = ZoneInfo("Asia/Shanghai")
"""The zone whose local days the objection period counts."""


@dataclass(frozen=True)
class CaseState:
    """What the state machine needs to know about a case."""

    status: PetitionStatus
    assigned_at: datetime | None = None
    extended_days: int | None = None
    petition_type: PetitionType | None = None


def objection_deadline(assigned_at: datetime, tz: ZoneInfo = LOCAL_TIME) -> datetime:
    """The instant the objection period ends: 24:00 local time of its 5th working day.

    The assignment day is not counted. Only weekends are skipped: intake has no holiday
    calendar; alerts owns the official one (statutory holidays and 调休 make-up working days),
    and a later issue can move this check there (e.g. to an objection DeadlineScheduled).
    """
    day = assigned_at.astimezone(tz).date()
    counted = 0
    while counted < OBJECTION_WORKING_DAYS:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)


def _refusal(state: CaseState, action: Action, *, now: datetime, tz: ZoneInfo) -> str | None:
    """Why ``action`` is not allowed on the case now, or None when it is."""
    if (state.status, action) not in TRANSITIONS:
        return f"a case in status {state.status.value} cannot be {PAST_TENSE[action]}"
    if action is Action.OBJECT:
        if state.assigned_at is None:
            return "the case has no assignment to object to"
        due = objection_deadline(state.assigned_at, tz)
        if now >= due:
            assigned = state.assigned_at.astimezone(tz).date().isoformat()
            last_day = (due - timedelta(days=1)).date().isoformat()
            return (
                f"the objection period ({OBJECTION_WORKING_DAYS} working days after the assignment "
                f"on {assigned}) ended at the end of {last_day} ({tz.key}); accept or decline the case"
            )
    if action is Action.EXTEND and state.extended_days is not None:
        return f"the case was already extended once (by {state.extended_days} days); only one is allowed"
    return None


def allowed_actions(state: CaseState, *, now: datetime, tz: ZoneInfo = LOCAL_TIME) -> list[Action]:
    """The actions a unit may take on the case now, in a stable order (for buttons and 409s)."""
    return [action for action in Action if _refusal(state, action, now=now, tz=tz) is None]


def decide(state: CaseState, action: Action, *, now: datetime, tz: ZoneInfo = LOCAL_TIME) -> PetitionStatus:
    """The status ``action`` leads to; raises TransitionNotAllowed saying why and what is allowed."""
    refusal = _refusal(state, action, now=now, tz=tz)
    if refusal is not None:
        raise TransitionNotAllowed(
            f"cannot {action.value}: {refusal}",
            status=state.status.value,
            allowed_actions=[a.value for a in allowed_actions(state, now=now, tz=tz)],
        )
    return TRANSITIONS[(state.status, action)]


class OutcomeRequired(ValueError):
    """A reply to a claim (申诉求决类) without its outcome."""


def check_reply(petition_type: PetitionType | None, outcome: Outcome | None) -> None:
    """Raise OutcomeRequired when a claim is answered without supported/explained/not supported."""
    if petition_type == PetitionType.CLAIM and outcome is None:
        choices = ", ".join(o.value for o in Outcome)
        raise OutcomeRequired(f"required when replying to a claim (申诉求决类, Art. 32): one of {choices}")


def accepts_assignment(status: PetitionStatus) -> bool:
    """Whether a routing decision still applies: never once a unit has taken the case on or ended it."""
    return status in ROUTABLE
