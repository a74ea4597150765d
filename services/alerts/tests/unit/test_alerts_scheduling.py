"""Which acceptance deadline an assignment schedules, and when it changes nothing."""

from datetime import UTC, datetime, timedelta

import pytest

from alerts.policies import NATIONAL_2022, POLICIES, DeadlinePolicy, Period, UnknownPolicy
from alerts.scheduling import CaseDeadlines, Scheduled, Skipped, plan_acceptance
from xinfang_common.calendar import load_calendar
from xinfang_common.cloudevents import derived_event_id
from xinfang_common.domain import DeadlineKind, PeriodUnit
from xinfang_common.periods import SHANGHAI
from xinfang_common.topics import DEADLINE_SCHEDULED

CAL = load_calendar()
NOW = datetime(2026, 3, 2, 20, 0, 5, tzinfo=UTC)
PROVINCE = DeadlinePolicy(
    version="province-2030",
    periods={DeadlineKind.ACCEPTANCE: Period(5, PeriodUnit.WORKING_DAYS, "某省信访条例 第十条")},
)


def plan(assigned, current=None, *, policy=NATIONAL_2022):
    return plan_acceptance(
        assigned,
        current,
        default_policy=policy,
        calendar=CAL,
        tz=SHANGHAI,
        now=NOW,
        policies={**POLICIES, PROVINCE.version: PROVINCE},
    )


def scheduled(result) -> Scheduled:
    assert isinstance(result, Scheduled), result
    return result


def test_an_assignment_schedules_the_15_day_acceptance_deadline(make_assigned):
    assigned = make_assigned(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))

    result = scheduled(plan(assigned))

    event, data = result.event, result.event.data
    assert event.id == derived_event_id(assigned.id, DEADLINE_SCHEDULED.event_type)
    assert event.type == DEADLINE_SCHEDULED.event_type
    assert event.source == "/xinfang/alerts"
    assert event.partitionkey == event.subject == assigned.data.case_id
    assert data.deadline_id == f"{assigned.data.case_id}:acceptance"
    assert data.kind is DeadlineKind.ACCEPTANCE
    assert data.unit_code == "430104-zjj"
    assert data.starts_at == assigned.data.assigned_at
    assert data.due_at.isoformat() == "2026-03-19T00:00:00+08:00"
    assert (data.period, data.period_unit) == (15, PeriodUnit.CALENDAR_DAYS)
    assert data.policy_version == "national-2022"
    assert data.legal_basis == "信访工作条例 第二十三条"
    assert result.deadlines.root == {DeadlineKind.ACCEPTANCE: event}


def test_the_same_input_always_yields_the_same_event_id(make_assigned):
    assigned = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))

    assert scheduled(plan(assigned)).event.id == scheduled(plan(assigned)).event.id


def test_an_assignment_already_handled_is_a_duplicate(make_assigned):
    assigned = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    first = scheduled(plan(assigned))

    again = plan(assigned, first.deadlines)

    assert isinstance(again, Skipped)
    assert again.reason == "duplicate"


def test_a_reassignment_restarts_the_acceptance_period_at_the_new_unit(make_assigned):
    first = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    stored = scheduled(plan(first)).deadlines
    second = make_assigned(
        datetime(2026, 3, 10, 9, 30, tzinfo=UTC), case_id=first.data.case_id, unit_code="430100-zjj"
    )

    result = scheduled(plan(second, stored))

    acceptance = result.deadlines.root[DeadlineKind.ACCEPTANCE]
    assert acceptance is result.event
    assert acceptance.data.unit_code == "430100-zjj"
    assert acceptance.data.due_at.isoformat() == "2026-03-26T00:00:00+08:00"
    assert result.event.id != stored.root[DeadlineKind.ACCEPTANCE].id


def test_an_assignment_older_than_the_stored_one_is_stale(make_assigned):
    newer = make_assigned(datetime(2026, 3, 10, 9, 30, tzinfo=UTC))
    stored = scheduled(plan(newer)).deadlines
    older = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC), case_id=newer.data.case_id)

    result = plan(older, stored)

    assert isinstance(result, Skipped)
    assert result.reason == "stale"


def test_a_new_case_starts_under_the_configured_policy(make_assigned):
    result = scheduled(plan(make_assigned(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)), policy=PROVINCE))

    data = result.event.data
    assert data.policy_version == "province-2030"
    assert (data.period, data.period_unit) == (5, PeriodUnit.WORKING_DAYS)
    assert data.due_at.isoformat() == "2026-03-10T00:00:00+08:00"


def test_a_case_keeps_the_policy_version_it_started_under(make_assigned):
    first = make_assigned(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    stored = scheduled(plan(first, policy=NATIONAL_2022)).deadlines
    later = make_assigned(first.data.assigned_at + timedelta(days=3), case_id=first.data.case_id)

    # The deployment moved to the provincial policy meanwhile; the case did not.
    result = scheduled(plan(later, stored, policy=PROVINCE))

    assert result.event.data.policy_version == "national-2022"
    assert result.event.data.period == 15


def test_a_case_started_under_a_policy_this_deployment_lacks_is_an_error(make_assigned):
    first = make_assigned(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    stored = scheduled(plan(first, policy=PROVINCE)).deadlines
    later = make_assigned(datetime(2026, 3, 9, 1, 0, tzinfo=UTC), case_id=first.data.case_id)

    with pytest.raises(UnknownPolicy, match="province-2030"):
        plan_acceptance(later, stored, default_policy=NATIONAL_2022, calendar=CAL, tz=SHANGHAI, now=NOW)


def test_stored_deadlines_survive_a_round_trip_through_bytes(make_assigned):
    stored = scheduled(plan(make_assigned(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))).deadlines

    again = CaseDeadlines.from_json_bytes(stored.to_json_bytes())

    assert again == stored
    assert again.policy_version() == "national-2022"
