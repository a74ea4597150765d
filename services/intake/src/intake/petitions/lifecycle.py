"""The case state machine: which actions a unit may take on a case now, and where each one leads.

Pure: no database, no Kafka, no clock (the caller passes ``now``), so every transition is
unit-tested directly.

- ``registered`` → ``routed`` when routing's CaseAssigned arrives;
- ``routed`` → ``accepted`` | ``declined`` | ``objected`` (the last within 5 working days of the
  assignment; the case goes back to routing and a new CaseAssigned makes it ``routed`` again);
- ``accepted`` → ``replied`` → ``closed``; ``declined`` → ``closed``;
- the petitioner may then ask for a review (复查) within 30 days of the reply: ``replied`` (or
  ``closed`` after a reply) → ``review_requested`` → (the superior unit's ``review_reply``)
  ``reviewed``; then a recheck (复核) within 30 days of that answer: ``reviewed`` (or ``closed``)
  → ``recheck_requested`` → ``rechecked``, which is final (Art. 35-36). ``reviewed`` and
  ``rechecked`` may be closed.

``extend`` is taken on an accepted case, once; the case stays ``accepted`` and records the days
(``extended_days``), because an extension changes the deadline, not what the unit may do next.
``hearing`` (听证) records a hearing held or scheduled while an answer is pending (accepted,
review_requested, recheck_requested) and leaves the status as it is: the deadline policy says
which periods do not count its days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from intake.errors import TransitionNotAllowed
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.domain import Outcome, PeriodUnit, PetitionType, ReplyStage, ReviewStage
from xinfang_common.periods import compute_due


class PetitionStatus(StrEnum):
    """Where a case stands."""

    REGISTERED = "registered"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    OBJECTED = "objected"
    TRIAGE = "triage"
    """Routing could not decide (unsure classifier, a second objection, no lawful unit): a person will."""
    REPLIED = "replied"
    REVIEW_REQUESTED = "review_requested"
    REVIEWED = "reviewed"
    RECHECK_REQUESTED = "recheck_requested"
    RECHECKED = "rechecked"
    CLOSED = "closed"


class Action(StrEnum):
    """What a handling unit can do to a case."""

    ACCEPT = "accept"
    DECLINE = "decline"
    OBJECT = "object"
    EXTEND = "extend"
    HEARING = "hearing"
    REPLY = "reply"
    REVIEW_REPLY = "review_reply"
    RECHECK_REPLY = "recheck_reply"
    CLOSE = "close"


PAST_TENSE: dict[Action, str] = {
    Action.ACCEPT: "accepted",
    Action.DECLINE: "declined",
    Action.OBJECT: "objected",
    Action.EXTEND: "extended",
    Action.HEARING: "hearing_held",
    Action.REPLY: "replied",
    Action.REVIEW_REPLY: "reviewed",
    Action.RECHECK_REPLY: "rechecked",
    Action.CLOSE: "closed",
}
"""The fact each action records: the timeline entry's kind and the event's name."""

TRANSITIONS: dict[tuple[PetitionStatus, Action], PetitionStatus] = {
    (PetitionStatus.ROUTED, Action.ACCEPT): PetitionStatus.ACCEPTED,
    (PetitionStatus.ROUTED, Action.DECLINE): PetitionStatus.DECLINED,
    (PetitionStatus.ROUTED, Action.OBJECT): PetitionStatus.OBJECTED,
    (PetitionStatus.ACCEPTED, Action.EXTEND): PetitionStatus.ACCEPTED,
    (PetitionStatus.ACCEPTED, Action.REPLY): PetitionStatus.REPLIED,
    (PetitionStatus.ACCEPTED, Action.HEARING): PetitionStatus.ACCEPTED,
    (PetitionStatus.REVIEW_REQUESTED, Action.HEARING): PetitionStatus.REVIEW_REQUESTED,
    (PetitionStatus.RECHECK_REQUESTED, Action.HEARING): PetitionStatus.RECHECK_REQUESTED,
    (PetitionStatus.DECLINED, Action.CLOSE): PetitionStatus.CLOSED,
    (PetitionStatus.REPLIED, Action.CLOSE): PetitionStatus.CLOSED,
    (PetitionStatus.REVIEW_REQUESTED, Action.REVIEW_REPLY): PetitionStatus.REVIEWED,
    (PetitionStatus.RECHECK_REQUESTED, Action.RECHECK_REPLY): PetitionStatus.RECHECKED,
    (PetitionStatus.REVIEWED, Action.CLOSE): PetitionStatus.CLOSED,
    (PetitionStatus.RECHECKED, Action.CLOSE): PetitionStatus.CLOSED,
}
"""Every legal (status, action) pair and the status it leads to; guards below narrow them."""

ROUTABLE: frozenset[PetitionStatus] = frozenset(
    {PetitionStatus.REGISTERED, PetitionStatus.ROUTED, PetitionStatus.OBJECTED, PetitionStatus.TRIAGE}
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


REPLY_ACTIONS: dict[Action, ReplyStage] = {
    Action.REPLY: ReplyStage.REPLY,
    Action.REVIEW_REPLY: ReplyStage.REVIEW,
    Action.RECHECK_REPLY: ReplyStage.RECHECK,
}
"""The actions that issue a written answer the petitioner can rate, and which answer each is."""

REVIEW_REQUEST_DAYS = 30
"""A review (复查) or recheck (复核) is requested within 30 days of the answer (Art. 35-36)."""

HEARING_STAGE: dict[PetitionStatus, ReplyStage] = {
    PetitionStatus.ACCEPTED: ReplyStage.REPLY,
    PetitionStatus.REVIEW_REQUESTED: ReplyStage.REVIEW,
    PetitionStatus.RECHECK_REQUESTED: ReplyStage.RECHECK,
}
"""The answer a hearing held in each status prepares."""

REQUESTED_STATUS: dict[ReviewStage, PetitionStatus] = {
    ReviewStage.REVIEW: PetitionStatus.REVIEW_REQUESTED,
    ReviewStage.RECHECK: PetitionStatus.RECHECK_REQUESTED,
}

_NEXT_REQUEST: dict[ReplyStage, ReviewStage] = {
    ReplyStage.REPLY: ReviewStage.REVIEW,
    ReplyStage.REVIEW: ReviewStage.RECHECK,
}

# Statuses in which the last answer stands and may be contested.
_ANSWERED = frozenset(
    {PetitionStatus.REPLIED, PetitionStatus.REVIEWED, PetitionStatus.RECHECKED, PetitionStatus.CLOSED}
)


@dataclass(frozen=True)
class ReviewWindow:
    """Whether the petitioner may ask for a review or recheck now, which one, and until when.

    ``stage`` and ``until`` are set when a request is possible now; otherwise ``refusal`` says
    why not, and ``final`` marks a matter closed for good by a recheck (Art. 36).
    """

    stage: ReviewStage | None = None
    until: datetime | None = None
    refusal: str | None = None
    final: bool = False


def review_window(
    status: PetitionStatus,
    reply_stage: ReplyStage | None,
    replied_at: datetime | None,
    *,
    now: datetime,
    calendar: HolidayCalendar,
    tz: ZoneInfo = LOCAL_TIME,
) -> ReviewWindow:
    """What the petitioner may ask of the next superior unit now, counted in 日 on the official calendar."""
    if reply_stage is ReplyStage.RECHECK:
        return ReviewWindow(
            refusal="the matter is final: it was rechecked (复核), and the same matter on the same "
            "facts and reasons is not accepted again (Art. 36)",
            final=True,
        )
    if status is PetitionStatus.REVIEW_REQUESTED or status is PetitionStatus.RECHECK_REQUESTED:
        return ReviewWindow(
            refusal=f"a {status.value.split('_')[0]} was already requested and awaits its answer"
        )
    if reply_stage is None or replied_at is None or status not in _ANSWERED:
        return ReviewWindow(refusal="the case has no written reply yet to ask a review of")
    stage = _NEXT_REQUEST[reply_stage]
    until = compute_due(replied_at, REVIEW_REQUEST_DAYS, PeriodUnit.CALENDAR_DAYS, calendar, tz).due_at
    if now >= until:
        last_day = (until - timedelta(days=1)).date().isoformat()
        return ReviewWindow(
            refusal=f"the period for a {stage.value} ({REVIEW_REQUEST_DAYS} days after the "
            f"{reply_stage.value} on {replied_at.astimezone(tz).date().isoformat()}) ended at the end "
            f"of {last_day} ({tz.key})"
        )
    return ReviewWindow(stage=stage, until=until)


def accepts_assignment(status: PetitionStatus) -> bool:
    """Whether a routing decision still applies: never once a unit has taken the case on or ended it."""
    return status in ROUTABLE
