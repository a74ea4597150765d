"""The case state machine: every (status, action) pair, the objection period and the extension rules."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from intake.errors import TransitionNotAllowed
from intake.petitions.lifecycle import (
    Action,
    CaseState,
    OutcomeRequired,
    PetitionStatus,
    accepts_assignment,
    allowed_actions,
    check_reply,
    decide,
    objection_deadline,
)
from intake.petitions.schemas import CaseActionRequest
from xinfang_common.domain import Outcome, PetitionType

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
S = PetitionStatus
A = Action

# Written out by hand (not derived from the module's table), so the test checks the rules.
ALLOWED: dict[PetitionStatus, list[Action]] = {
    S.REGISTERED: [],
    S.ROUTED: [A.ACCEPT, A.DECLINE, A.OBJECT],
    S.ACCEPTED: [A.EXTEND, A.HEARING, A.REPLY],
    S.DECLINED: [A.CLOSE],
    S.OBJECTED: [],
    S.TRIAGE: [],
    S.REPLIED: [A.CLOSE],
    S.REVIEW_REQUESTED: [A.HEARING, A.REVIEW_REPLY],
    S.REVIEWED: [A.CLOSE],
    S.RECHECK_REQUESTED: [A.HEARING, A.RECHECK_REPLY],
    S.RECHECKED: [A.CLOSE],
    S.CLOSED: [],
}
NEXT: dict[tuple[PetitionStatus, Action], PetitionStatus] = {
    (S.ROUTED, A.ACCEPT): S.ACCEPTED,
    (S.ROUTED, A.DECLINE): S.DECLINED,
    (S.ROUTED, A.OBJECT): S.OBJECTED,
    (S.ACCEPTED, A.EXTEND): S.ACCEPTED,
    (S.ACCEPTED, A.REPLY): S.REPLIED,
    (S.ACCEPTED, A.HEARING): S.ACCEPTED,
    (S.REVIEW_REQUESTED, A.HEARING): S.REVIEW_REQUESTED,
    (S.RECHECK_REQUESTED, A.HEARING): S.RECHECK_REQUESTED,
    (S.DECLINED, A.CLOSE): S.CLOSED,
    (S.REPLIED, A.CLOSE): S.CLOSED,
    (S.REVIEW_REQUESTED, A.REVIEW_REPLY): S.REVIEWED,
    (S.REVIEWED, A.CLOSE): S.CLOSED,
    (S.RECHECK_REQUESTED, A.RECHECK_REPLY): S.RECHECKED,
    (S.RECHECKED, A.CLOSE): S.CLOSED,
}


def state(status: PetitionStatus, **fields: object) -> CaseState:
    """A case assigned an hour before NOW, not extended, unless told otherwise."""
    values: dict[str, object] = {"assigned_at": NOW - timedelta(hours=1), "extended_days": None}
    values.update(fields)
    return CaseState(status=status, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "action"), list(itertools.product(PetitionStatus, Action)), ids=lambda v: v.value
)
def test_every_status_and_action(status: PetitionStatus, action: Action) -> None:
    case = state(status)
    assert allowed_actions(case, now=NOW) == ALLOWED[status]
    if (status, action) in NEXT:
        assert decide(case, action, now=NOW) == NEXT[(status, action)]
        return
    with pytest.raises(TransitionNotAllowed) as refused:
        decide(case, action, now=NOW)
    assert refused.value.status_code == 409
    assert refused.value.status == status.value
    assert refused.value.allowed_actions == [a.value for a in ALLOWED[status]]
    assert f"status {status.value}" in refused.value.detail


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("assigned", "last_day"),
    [
        (local(2026, 3, 2, 10), "2026-03-09"),  # Monday: Tue..Fri, then Monday
        (local(2026, 3, 6, 16), "2026-03-13"),  # Friday: the weekend is skipped
        (local(2026, 3, 7, 9), "2026-03-13"),  # Saturday: counting starts on Monday
        (local(2026, 3, 8, 23, 59), "2026-03-13"),  # Sunday, just before midnight
        (datetime(2026, 3, 1, 17, 0, tzinfo=UTC), "2026-03-09"),  # Monday 01:00 in Shanghai
    ],
)
def test_objection_period_is_five_weekdays_after_the_assignment_day(
    assigned: datetime, last_day: str
) -> None:
    due = objection_deadline(assigned, SHANGHAI)
    assert due == datetime.fromisoformat(last_day).replace(tzinfo=SHANGHAI) + timedelta(days=1)
    case = state(S.ROUTED, assigned_at=assigned)
    assert decide(case, A.OBJECT, now=due - timedelta(seconds=1)) == S.OBJECTED


def test_objection_after_five_working_days_is_refused_saying_why() -> None:
    case = state(S.ROUTED, assigned_at=local(2026, 3, 6, 16))  # a Friday
    at_midnight = local(2026, 3, 14)  # 24:00 of Friday 2026-03-13, the last day
    assert allowed_actions(case, now=at_midnight) == [A.ACCEPT, A.DECLINE]
    with pytest.raises(TransitionNotAllowed) as refused:
        decide(case, A.OBJECT, now=at_midnight)
    assert refused.value.allowed_actions == ["accept", "decline"]
    assert "objection period (5 working days" in refused.value.detail
    assert "2026-03-13" in refused.value.detail


def test_a_second_extension_is_refused() -> None:
    case = state(S.ACCEPTED, extended_days=15)
    assert allowed_actions(case, now=NOW) == [A.HEARING, A.REPLY]
    with pytest.raises(TransitionNotAllowed, match="already extended once") as refused:
        decide(case, A.EXTEND, now=NOW)
    assert refused.value.allowed_actions == ["hearing", "reply"]


ACTION_BODY: TypeAdapter[object] = TypeAdapter(CaseActionRequest)


@pytest.mark.parametrize("days", [0, 31, -1])
def test_an_extension_outside_one_to_thirty_days_is_invalid(days: int) -> None:
    with pytest.raises(ValidationError) as invalid:
        ACTION_BODY.validate_python(
            {"action": "extend", "days": days, "reason": "核查", "approver": "head-1"}
        )
    assert invalid.value.errors()[0]["loc"] == ("extend", "days")


def test_an_extension_needs_reason_and_approver() -> None:
    with pytest.raises(ValidationError) as invalid:
        ACTION_BODY.validate_python({"action": "extend", "days": 30})
    assert {e["loc"][-1] for e in invalid.value.errors()} == {"reason", "approver"}
    ACTION_BODY.validate_python({"action": "extend", "days": 30, "reason": "核查", "approver": "head-1"})


def test_a_claim_reply_needs_an_outcome_and_others_may_omit_it() -> None:
    with pytest.raises(OutcomeRequired, match="claim"):
        check_reply(PetitionType.CLAIM, None)
    check_reply(PetitionType.CLAIM, Outcome.NOT_SUPPORTED)
    check_reply(PetitionType.SUGGESTION, None)
    check_reply(PetitionType.REPORT, None)
    check_reply(None, None)


@pytest.mark.parametrize("status", PetitionStatus, ids=lambda s: s.value)
def test_routing_decisions_never_regress_a_case_the_unit_has_taken_on(status: PetitionStatus) -> None:
    expected = status in {S.REGISTERED, S.ROUTED, S.OBJECTED, S.TRIAGE}
    assert accepts_assignment(status) is expected
