"""When a petitioner may ask for a review (复查) or recheck (复核): 30 days (日) on the official calendar."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from intake.petitions.lifecycle import PetitionStatus, review_window
from xinfang_common.calendar import load_calendar
from xinfang_common.domain import ReplyStage, ReviewStage

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = load_calendar()
S = PetitionStatus


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("replied", "last_day"),
    [
        # 2026-03-02 + 30 days = Wednesday 2026-04-01, a working day.
        (local(2026, 3, 2, 10), "2026-04-01"),
        # 2026-03-07 + 30 = Monday 2026-04-06, the Qingming holiday (04-04..06): next working day 04-07.
        (local(2026, 3, 7, 10), "2026-04-07"),
        # Late on 03-05: + 30 = Saturday 04-04, inside the Qingming holiday: the last day is 04-07.
        (local(2026, 3, 5, 23, 30), "2026-04-07"),
    ],
)
def test_the_review_period_is_30_days_moved_past_rest_days(replied: datetime, last_day: str) -> None:
    window = review_window(S.REPLIED, ReplyStage.REPLY, replied, now=replied, calendar=CALENDAR)
    assert window.stage is ReviewStage.REVIEW
    assert window.until == datetime.fromisoformat(last_day).replace(tzinfo=SHANGHAI) + timedelta(days=1)
    just_before = review_window(
        S.REPLIED, ReplyStage.REPLY, replied, now=window.until - timedelta(seconds=1), calendar=CALENDAR
    )
    assert just_before.stage is ReviewStage.REVIEW
    at_midnight = review_window(S.REPLIED, ReplyStage.REPLY, replied, now=window.until, calendar=CALENDAR)
    assert at_midnight.stage is None
    assert at_midnight.refusal is not None
    assert last_day in at_midnight.refusal
    assert not at_midnight.final


def test_after_a_review_answer_comes_a_recheck_and_after_that_nothing() -> None:
    answered = local(2026, 5, 11, 9)
    for status in (S.REVIEWED, S.CLOSED):
        window = review_window(status, ReplyStage.REVIEW, answered, now=answered, calendar=CALENDAR)
        assert window.stage is ReviewStage.RECHECK
    for status in (S.RECHECKED, S.CLOSED):
        final = review_window(status, ReplyStage.RECHECK, answered, now=answered, calendar=CALENDAR)
        assert final.stage is None
        assert final.final
        assert final.refusal is not None
        assert "final" in final.refusal


@pytest.mark.parametrize(
    ("status", "stage", "reason"),
    [
        (S.REGISTERED, None, "no written reply"),
        (S.ACCEPTED, None, "no written reply"),
        (S.CLOSED, None, "no written reply"),  # closed after a decline
        (S.REVIEW_REQUESTED, ReplyStage.REPLY, "already requested"),
        (S.RECHECK_REQUESTED, ReplyStage.REVIEW, "already requested"),
    ],
)
def test_no_request_without_an_answer_or_while_one_is_pending(
    status: PetitionStatus, stage: ReplyStage | None, reason: str
) -> None:
    at = local(2026, 5, 11, 9)
    window = review_window(status, stage, at if stage else None, now=at, calendar=CALENDAR)
    assert window.stage is None
    assert not window.final
    assert window.refusal is not None
    assert reason in window.refusal
