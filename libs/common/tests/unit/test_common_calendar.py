"""The holiday calendar file: what it says, and the mistakes it refuses."""

from datetime import date
from pathlib import Path

import pytest

from xinfang_common.calendar import CalendarError, calendar_from_yaml, load_calendar


def test_the_packaged_calendar_covers_2025_and_2026():
    calendar = load_calendar()

    assert calendar.covers(2025)
    assert calendar.covers(2026)
    assert not calendar.covers(2027)
    assert all(entry.source and "国务院办公厅" in entry.source for entry in calendar.years.values())


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 2), True),  # an ordinary Monday
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2026, 2, 14), True),  # make-up working Saturday before 春节
        (date(2026, 2, 15), False),  # 春节, a Sunday
        (date(2026, 2, 23), False),  # 春节, a Monday
        (date(2026, 2, 24), True),  # first working day after 春节
        (date(2026, 1, 4), True),  # make-up working Sunday after 元旦
        (date(2026, 10, 7), False),  # 国庆节, a Wednesday
        (date(2025, 10, 8), False),  # 国庆节、中秋节 2025, a Wednesday
        (date(2025, 10, 11), True),  # make-up working Saturday
        (date(2025, 5, 31), False),  # 端午节 2025, a Saturday
        (date(2025, 6, 2), False),  # 端午节 2025, a Monday
    ],
)
def test_the_packaged_calendar_knows_working_and_rest_days(day, working):
    calendar = load_calendar()

    assert calendar.is_working_day(day) is working
    assert calendar.is_rest_day(day) is not working


def test_make_up_working_days_in_the_packaged_calendar_all_fall_on_weekends():
    for entry in load_calendar().years.values():
        assert entry.workdays
        assert all(day.weekday() >= 5 for day in entry.workdays)


def test_a_year_outside_the_calendar_rests_on_weekends_and_fixed_date_holidays_only():
    calendar = load_calendar()

    assert calendar.is_rest_day(date(2027, 1, 1))  # 元旦, a Friday: fixed by law
    assert calendar.is_rest_day(date(2027, 1, 2))  # a Saturday
    assert all(calendar.is_rest_day(date(2027, 10, d)) for d in (1, 2, 3))  # 国庆节
    assert calendar.is_rest_day(date(2027, 5, 1))
    assert calendar.is_working_day(date(2027, 5, 3))
    # The lunar holidays and 调休 come only with the year's notice: 春节 2027 is not known here.
    assert calendar.is_working_day(date(2027, 2, 8))


def test_the_official_years_come_from_the_chinesecalendar_package():
    calendar = load_calendar()

    assert set(range(2004, 2027)) <= set(calendar.years)
    assert "chinesecalendar" in (calendar.years[2026].source or "")


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # 2025: 春节 28 Jan - 4 Feb, make-up Sunday 26 Jan and Saturday 8 Feb
        (date(2025, 1, 26), True),
        (date(2025, 1, 28), False),
        (date(2025, 2, 4), False),
        (date(2025, 2, 5), True),
        (date(2025, 2, 8), True),
        # 2025: 国庆节、中秋节 1-8 Oct, make-up Sunday 28 Sep and Saturday 11 Oct
        (date(2025, 9, 28), True),
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),
        # 2026: 元旦 1-3 Jan (make-up Sunday 4 Jan), 春节 15-23 Feb (make-up 14 and 28 Feb),
        # 劳动节 1-5 May (make-up 9 May), 国庆节 1-7 Oct (make-up 20 Sep and 10 Oct)
        (date(2026, 1, 2), False),
        (date(2026, 1, 4), True),
        (date(2026, 2, 14), True),
        (date(2026, 2, 23), False),
        (date(2026, 2, 28), True),
        (date(2026, 5, 5), False),
        (date(2026, 5, 9), True),
        (date(2026, 9, 20), True),
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),
    ],
)
def test_the_library_agrees_with_the_state_council_notices(day, working):
    assert load_calendar().is_working_day(day) is working


