"""The projector on a throwaway SQLite database: any event order, duplicates, the counts."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select

from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact
from reporting.readmodel.projector import Outcome, apply_event
from reporting.stats.schemas import SummaryQuery
from reporting.stats.service import InvalidPeriod, case_filter, summarize
from xinfang_common.cloudevents import CloudEvent

Make = Callable[..., CloudEvent[Any]]
NOW = datetime(2026, 3, 3, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def database() -> Iterator[Database]:
    db = Database("sqlite://")
    db.create_tables()
    yield db
    db.close()


def apply_all(database: Database, *events: CloudEvent[Any]) -> list[Outcome]:
    return [apply_event(database.sessions, event, now=NOW) for event in events]


def row(database: Database, case_id: str) -> dict[str, Any]:
    with database.sessions() as session:
        fact = session.get(CaseFact, case_id)
        assert fact is not None
        return {c.key: getattr(fact, c.key) for c in inspect(CaseFact).column_attrs}


def summary(database: Database, **query: Any) -> dict[str, Any]:
    with database.sessions() as session:
        result = summarize(session, case_filter(SummaryQuery.model_validate(query), SHANGHAI), now=NOW)
    return result.model_dump()


def test_both_orders_of_registration_and_assignment_give_the_same_row(
    make_registered: Make, make_assigned: Make, make_deadline: Make
) -> None:
    registered = make_registered("c1", petition_type=None, category=None)
    assigned = make_assigned("c1", petition_type="report", category="纪检监察")
    deadline = make_deadline("c1")
    rows = []
    for order in ((registered, assigned, deadline), (deadline, assigned, registered)):
        db = Database("sqlite://")
        db.create_tables()
        assert apply_all(db, *order) == [Outcome.APPLIED] * 3
        rows.append(row(db, "c1"))
        db.close()
    assert rows[0] == rows[1]
    assert rows[0]["channel"] == "online"
    assert rows[0]["registered_at"] == registered.data.registered_at
    assert (rows[0]["unit_code"], rows[0]["petition_type"], rows[0]["category"]) == (
        "430104-zjj",
        "report",
        "纪检监察",
    )
    assert rows[0]["acceptance_due_at"] == deadline.data.due_at


def test_registration_fills_what_the_assignment_left_empty(
    database: Database, make_registered: Make, make_assigned: Make
) -> None:
    apply_all(database, make_assigned("c1", category=None, petition_type=None), make_registered("c1"))
    fact = row(database, "c1")
    assert (fact["category"], fact["petition_type"]) == ("城乡建设", "claim")


def test_a_duplicate_event_changes_nothing(database: Database, make_registered: Make) -> None:
    event = make_registered("c1")
    assert apply_event(database.sessions, event, now=NOW) is Outcome.APPLIED
    before = row(database, "c1")
    later = NOW + timedelta(hours=1)
    assert apply_event(database.sessions, event, now=later) is Outcome.DUPLICATE
    assert row(database, "c1") == before
    assert summary(database)["registered"] == 1


def test_the_latest_assignment_wins_in_any_order(database: Database, make_assigned: Make) -> None:
    first = make_assigned("c1", unit_code="u-first", unit_name="First")
    second = make_assigned(
        "c1", unit_code="u-second", unit_name="Second", assigned_at=first.data.assigned_at + timedelta(days=3)
    )
    apply_all(database, second, first)
    assert row(database, "c1")["unit_code"] == "u-second"
    apply_all(database, make_assigned("c2", **first.data.model_dump(exclude={"case_id"})))
    apply_all(database, make_assigned("c2", **second.data.model_dump(exclude={"case_id"})))
    assert row(database, "c2")["unit_code"] == "u-second"


def test_the_latest_started_acceptance_deadline_wins(database: Database, make_deadline: Make) -> None:
    early = make_deadline("c1")
    late = make_deadline("c1", starts_at=early.data.starts_at + timedelta(days=5))
    apply_all(database, late, early)
    assert row(database, "c1")["acceptance_due_at"] == late.data.due_at


def test_no_petition_text_or_personal_field_is_stored() -> None:
    # subject_unit stays: it is a unit's code (Art. 41 counts the units most complained about).
    columns = {c.key for c in inspect(CaseFact).column_attrs}
    assert columns.isdisjoint({"title", "content", "petitioners", "name", "phone", "anonymous"})


def test_summary_counts_by_state_unit_and_channel(
    database: Database, make_registered: Make, make_assigned: Make
) -> None:
    apply_all(
        database,
        make_registered("c1"),
        make_assigned("c1"),
        make_registered("c2", channel="letter", region="430102"),
        make_assigned("c2", unit_code="430102-zjj", unit_name="芙蓉区住建局", region="430102"),
        make_registered("c3", channel="visit", region="440305"),
        # Assigned but its registration not seen yet: not counted until it is.
        make_assigned("c4", unit_code="430102-zjj", unit_name="芙蓉区住建局", region="430102"),
    )
    everything = summary(database)
    assert (everything["registered"], everything["assigned"], everything["awaiting_assignment"]) == (3, 2, 1)
    assert everything["by_unit"] == [
        {"unit_code": "430102-zjj", "unit_name": "芙蓉区住建局", "assigned": 1},
        {"unit_code": "430104-zjj", "unit_name": "岳麓区住房和城乡建设局", "assigned": 1},
    ]
    assert everything["by_channel"] == {"letter": 1, "visit": 1, "phone": 0, "online": 1, "forwarded": 0}

    city = summary(database, region="430100")
    assert (city["registered"], city["assigned"], city["awaiting_assignment"]) == (2, 2, 0)
    unit = summary(database, unit="430102-zjj")
    assert (unit["registered"], unit["assigned"], unit["awaiting_assignment"]) == (1, 1, 0)
    assert unit["by_channel"]["letter"] == 1

    # Its registration arrives: now it counts, and it is already assigned.
    apply_all(database, make_registered("c4", region="430102"))
    assert (summary(database)["registered"], summary(database)["assigned"]) == (4, 3)


def test_a_date_period_covers_whole_local_days(database: Database, make_registered: Make) -> None:
    # 2026-03-01 23:30 in Shanghai is still 1 March locally, though 15:30 UTC.
    late_evening = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    apply_all(
        database,
        make_registered("c1", registered_at=late_evening),
        make_registered("c2", registered_at=datetime(2026, 3, 1, 16, 0, tzinfo=UTC)),
    )
    assert summary(database, **{"from": "2026-03-01", "to": "2026-03-01"})["registered"] == 1
    assert summary(database, **{"from": "2026-03-02"})["registered"] == 1
    assert summary(database, to="2026-03-01T15:30:00Z")["registered"] == 0


def test_an_empty_period_is_refused() -> None:
    with pytest.raises(InvalidPeriod):
        case_filter(SummaryQuery.model_validate({"from": "2026-03-02", "to": "2026-03-01"}), SHANGHAI)


def test_rows_are_stored_in_utc(database: Database, make_registered: Make) -> None:
    apply_all(database, make_registered("c1", registered_at=datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)))
    with database.sessions() as session:
        stored = session.scalars(select(CaseFact.registered_at)).one()
    assert stored == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)


def test_an_outdated_read_model_is_refused_with_the_way_out(tmp_path: Any) -> None:
    import sqlite3

    from reporting.readmodel.database import OutdatedReadModel

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE case_facts (case_id VARCHAR(64) PRIMARY KEY, updated_at DATETIME)")
    db = Database(f"sqlite:///{path}")
    with pytest.raises(OutdatedReadModel, match="xinfang-reporting rebuild"):
        db.create_tables()
    db.close()
