"""The read model on a real database (SQLite, and PostgreSQL when configured)."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from reporting.readmodel import repository
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact, ProcessedEvent
from reporting.readmodel.projector import Outcome, apply_event
from xinfang_common.cloudevents import CloudEvent

pytestmark = pytest.mark.database

Make = Callable[..., CloudEvent[Any]]
NOW = datetime(2026, 3, 3, tzinfo=UTC)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.create_tables()
    yield db
    db.close()


def facts(database: Database, case_id: str) -> dict[str, Any]:
    with database.sessions() as session:
        fact = session.get(CaseFact, case_id)
        assert fact is not None
        return {c.key: getattr(fact, c.key) for c in inspect(CaseFact).column_attrs if c.key != "updated_at"}


def test_either_order_gives_the_same_row_and_duplicates_are_dropped(
    database: Database, make_registered: Make, make_assigned: Make, make_deadline: Make
) -> None:
    events = {"a": (make_registered("a"), make_assigned("a"), make_deadline("a"))}
    events["b"] = tuple(
        type(e)(
            **{
                **e.model_dump(),
                "id": f"b-{e.id}",
                "subject": "b",
                "data": e.data.model_copy(update={"case_id": "b"}),
            }
        )
        for e in reversed(events["a"])
    )
    for case_events in events.values():
        for event in case_events:
            assert apply_event(database.sessions, event, now=NOW) is Outcome.APPLIED
    assert {**facts(database, "a"), "case_id": "b"} == facts(database, "b")

    for event in events["a"]:
        assert apply_event(database.sessions, event, now=NOW + timedelta(days=1)) is Outcome.DUPLICATE
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 6
        assert session.get(CaseFact, "a").updated_at == NOW  # type: ignore[union-attr]


def test_events_of_one_case_applied_at_once_all_land(
    database: Database, make_registered: Make, make_assigned: Make, make_deadline: Make
) -> None:
    # The three agents write concurrently; a new case's row must not be lost to a race on its
    # primary key, and a redelivered event must still be applied once.
    cases = [f"race-{n}" for n in range(20)]
    events = []
    for case in cases:
        registered = make_registered(case)
        events += [registered, registered, make_assigned(case), make_deadline(case)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda e: apply_event(database.sessions, e, now=NOW), events))
    assert outcomes.count(Outcome.DUPLICATE) == len(cases)
    for case in cases:
        row = facts(database, case)
        assert row["registered_at"] is not None
        assert row["unit_code"] == "430104-zjj"
        assert row["acceptance_due_at"] is not None
    with database.sessions() as session:
        counts = repository.count_cases(session)
    assert (counts.registered, counts.assigned, counts.awaiting_assignment) == (20, 20, 0)


def test_counts_filter_by_period_region_and_unit(
    database: Database, make_registered: Make, make_assigned: Make
) -> None:
    t = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    for event in (
        make_registered("p1", registered_at=t - timedelta(seconds=1)),
        make_registered("p2", registered_at=t, region="430102", channel="letter"),
        make_assigned("p2", unit_code="u2", unit_name="Unit two", assigned_at=t + timedelta(hours=1)),
        make_registered("p3", registered_at=t + timedelta(days=1), region="110101"),
    ):
        apply_event(database.sessions, event, now=NOW)
    flt = repository.CaseFilter(start=t, end=t + timedelta(days=1), region_prefix="43")
    with database.sessions() as session:
        counts = repository.count_cases(session, flt)
    with database.sessions() as session:
        by_unit = repository.count_by_unit(session, repository.CaseFilter(unit_code="u2"))
    assert (counts.registered, counts.assigned, counts.awaiting_assignment) == (1, 1, 0)
    assert counts.by_channel == [repository.ChannelCount(channel="letter", registered=1, assigned=1)]
    assert by_unit == [repository.UnitCount(unit_code="u2", unit_name="Unit two", assigned=1)]


def test_ping_and_table_creation_are_repeatable(database: Database) -> None:
    database.create_tables()
    assert database.ping()


def test_kpis_backlog_trends_and_annual_report_on_this_database(
    database: Database, scenario: list[CloudEvent[Any]]
) -> None:
    """The same hand-worked answers as the unit tests, on SQLite and on PostgreSQL."""
    from zoneinfo import ZoneInfo

    from reporting.access import resolve_scope
    from reporting.exports.service import annual_report
    from reporting.kpis import service
    from reporting.kpis.schemas import CaseQuery, GroupBy, Interval, TrendBy
    from reporting.readmodel.units import UnitTree
    from xinfang_common.auth import Principal, Role

    zone = ZoneInfo("Asia/Shanghai")
    now = datetime(2025, 5, 6, 2, 0, tzinfo=UTC)
    for event in scenario:
        apply_event(database.sessions, event, now=now)
    with database.sessions() as session:
        tree = UnitTree.load(session)
    auditor = Principal(subject="au", unit="r-root", roles=frozenset({Role.AUDITOR}))
    scope = resolve_scope(auditor, tree, unit=None, subtree=True)
    selection = service.select_cases(CaseQuery(), scope, zone, now=now)
    with database.sessions() as session:
        result = service.compute_kpis(
            session, selection, group_by=GroupBy.MONTH, tree=tree, zone=zone, now=now
        )
    total = result.total
    assert (total.timely_acceptance.numerator, total.timely_acceptance.denominator) == (2, 4)
    assert (total.on_time_completion.numerator, total.on_time_completion.denominator) == (1, 2)
    assert (total.handling_days.p50, total.handling_days.p90, total.handling_days.p95) == (30, 86, 93)
    assert [(g.key, g.cases) for g in result.groups or []] == [("2025-01", 6)]
    with database.sessions() as session:
        assert service.compute_backlog(session, selection).total == 2
    query = CaseQuery.model_validate({"from": "2025-01-01", "to": "2025-01-31"})
    trend = service.trend_selection(query, scope, zone, interval=Interval.DAY, now=now)
    with database.sessions() as session:
        trends = service.compute_trends(
            session, trend, interval=Interval.DAY, by=TrendBy.UNIT, tree=tree, zone=zone
        )
    assert sum(s.total for s in trends.series) == 6
    assert trends.series[0].counts[5] == 4  # 6 January, local time
    with database.sessions() as session:
        report = annual_report(session, year=2025, scope=scope, tree=tree, zone=zone, now=now)
    assert report.total.cases == 6
    assert report.by_month[0] == ("2025-01", 6)
    assert report.subject_units == [("r-city", "单位r-city", 6)]
