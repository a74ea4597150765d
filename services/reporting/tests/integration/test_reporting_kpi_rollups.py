"""The KPI rollups give the same answers as evaluating every case, for random cases and queries."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select

from reporting.access import resolve_scope
from reporting.kpis import service
from reporting.kpis.contributions import contribution, difference
from reporting.kpis.rollups import apply_contribution, build_rollups, ensure_rollups
from reporting.kpis.schemas import CaseQuery, GroupBy
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact, Unit, kpi_counts, kpi_handling_days
from reporting.readmodel.units import UnitTree
from xinfang_common.auth import Principal, Role

pytestmark = pytest.mark.database

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 1, 1, tzinfo=SHANGHAI)
CASES = 250
AUDITOR = Principal(subject="au", unit="root", roles=frozenset({Role.AUDITOR}))
UNITS = {
    "root": None,
    "city-a": "root",
    "city-b": "root",
    "d-a1": "city-a",
    "d-a2": "city-a",
    "d-b1": "city-b",
}
CATEGORIES = ["城乡建设", "环境保护", "教育文体", None]
REGIONS = ["430102", "430104", "430111", "430200", None]
CHANNELS = ["online", "phone", "visit"]
TYPES = ["claim", "report", None]


def _instant(rng: random.Random, after: datetime, days: float) -> datetime:
    """Some instant after ``after``: a local midnight a quarter of the time, as deadlines are."""
    at = after + timedelta(seconds=rng.randrange(int(days * 86400)))
    if rng.random() < 0.25:
        local = at.astimezone(SHANGHAI)
        at = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=SHANGHAI)
    return at.astimezone(UTC)


def _maybe(rng: random.Random, share: float, value: Any) -> Any:
    return value if rng.random() < share else None


def random_case(n: int, rng: random.Random) -> dict[str, Any]:
    """A case with any mix of milestones, in any order: the formulas must hold for all of them."""
    registered = _instant(rng, START, 150)
    row: dict[str, Any] = {
        "case_id": f"c{n:04d}",
        "channel": rng.choice(CHANNELS),
        "petition_type": rng.choice(TYPES),
        "category": rng.choice(CATEGORIES),
        "region": rng.choice(REGIONS),
        "registered_at": _maybe(rng, 0.97, registered),
        "imported": rng.choice([True, False, None]),
        "unit_code": _maybe(rng, 0.85, rng.choice(sorted(UNITS))),
        "assigned_at": _maybe(rng, 0.9, _instant(rng, registered, 3)),
        "acceptance_due_at": _maybe(rng, 0.85, _instant(rng, registered, 20)),
        "completion_due_at": _maybe(rng, 0.7, _instant(rng, registered, 80)),
        "handling_seconds": None,
        "assignments": 0,
        "objections": 0,
        "alerts_approaching": 0,
        "alerts_due": 0,
        "alerts_overdue": 0,
        "alerts_escalated": 0,
        "updated_at": registered,
    }
    for column, share, days in (
        ("accepted_at", 0.7, 25),
        ("declined_at", 0.1, 25),
        ("replied_at", 0.6, 90),
        ("closed_at", 0.4, 120),
        ("rated_at", 0.4, 100),
        ("review_requested_at", 0.1, 100),
        ("review_replied_at", 0.07, 120),
        ("recheck_requested_at", 0.05, 120),
        ("recheck_replied_at", 0.03, 130),
        ("linked_at", 0.1, 30),
        ("overdue_at", 0.15, 60),
        ("escalated_at", 0.08, 70),
    ):
        row[column] = _maybe(rng, share, _instant(rng, registered, days))
    decisions = [t for t in (row["accepted_at"], row["declined_at"]) if t is not None]
    row["decided_at"] = min(decisions) if decisions else None
    row["satisfaction"] = rng.choice(["satisfied", "basically_satisfied", "dissatisfied"])
    if row["registered_at"] is not None and row["replied_at"] is not None:
        row["handling_seconds"] = max(0, int((row["replied_at"] - row["registered_at"]).total_seconds()))
    return row


def random_query(rng: random.Random) -> tuple[dict[str, Any], GroupBy | None, datetime]:
    """Filters with at most one or two dimensions, a period of dates or instants, and a now."""
    query: dict[str, Any] = {}
    for name, values, share in (
        ("unit", ["city-a", "d-a1", "city-b", "root"], 0.3),
        ("category", CATEGORIES[:-1], 0.2),
        ("region", ["430100", "430104", "430000"], 0.15),
        ("channel", CHANNELS, 0.15),
        ("type", TYPES[:-1], 0.1),
    ):
        if rng.random() < share:
            query[name] = rng.choice(values)
    if "unit" in query and rng.random() < 0.3:
        query["subtree"] = False
    first = date(2025, 1, 1) + timedelta(days=rng.randrange(-10, 160))
    last = first + timedelta(days=rng.randrange(0, 200))
    shape = rng.random()
    if shape < 0.3:
        query |= {"from": first.isoformat(), "to": last.isoformat()}
    elif shape < 0.45:
        query["from"] = first.isoformat()
    elif shape < 0.6:
        query["to"] = last.isoformat()
    elif shape < 0.75:
        start = datetime.combine(first, time(rng.randrange(24), rng.randrange(60)), tzinfo=SHANGHAI)
        end = start + timedelta(hours=rng.randrange(1, 3000))
        query |= {"from": start.isoformat(), "to": end.isoformat()}
    group_by = rng.choice([None, None, *GroupBy])
    now = (START + timedelta(seconds=rng.randrange(300 * 86400))).astimezone(UTC)
    if rng.random() < 0.2:  # exactly at a local day's end or midnight
        day = datetime.combine(now.astimezone(SHANGHAI).date(), time.min, tzinfo=SHANGHAI)
        now = (day - timedelta(microseconds=rng.choice([0, 1]))).astimezone(UTC)
    return query, group_by, now


def answers(database: Database, query: dict[str, Any], group_by: GroupBy | None, now: datetime) -> Any:
    with database.sessions() as session:
        tree = UnitTree.load(session)
    q = CaseQuery.model_validate(query)
    scope = resolve_scope(AUDITOR, tree, unit=q.unit, subtree=q.subtree)
    selection = service.select_cases(q, scope, SHANGHAI, now=now)
    found = []
    for compute in (service.compute_kpis, service.compute_kpis_per_case):
        with database.sessions() as session:
            read = compute(session, selection, group_by=group_by, tree=tree, zone=SHANGHAI, now=now)
        found.append(read.model_dump(exclude={"generated_at"}))
    return found


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.create_tables()
    rng = random.Random(20261125)
    with db.engine.begin() as conn:
        conn.execute(
            insert(Unit),
            [
                {"code": c, "name": c, "parent": p, "kind": "department", "active": True, "changed_at": START}
                for c, p in UNITS.items()
            ],
        )
        conn.execute(insert(CaseFact), [random_case(n, rng) for n in range(CASES)])
    ensure_rollups(db, SHANGHAI)
    yield db
    db.close()


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


EDGE_QUERIES: list[tuple[dict[str, Any], datetime]] = [
    # Whole months ending with their month: the replies of the last month come from the rollups.
    ({"from": "2025-02-01", "to": "2025-04-30"}, _local("2025-09-01T10:00")),
    # "now" exactly at a local midnight, and the microsecond before it.
    ({"to": "2025-05-31"}, _local("2025-03-15T00:00")),
    ({"unit": "city-a"}, _local("2025-03-15T00:00") - timedelta(microseconds=1)),
    # Partial first and last months, instants with a time of day, and now in the middle.
    ({"from": "2025-01-10T08:30:00+08:00", "to": "2025-03-20T17:45:00+08:00"}, _local("2025-03-02T13:07")),
]
"""Queries at the edges of the rollups' days and months, asked with every breakdown."""


