"""The measures on six hand-made cases whose answers are worked out below, in any event order."""

import random
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select

from reporting.access import resolve_scope
from reporting.kpis import service
from reporting.kpis.formulas import percentile
from reporting.kpis.rollups import ensure_rollups
from reporting.kpis.schemas import CaseQuery, GroupBy, Interval, TrendBy
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact
from reporting.readmodel.projector import Outcome, apply_event
from reporting.readmodel.units import UnitTree
from xinfang_common.auth import Forbidden, Principal, Role
from xinfang_common.cloudevents import CloudEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
NOW = T + timedelta(days=120)
AUDITOR = Principal(subject="au", unit="r-root", roles=frozenset({Role.AUDITOR}))


def fresh() -> Database:
    db = Database("sqlite://")
    db.create_tables()
    # Built before any event, so the projector keeps the rollups and the KPIs below read them.
    ensure_rollups(db, SHANGHAI)
    return db


@pytest.fixture
def database(scenario: list[CloudEvent[Any]]) -> Iterator[Database]:
    db = fresh()
    for event in scenario:
        assert apply_event(db.sessions, event, now=NOW) is Outcome.APPLIED
    yield db
    db.close()


def kpis(
    database: Database,
    principal: Principal = AUDITOR,
    *,
    now: datetime = NOW,
    group_by: GroupBy | None = None,
    **query: Any,
) -> Any:
    with database.sessions() as session:
        tree = UnitTree.load(session)
    q = CaseQuery.model_validate(query)
    scope = resolve_scope(principal, tree, unit=q.unit, subtree=q.subtree)
    selection = service.select_cases(q, scope, SHANGHAI, now=now)
    with database.sessions() as session:
        return service.compute_kpis(session, selection, group_by=group_by, tree=tree, zone=SHANGHAI, now=now)


def ratio(r: Any) -> tuple[int, int, float | None]:
    return (r.numerator, r.denominator, r.rate)


def test_the_measures_match_the_hand_worked_answers(database: Database) -> None:
    total = kpis(database).total
    assert total.cases == 6
    assert total.imported == 1
    # Decided in time: a, d. Due passed or decided: a, b, c, d. f has no acceptance deadline.
    assert ratio(total.timely_acceptance) == (2, 4, 0.5)
    assert total.undetermined.acceptance == 1
    # Replied in time: a (b missed even its extended deadline). f's deadline is unknown.
    assert ratio(total.on_time_completion) == (1, 2, 0.5)
    assert total.undetermined.completion == 1
    assert ratio(total.participation) == (2, 3, round(2 / 3, 6))
    assert ratio(total.satisfaction) == (1, 2, 0.5)
    assert ratio(total.repeat_rate) == (1, 6, round(1 / 6, 6))
    assert total.by_status == {
        "awaiting_assignment": 1,
        "awaiting_acceptance": 1,
        "in_progress": 0,
        "replied": 2,
        "review": 0,
        "recheck": 0,
        "closed": 1,
        "declined": 1,
    }
    # Handling days a 30, b 100, f 10.
    assert total.handling_days.count == 3
    assert total.handling_days.mean == pytest.approx(140 / 3, abs=1e-4)
    assert (total.handling_days.p50, total.handling_days.p90, total.handling_days.p95) == (30, 86, 93)
    assert (total.overdue, total.supervised, total.past_due_open) == (1, 1, 1)


def test_measures_are_evaluated_as_of_the_end_of_the_period(database: Database) -> None:
    # As of T + 10 days: b and c are still inside their acceptance period, nothing is replied
    # yet (f's reply comes at exactly T + 10 days, the exclusive end).
    total = kpis(database, to=(T + timedelta(days=10)).isoformat()).total
    assert ratio(total.timely_acceptance) == (2, 2, 1.0)
    assert ratio(total.on_time_completion) == (0, 0, None)
    assert ratio(total.participation) == (0, 0, None)
    assert total.handling_days.count == 0
    assert total.handling_days.p50 is None
    assert total.by_status["in_progress"] == 2
    assert (total.overdue, total.supervised) == (0, 0)


def test_the_period_filters_on_registration(database: Database) -> None:
    assert kpis(database, **{"from": "2025-01-07"}).total.cases == 0
    assert kpis(database, **{"from": "2025-01-06", "to": "2025-01-06"}).total.cases == 6


def test_any_event_order_and_redelivery_give_the_same_rows(scenario: list[CloudEvent[Any]]) -> None:
    def rows(events: list[CloudEvent[Any]]) -> list[dict[str, Any]]:
        db = fresh()
        for event in events:
            apply_event(db.sessions, event, now=NOW)
        with db.sessions() as session:
            facts = session.scalars(select(CaseFact).order_by(CaseFact.case_id)).all()
            result = [
                {c.key: getattr(f, c.key) for c in inspect(CaseFact).column_attrs if c.key != "updated_at"}
                for f in facts
            ]
        db.close()
        return result

    expected = rows(scenario)
    shuffler = random.Random(20250106)
    for _ in range(5):
        events = scenario + shuffler.sample(scenario, 10)  # some redelivered
        shuffler.shuffle(events)
        assert rows(events) == expected


