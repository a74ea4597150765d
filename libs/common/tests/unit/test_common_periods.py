"""Legal period arithmetic on the official calendar (民法典 Art. 201–203 as courts apply it)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from xinfang_common.calendar import load_calendar
from xinfang_common.domain import PeriodUnit
from xinfang_common.periods import MAX_PERIOD, SHANGHAI, compute_due, end_of_day, local_start_day

CAL = load_calendar()
DAYS = PeriodUnit.CALENDAR_DAYS
WORKING = PeriodUnit.WORKING_DAYS


def at(day: str, clock: str = "10:00") -> datetime:
    """A moment on a local (Shanghai) day."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=SHANGHAI)


def last_day(start: datetime, n: int = 15, unit: PeriodUnit = DAYS) -> date:
    return compute_due(start, n, unit, CAL).last_day


def test_the_start_day_is_not_counted():
    # Received on Monday 2 March: day 1 is 3 March, day 15 is Tuesday 17 March.
    assert last_day(at("2026-03-02")) == date(2026, 3, 17)
    assert last_day(at("2026-03-02"), n=1) == date(2026, 3, 3)


def test_a_period_ends_at_24_00_of_its_last_day_written_as_next_midnight():
    due = compute_due(at("2026-03-02"), 15, DAYS, CAL)

    assert due.due_at == datetime(2026, 3, 18, 0, 0, tzinfo=SHANGHAI)
    assert due.due_at.utcoffset() == timedelta(hours=8)
    assert due.due_at.isoformat() == "2026-03-18T00:00:00+08:00"
    # An act in the last second of the last day is in time; one at midnight is late.
    assert at("2026-03-17", "23:59:59") < due.due_at <= at("2026-03-18", "00:00")


def test_the_time_of_day_of_the_start_does_not_matter():
    assert last_day(at("2026-03-02", "00:00")) == last_day(at("2026-03-02", "23:59:59"))


def test_a_period_ending_on_a_saturday_ends_on_monday():
    assert date(2026, 3, 21).weekday() == 5
    assert last_day(at("2026-03-06")) == date(2026, 3, 23)


def test_a_period_ending_on_a_sunday_ends_on_monday():
    assert last_day(at("2026-03-07")) == date(2026, 3, 23)


@pytest.mark.parametrize("start", ["2026-02-01", "2026-02-04", "2026-02-06", "2026-02-08"])
def test_a_period_ending_inside_the_2026_spring_festival_ends_the_day_after_it(start):
    # 春节 2026: 15–23 February are rest days; 24 February is the first working day.
    assert last_day(at(start)) == date(2026, 2, 24)


@pytest.mark.parametrize(
    ("start", "make_up_saturday"),
    [("2026-01-30", date(2026, 2, 14)), ("2026-02-13", date(2026, 2, 28))],
)
def test_a_period_ending_on_a_make_up_working_saturday_stays_there(start, make_up_saturday):
    assert make_up_saturday.weekday() == 5
    assert last_day(at(start)) == make_up_saturday


def test_a_period_ending_on_a_make_up_working_sunday_across_the_new_year_stays_there():
    # 4 January 2026 is a Sunday worked in exchange for the New Year break.
    assert last_day(at("2025-12-20")) == date(2026, 1, 4)


def test_a_period_ending_in_the_national_day_holiday_moves_past_it():
    # 国庆节 2026: 1–7 October; Thursday 8 October is a working day.
    assert last_day(at("2026-09-16")) == date(2026, 10, 8)


def test_a_period_ending_on_a_weekday_holiday_of_2025_moves_past_it():
    # 劳动节 2025: 1–5 May; Tuesday 6 May is a working day.
    assert last_day(at("2025-04-17")) == date(2025, 5, 6)


def test_a_start_on_a_rest_day_still_counts_from_the_next_day():
    assert last_day(at("2026-02-15")) == date(2026, 3, 2)