def test_rollups_answer_as_every_case_does_at_day_and_month_edges(database: Database) -> None:
    for group_by in (None, *GroupBy):
        for query, now in EDGE_QUERIES:
            rolled, per_case = answers(database, query, group_by, now)
            assert rolled == per_case, (query, group_by, now)


def test_rollups_answer_as_every_case_does_for_random_queries(database: Database) -> None:
    rng = random.Random(7)
    for _ in range(20):
        query, group_by, now = random_query(rng)
        rolled, per_case = answers(database, query, group_by, now)
        assert rolled == per_case, (query, group_by, now)


def _rollup_rows(database: Database) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    with database.engine.connect() as conn:
        counts = {tuple(r) for r in conn.execute(select(kpi_counts)) if any(r[4:])}
        handling = {tuple(r) for r in conn.execute(select(kpi_handling_days)) if r.cases}
    return counts, handling


def test_moving_each_case_milestone_by_milestone_ends_at_the_rebuilt_rollups(database: Database) -> None:
    with database.sessions.begin() as session:
        # Sixty cases keep the test quick; the others leave the rollups empty.
        session.execute(delete(CaseFact).where(CaseFact.case_id >= "c0060"))
        build_rollups(session, SHANGHAI)
    built = _rollup_rows(database)
    with database.sessions.begin() as session:
        session.execute(kpi_counts.delete())
        session.execute(kpi_handling_days.delete())
        # Each case grows from nothing, one column at a time in a random order, the way events
        # fill its row; the rollups follow each step by the difference of contributions.
        rng = random.Random(3)
        for fact in session.scalars(select(CaseFact)).all():
            target = {c.key: getattr(fact, c.key) for c in CaseFact.__table__.columns}
            kept = ("case_id", "updated_at")
            growing = CaseFact(**{k: (v if k in kept else None) for k, v in target.items()})
            columns = [k for k, v in target.items() if v is not None and k not in kept]
            rng.shuffle(columns)
            for column in columns:
                before = contribution(growing, SHANGHAI)
                setattr(growing, column, target[column])
                apply_contribution(session, difference(before, contribution(growing, SHANGHAI)))
    assert _rollup_rows(database) == built