def test_an_override_file_adds_a_year_and_replaces_one_whole(tmp_path: Path):
    path = tmp_path / "override.yaml"
    path.write_text(
        "years:\n"
        "  2027:\n    holidays: ['2027-02-06..2027-02-14']\n    workdays: [2027-02-20]\n"
        "  2026:\n    holidays: [2026-03-02]\n",
        encoding="utf-8",
    )

    calendar = load_calendar(path)

    assert calendar.covers(2027)
    assert calendar.is_rest_day(date(2027, 2, 8))
    assert calendar.is_working_day(date(2027, 2, 20))  # a Saturday made a working day
    assert calendar.is_working_day(date(2027, 1, 1))  # a year in the file is taken whole
    # The override's 2026 replaces the package's: only its own rest day is left.
    assert calendar.is_rest_day(date(2026, 3, 2))
    assert calendar.is_working_day(date(2026, 2, 23))
    assert calendar.covers(2025)
    assert calendar.is_rest_day(date(2025, 1, 28))


def test_a_calendar_is_loaded_from_a_path(tmp_path: Path):
    path = tmp_path / "cal.yaml"
    path.write_text("years:\n  2030:\n    holidays: [2030-01-01]\n    workdays: []\n", encoding="utf-8")

    calendar = load_calendar(path)

    assert calendar.covers(2030)
    assert calendar.is_rest_day(date(2030, 1, 1))


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path):
    with pytest.raises(CalendarError, match=r"nope\.yaml"):
        load_calendar(tmp_path / "nope.yaml")


def test_dates_may_be_quoted_and_ranges_are_inclusive():
    calendar = calendar_from_yaml(
        "years:\n  2030:\n"
        "    holidays: ['2030-02-01', '2030-10-01..2030-10-03']\n"
        "    workdays: ['2030-09-29']\n"
    )

    assert calendar.is_rest_day(date(2030, 2, 1))
    assert all(calendar.is_rest_day(date(2030, 10, d)) for d in (1, 2, 3))
    assert calendar.is_working_day(date(2030, 10, 4))
    assert calendar.is_working_day(date(2030, 9, 29))  # a Sunday


def test_a_year_with_no_entries_is_still_covered():
    calendar = calendar_from_yaml("years:\n  2030:\n    holidays:\n    workdays:\n")

    assert calendar.covers(2030)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("years: [", "not valid YAML"),
        ("- 2030-01-01\n", "top level"),
        ("{}", "years"),
        ("years:\n  2030:\n    holiday: [2030-01-01]\n", "holiday"),  # typo for holidays
        ("years:\n  twenty:\n    holidays: []\n", "twenty"),
        ("years:\n  2030:\n    holidays: [2030-10-07..2030-10-01]\n", "ends before it starts"),
        ("years:\n  2030:\n    holidays: [2030-01-01..2030-03-01]\n", "longer than"),
        ("years:\n  2030:\n    holidays: [2030-02-30]\n", "impossible date"),
        ("years:\n  2030:\n    holidays: ['2030-13-01']\n", "neither a date nor a range"),
        ("years:\n  2030:\n    holidays: [soon]\n", "neither a date nor a range"),
        ("years:\n  2030:\n    holidays: [2031-06-01]\n", "not in or next to 2030"),
        ("years:\n  2030:\n    workdays: [2030-01-07]\n", "is a weekday"),
        ("years:\n  2030:\n    holidays: [2030-01-05]\n    workdays: [2030-01-05]\n", "both holiday"),
        (
            "years:\n  2030:\n    holidays: [2031-01-04]\n  2031:\n    workdays: [2031-01-04]\n",
            "both holiday",
        ),
    ],
)
def test_a_wrong_calendar_is_refused_with_the_reason(text, reason):
    with pytest.raises(CalendarError, match=reason):
        calendar_from_yaml(text, origin="test.yaml")


def test_a_notice_may_reach_into_the_next_year():
    # e.g. a New Year break announced in the previous year's notice
    calendar = calendar_from_yaml("years:\n  2030:\n    holidays: [2030-12-31..2031-01-01]\n")

    assert calendar.is_rest_day(date(2031, 1, 1))
    assert not calendar.covers(2031)
