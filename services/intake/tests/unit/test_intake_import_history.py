"""Replaying imported timelines through the case state machine: end states and refused histories."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from intake.imports.history import RowProblem, replay
from intake.imports.parsers import Defaults, SourceRow, flat_field, to_case
from intake.imports.schemas import ImportedCase, StepKind
from intake.petitions.lifecycle import PetitionStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED = "2019-03-01 08:00:00"


def case(*steps: dict[str, Any], **fields: Any) -> ImportedCase:
    return ImportedCase.model_validate(
        {
            "external_id": "H-1",
            "title": "噪音扰民",
            "content": "夜间施工。",
            "region": "430104",
            "unit_code": "430104-zjj",
            "received_at": RECEIVED,
            "timeline": list(steps),
            **fields,
        }
    )


def step(kind: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "at": at, **fields}


def problem(imported: ImportedCase) -> tuple[str, str]:
    with pytest.raises(RowProblem) as caught:
        replay(imported)
    return caught.value.field, caught.value.reason


def test_a_full_history_ends_closed_with_what_live_handling_would_have_recorded() -> None:
    history = replay(
        case(
            step("accepted", "2019-03-02 09:00"),
            step("extended", "2019-04-20 10:00", days=30, reason="需现场核查", approver="head-1"),
            step("replied", "2019-05-20 10:00", opinion="已处理。", outcome="supported"),
            step("rated", "2019-05-21 10:00", satisfaction="satisfied"),
            step("closed", "2019-05-22 10:00"),
            petition_type="claim",
        )
    )
    assert history.status is PetitionStatus.CLOSED
    assert history.accepted_at == datetime(2019, 3, 2, 9, 0, tzinfo=SHANGHAI)
    assert history.extended_days == 30
    assert history.replied_at == datetime(2019, 5, 20, 10, 0, tzinfo=SHANGHAI)
    assert history.outcome == "supported"
    assert (history.reply_sequence, history.reply_stage) == (1, "reply")
    assert history.closed_at == datetime(2019, 5, 22, 10, 0, tzinfo=SHANGHAI)
    assert [s.step.kind for s in history.steps] == [
        StepKind.ACCEPTED,
        StepKind.EXTENDED,
        StepKind.REPLIED,
        StepKind.RATED,
        StepKind.CLOSED,
    ]
    assert history.steps[3].reply_sequence == 1
    assert not any(s.implied for s in history.steps)


def test_a_reply_without_a_decision_implies_acceptance_at_registration() -> None:
    history = replay(
        case(step("replied", "2019-03-15 10:00", opinion="已处理。"), registered_at="2019-03-01 09:00")
    )
    assert history.status is PetitionStatus.REPLIED
    first = history.steps[0]
    assert first.implied
    assert first.step.kind is StepKind.ACCEPTED
    assert first.step.at == datetime(2019, 3, 1, 9, 0, tzinfo=SHANGHAI)
    assert history.accepted_at == first.step.at


def test_a_declined_case_ends_declined_or_closed() -> None:
    assert (
        replay(case(step("declined", "2019-03-02", reason="已进入诉讼程序"))).status
        is PetitionStatus.DECLINED
    )
    closed = replay(
        case(step("declined", "2019-03-02", reason="已进入诉讼程序"), step("closed", "2019-03-03"))
    )
    assert closed.status is PetitionStatus.CLOSED


def test_without_steps_a_case_is_routed_to_its_unit_or_left_for_routing() -> None:
    assert replay(case()).status is PetitionStatus.ROUTED
    assert replay(case(unit_code=None)).status is PetitionStatus.REGISTERED


@pytest.mark.parametrize(
    ("imported", "field", "reason_part"),
    [
        (
            case(step("declined", "2019-03-02", reason="r"), step("replied", "2019-03-03", opinion="o")),
            "timeline[1].kind",
            "a case in status declined cannot be replied",
        ),
        (
            case(
                step("accepted", "2019-03-02"),
                step("extended", "2019-03-03", days=10, reason="r", approver="h"),
                step("extended", "2019-03-04", days=10, reason="r", approver="h"),
            ),
            "timeline[2].kind",
            "already extended once",
        ),
        (case(step("closed", "2019-03-02")), "timeline[0].kind", "a case in status routed cannot be closed"),
        (
            case(step("accepted", "2019-03-02"), step("rated", "2019-03-03", satisfaction="satisfied")),
            "timeline[1].kind",
            "needs a reply before it",
        ),
        (
            case(
                step("replied", "2019-03-02", opinion="o"),
                step("rated", "2019-03-03", satisfaction="satisfied"),
                step("rated", "2019-03-04", satisfaction="dissatisfied"),
            ),
            "timeline[2].kind",
            "already rated",
        ),
        (
            case(
                step("accepted", "2019-03-02"),
                step("replied", "2019-03-03", opinion="o"),
                petition_type="claim",
            ),
            "timeline[1].outcome",
            "required when replying to a claim",
        ),
        (
            case(step("accepted", "2019-03-05"), step("replied", "2019-03-03", opinion="o")),
            "timeline[1].at",
            "steps must be in time order",
        ),
        (case(step("accepted", "2019-02-01")), "timeline[0].at", "before registered_at"),
        (case(step("replied", "2019-03-02")), "timeline[0].opinion", "required for a replied step"),
        (
            case(step("accepted", "2019-03-02"), unit_code=None),
            "unit_code",
            "required when the timeline has steps",
        ),
        (case(registered_at="2019-02-01"), "registered_at", "must not be before received_at"),
        (
            case(step("accepted", "2019-03-02"), step("replied", "2019-03-03", opinion="o", stage="review")),
            "timeline[1].kind",
            "cannot be reviewed",
        ),
    ],
)
def test_a_history_the_state_machine_refuses_is_a_row_error_naming_the_step(
    imported: ImportedCase, field: str, reason_part: str
) -> None:
    got_field, reason = problem(imported)
    assert got_field == field
    assert reason_part in reason


def test_errors_of_a_flat_row_name_the_column() -> None:
    row = SourceRow(
        line=5,
        fields={
            "external_id": "F-1",
            "title": "t",
            "content": "c",
            "received_at": RECEIVED,
            "declined_at": "2019-03-02",
            "decline_reason": "r",
            "replied_at": "2019-03-03",
            "opinion": "o",
        },
    )
    imported = to_case(row, Defaults(region="430100", unit_code="430100-xfj"))
    assert isinstance(imported, ImportedCase)
    field, _ = problem(imported)
    assert flat_field(field, imported) == "replied_at"