def test_the_local_date_decides_the_start_day_not_the_utc_date():
    # 20:00 UTC on 2 March is 04:00 on 3 March in Shanghai: the start day is 3 March.
    evening_utc = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    due = compute_due(evening_utc, 15, DAYS, CAL)

    assert local_start_day(evening_utc) == date(2026, 3, 3)
    assert due.start_day == date(2026, 3, 3)
    assert due.last_day == date(2026, 3, 18)
    assert due.due_at.isoformat() == "2026-03-19T00:00:00+08:00"


def test_just_before_local_midnight_in_utc_is_still_the_same_local_day():
    assert local_start_day(datetime(2026, 3, 2, 15, 59, 59, tzinfo=UTC)) == date(2026, 3, 2)
    assert local_start_day(datetime(2026, 3, 2, 16, 0, tzinfo=UTC)) == date(2026, 3, 3)


def test_working_days_skip_weekends():
    # From Monday 2 March: 3, 4, 5, 6, then Monday 9 March.
    assert last_day(at("2026-03-02"), n=5, unit=WORKING) == date(2026, 3, 9)


def test_working_days_skip_a_holiday_week_and_count_a_make_up_saturday():
    # From Friday 13 Feb 2026: Sat 14 (make-up, 1), 15–23 holiday, 24 (2), 25, 26, 27 (5).
    assert last_day(at("2026-02-13"), n=5, unit=WORKING) == date(2026, 2, 27)
    # The sixth is Saturday 28 Feb, another make-up working day.
    assert last_day(at("2026-02-13"), n=6, unit=WORKING) == date(2026, 2, 28)


def test_working_days_from_inside_a_holiday_count_the_make_up_saturday_after_it():
    # Start Saturday 3 Oct 2026 (holiday): 8 (1), 9 (2), Saturday 10 Oct (make-up, 3).
    assert last_day(at("2026-10-03"), n=3, unit=WORKING) == date(2026, 10, 10)


def test_working_days_count_a_make_up_sunday_in_2025():
    # From Friday 26 Sep 2025: Sunday 28 Sep is worked (1), Monday 29 Sep (2).
    assert last_day(at("2025-09-26"), n=2, unit=WORKING) == date(2025, 9, 29)


def test_five_working_days_around_national_day_2025():
    # From Tuesday 30 Sep 2025: 1–8 Oct holiday, 9 (1), 10 (2), Sat 11 (make-up, 3), 13, 14.
    assert last_day(at("2025-09-30"), n=5, unit=WORKING) == date(2025, 10, 14)


def test_a_covered_computation_says_so():
    due = compute_due(at("2026-03-02"), 15, DAYS, CAL)

    assert due.calendar_covered
    assert due.uncovered_years == frozenset()


def test_an_uncovered_year_is_provisional_and_keeps_its_fixed_date_holidays():
    # 2027 has no notice yet: 1 January 2027 (a Friday, 元旦) is still a statutory rest day,
    # then the weekend: the period ends on Monday 4 January, provisionally.
    due = compute_due(at("2026-12-17"), 15, DAYS, CAL)

    assert due.last_day == date(2027, 1, 4)
    assert not due.calendar_covered
    assert due.uncovered_years == frozenset({2027})


def test_an_uncovered_year_still_skips_weekends():
    # 16 January 2027 is a Saturday.
    assert last_day(at("2027-01-01")) == date(2027, 1, 18)


def test_working_days_in_an_uncovered_year_skip_weekends_and_fixed_date_holidays():
    due = compute_due(at("2027-01-01"), 5, WORKING, CAL)

    assert due.last_day == date(2027, 1, 8)
    assert due.uncovered_years == frozenset({2027})


def test_a_naive_start_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due(datetime(2026, 3, 2, 10, 0), 15, DAYS, CAL)


@pytest.mark.parametrize("n", [0, -1, MAX_PERIOD + 1])
def test_a_period_out_of_range_is_refused(n):
    with pytest.raises(ValueError, match="period must be between"):
        compute_due(at("2026-03-02"), n, DAYS, CAL)


def test_end_of_day_is_the_next_local_midnight():
    assert end_of_day(date(2026, 12, 31)) == datetime(2027, 1, 1, 0, 0, tzinfo=SHANGHAI)
