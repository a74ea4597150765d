"""Keeping ``kpi_counts`` and ``kpi_handling_days`` in step with ``case_facts``.

The projector moves a case's contribution in the same transaction as its row (old contribution
out, new one in), so a redelivered event, already dropped by its id, moves nothing twice. The
rollups are built for one time zone (local days and months): ``ensure_rollups`` at start-up
(re)builds them from ``case_facts`` when they are missing or were made for another zone.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from reporting.kpis.contributions import READ_COLUMNS, Contribution, CountKey, contribution
from reporting.readmodel.database import Database
from reporting.readmodel.models import KPI_MEASURES, CaseFact, KpiRollupZone, kpi_counts, kpi_handling_days
from reporting.readmodel.repository import dialect_insert

log = logging.getLogger(__name__)

ZONE_ROW = 1


def rollup_zone(session: Session) -> ZoneInfo | None:
    """The zone the rollups are kept in; None when they are not built."""
    row = session.get(KpiRollupZone, ZONE_ROW)
    return None if row is None else ZoneInfo(row.zone)


def _count_row(key: CountKey, counts: dict[str, int]) -> dict[str, Any]:
    grain, dim, reg_month, change_day = key
    row: dict[str, Any] = {"grain": grain, "dim": dim, "reg_month": reg_month, "change_day": change_day}
    return row | {m: counts.get(m, 0) for m in KPI_MEASURES}


_UPSERTS: dict[str, tuple[Any, Any]] = {}
"""The two rollup upserts per dialect name, built once: building them (an expression per
measure) cost more than running them, for every event."""


def _upserts(session: Session) -> tuple[Any, Any]:
    name = session.get_bind().dialect.name
    if name not in _UPSERTS:
        counts = dialect_insert(session, kpi_counts)
        counts = counts.on_conflict_do_update(
            index_elements=["grain", "dim", "reg_month", "change_day"],
            set_={m: kpi_counts.c[m] + counts.excluded[m] for m in KPI_MEASURES},
        )
        handling = dialect_insert(session, kpi_handling_days)
        handling = handling.on_conflict_do_update(
            index_elements=["grain", "dim", "reg_month", "replied_month", "handling_day"],
            set_={"cases": kpi_handling_days.c.cases + handling.excluded.cases},
        )
        _UPSERTS[name] = (counts, handling)
    return _UPSERTS[name]


def apply_contribution(session: Session, moved: Contribution) -> None:
    """Add ``moved`` (a difference of contributions) to the rollup rows, creating missing ones."""
    counts_upsert, handling_upsert = _upserts(session)
    if moved.counts:
        # Sorted: two transactions touching the same rows take their locks in the same order.
        rows = [_count_row(key, counts) for key, counts in sorted(moved.counts.items())]
        session.execute(counts_upsert, rows)
    if moved.handling:
        session.execute(
            handling_upsert,
            [
                {"grain": g, "dim": d, "reg_month": m, "replied_month": rm, "handling_day": h, "cases": n}
                for (g, d, m, rm, h), n in sorted(moved.handling.items())
            ],
        )


def _month_starts(first: datetime, last: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local month starts from ``first``'s month to the one after ``last``'s, in UTC."""
    local = first.astimezone(zone)
    year, month = local.year, local.month
    starts = []
    while True:
        start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
        starts.append(start)
        if start > last:
            return starts
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _flush(session: Session, counts: dict[Any, dict[str, int]], handling: dict[Any, int]) -> None:
    if counts:
        session.execute(kpi_counts.insert(), [_count_row(key, c) for key, c in counts.items()])
    if handling:
        session.execute(
            kpi_handling_days.insert(),
            [
                {"grain": g, "dim": d, "reg_month": m, "replied_month": rm, "handling_day": h, "cases": n}
                for (g, d, m, rm, h), n in handling.items()
            ],
        )


def build_rollups(session: Session, zone: ZoneInfo) -> int:
    """Replace the rollups with those of every case in ``case_facts``; returns the cases counted.

    Month by month of registration, so memory stays at one month's rows.
    """
    session.execute(delete(kpi_counts))
    session.execute(delete(kpi_handling_days))
    session.execute(update(CaseFact).values(last_unaligned_at=None))
    registered = select(CaseFact.registered_at).where(CaseFact.registered_at.is_not(None)).limit(1)
    first = session.scalar(registered.order_by(CaseFact.registered_at))
    last = session.scalar(registered.order_by(CaseFact.registered_at.desc()))
    cases = 0
    case_facts = cast(Table, CaseFact.__table__)
    if first is not None and last is not None:
        starts = _month_starts(first, last, zone)
        columns = [getattr(CaseFact, name) for name in READ_COLUMNS]
        for start, end in itertools.pairwise(starts):
            rows = session.execute(
                select(*columns).where(CaseFact.registered_at >= start, CaseFact.registered_at < end)
            ).all()
            counts: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            handling: dict[Any, int] = defaultdict(int)
            marks = []
            for row in rows:
                part = contribution(row, zone)
                for key, moved in part.counts.items():
                    cell = counts[key]
                    for measure, n in moved.items():
                        cell[measure] += n
                for hkey, n in part.handling.items():
                    handling[hkey] += n
                if part.last_unaligned_at is not None:
                    marks.append({"id": row.case_id, "at": part.last_unaligned_at})
            _flush(session, counts, handling)
            if marks:
                session.execute(
                    update(case_facts)
                    .where(case_facts.c.case_id == bindparam("id"))
                    .values(last_unaligned_at=bindparam("at")),
                    marks,
                )
            cases += len(rows)
    session.merge(KpiRollupZone(id=ZONE_ROW, zone=zone.key, built_at=datetime.now(UTC)))
    return cases


def ensure_rollups(database: Database, zone: ZoneInfo) -> None:
    """Build the rollups unless they already are, for ``zone``; the projector keeps them after."""
    with database.sessions.begin() as session:
        if database.backend == "postgresql":
            # Holds off the projector (and a replica starting at the same time) until built.
            session.connection().exec_driver_sql("LOCK TABLE case_facts IN SHARE ROW EXCLUSIVE MODE")
        else:
            # An immediate write takes SQLite's lock before the zone is read.
            session.connection().exec_driver_sql("DELETE FROM kpi_rollup_zone WHERE 0")
        current = rollup_zone(session)
        if current is not None and current.key == zone.key:
            return
        started = time.perf_counter()
        cases = build_rollups(session, zone)
        log.info(
            "KPI rollups built",
            extra={"zone": zone.key, "cases": cases, "seconds": round(time.perf_counter() - started, 1)},
        )