def test_a_duplicate_event_is_dropped(database: Database, scenario: list[CloudEvent[Any]]) -> None:
    before = kpis(database).total
    for event in scenario:
        assert apply_event(database.sessions, event, now=NOW) is Outcome.DUPLICATE
    assert kpis(database).total == before


def test_a_unit_rolls_up_its_subtree_and_breaks_down_by_child(database: Database) -> None:
    city = kpis(database, unit="r-city")
    assert city.total.cases == 5  # a, b, d, f at the city; c at the district below it
    alone = kpis(database, unit="r-city", subtree=False)
    assert alone.total.cases == 4
    grouped = kpis(database, unit="r-city", group_by=GroupBy.UNIT)
    assert [(g.key, g.label, g.cases) for g in grouped.groups] == [
        ("r-city", "单位r-city", 4),
        ("r-district", "单位r-district", 1),
    ]
    assert (
        sum(g.timely_acceptance.denominator for g in grouped.groups)
        == city.total.timely_acceptance.denominator
    )


def test_breakdowns_add_up(database: Database) -> None:
    total = kpis(database).total
    for group_by in GroupBy:
        groups = kpis(database, group_by=group_by).groups
        assert sum(g.cases for g in groups) == total.cases, group_by
        assert sum(g.on_time_completion.numerator for g in groups) == total.on_time_completion.numerator
    months = kpis(database, group_by=GroupBy.MONTH).groups
    assert [(g.key, g.cases) for g in months] == [("2025-01", 6)]


def test_filters_narrow_by_category_region_channel_and_type(database: Database) -> None:
    assert kpis(database, category="纪检监察").total.cases == 1
    assert kpis(database, region="430100").total.cases == 6
    assert kpis(database, region="430102").total.cases == 1
    assert kpis(database, channel="letter").total.cases == 1
    assert kpis(database, type="report").total.cases == 1


def test_supervisors_see_their_subtree_only(database: Database) -> None:
    with database.sessions() as session:
        tree = UnitTree.load(session)
    district = Principal(subject="s", unit="r-district", roles=frozenset({Role.SUPERVISOR}))
    assert kpis(database, district).total.cases == 1
    with pytest.raises(Forbidden):
        resolve_scope(district, tree, unit="r-city", subtree=True)
    handler = Principal(subject="h", unit="r-root", roles=frozenset({Role.HANDLER}))
    with pytest.raises(Forbidden):
        resolve_scope(handler, tree, unit=None, subtree=True)
    city = Principal(subject="s", unit="r-city", roles=frozenset({Role.SUPERVISOR}))
    assert kpis(database, city, unit="r-district").total.cases == 1
    # Unassigned cases belong to no subtree; only auditors and admins see them.
    assert kpis(database, city).total.cases == 5


def test_backlog_by_stage_and_age(database: Database) -> None:
    with database.sessions() as session:
        tree = UnitTree.load(session)
    scope = resolve_scope(AUDITOR, tree, unit=None, subtree=True)
    selection = service.select_cases(CaseQuery(), scope, SHANGHAI, now=NOW)
    with database.sessions() as session:
        backlog = service.compute_backlog(session, selection)
    assert backlog.total == 2  # c awaiting acceptance, e awaiting assignment; both 120 days old
    rows = {row.stage: row for row in backlog.stages}
    assert rows["awaiting_acceptance"].bands[">90"] == 1
    assert rows["awaiting_assignment"].bands[">90"] == 1
    early = service.select_cases(CaseQuery(), scope, SHANGHAI, now=T + timedelta(days=15, hours=23))
    with database.sessions() as session:
        backlog = service.compute_backlog(session, early)
    # Day 15 of age is still the first band.
    assert backlog.stages[0].bands == {"0-15": 1, "16-30": 0, "31-60": 0, "61-90": 0, ">90": 0}
    assert backlog.total == 4  # a in progress, b and c awaiting acceptance, e awaiting assignment


def test_trends_count_registrations_per_bucket(database: Database) -> None:
    with database.sessions() as session:
        tree = UnitTree.load(session)
    scope = resolve_scope(AUDITOR, tree, unit=None, subtree=True)
    query = CaseQuery.model_validate({"from": "2024-12-30", "to": "2025-01-19"})
    selection = service.trend_selection(query, scope, SHANGHAI, interval=Interval.WEEK, now=NOW)
    with database.sessions() as session:
        trends = service.compute_trends(
            session, selection, interval=Interval.WEEK, by=TrendBy.CATEGORY, tree=tree, zone=SHANGHAI
        )
    assert trends.buckets == ["2024-12-30", "2025-01-06", "2025-01-13"]
    series = {s.key: s.counts for s in trends.series}
    assert series == {"城乡建设": [0, 5, 0], "纪检监察": [0, 1, 0]}


def test_percentiles_agree_with_the_standard_library() -> None:
    values = sorted(random.Random(7).uniform(0, 120) for _ in range(101))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for q in (50, 90, 95):
        assert percentile(values, q / 100) == pytest.approx(cuts[q - 1])
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.95) == 4.0


def test_percentile_days_are_read_as_runs_of_consecutive_days() -> None:
    assert service._runs([]) == []
    assert service._runs([4]) == [(4, 4)]
    assert service._runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
