"""What each event costs reporting's projector, with the KPI rollups kept up to date.

    .venv/bin/python bench/projector_cost.py                       # 2,500 cases, SQLite file
    .venv/bin/python bench/projector_cost.py --database-url postgresql+psycopg://user@host/db

Each synthetic case has the eight events of an ordinary life (registration, assignment,
acceptance deadline, acceptance, completion deadline, reply, rating, closure), built from the
topics' example payloads, spread over three years. They are applied one by one through
``projector.apply_event`` (one transaction each, as the worker does) on a migrated database
whose rollups are built (empty), and the time per event is printed: wall clock and this
process's CPU. The database is emptied first and dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import machine_line, write_json

from reporting.cli import rebuild_database
from reporting.config import ReportingSettings
from reporting.kpis.rollups import ensure_rollups
from reporting.readmodel.database import Database
from reporting.readmodel.projector import apply_event
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.migrate import downgrade
from xinfang_common.testing.events import example_event
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_RATED,
    CASE_REPLIED,
    DEADLINE_SCHEDULED,
    PETITION_REGISTERED,
)

START = datetime(2023, 1, 1, tzinfo=UTC)
UNITS = [f"district-{c:02d}-{d:02d}" for c in range(14) for d in range(10)]
CATEGORIES = ["城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"]


def case_events(n: int, rng: random.Random) -> list[CloudEvent[Any]]:
    """The eight events of one case, in the order they happen."""
    case = f"bench-{n:08d}"
    registered = START + timedelta(seconds=rng.randrange(3 * 365 * 86400))
    unit = rng.choice(UNITS)
    category = rng.choice(CATEGORIES)
    assigned = registered + timedelta(hours=rng.uniform(1, 72))
    accepted = registered + timedelta(days=rng.uniform(1, 15))
    replied = accepted + timedelta(days=rng.uniform(3, 60))

    def act(spec: Any, at: datetime, **fields: Any) -> CloudEvent[Any]:
        return example_event(spec, case, unit_code=unit, at=at, **fields)

    def deadline(kind: str, starts: datetime, days: int) -> CloudEvent[Any]:
        return example_event(
            DEADLINE_SCHEDULED,
            case,
            deadline_id=f"{case}:{kind}",
            kind=kind,
            unit_code=unit,
            starts_at=starts,
            due_at=starts + timedelta(days=days),
        )

    return [
        example_event(
            PETITION_REGISTERED,
            case,
            category=category,
            registered_at=registered,
            received_at=registered,
            channel=rng.choice(["letter", "visit", "phone", "online"]),
        ),
        example_event(
            CASE_ASSIGNED, case, unit_code=unit, unit_name=unit, category=category, assigned_at=assigned
        ),
        deadline("acceptance", assigned, 16),
        act(CASE_ACCEPTED, accepted),
        deadline("completion", accepted, 61),
        act(CASE_REPLIED, replied),
        example_event(
            CASE_RATED,
            case,
            satisfaction=rng.choice(["satisfied", "dissatisfied"]),
            at=replied + timedelta(days=2),
        ),
        act(CASE_CLOSED, replied + timedelta(days=5)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temp folder")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="projector-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'reporting.db'}"
    rebuild_database(url)
    database = Database(url)
    ensure_rollups(database, ReportingSettings().zone)
    rng = random.Random(args.seed)
    events = [event for n in range(args.cases) for event in case_events(n, rng)]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    wall: list[float] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for event in events:
        before = time.perf_counter()
        apply_event(database.sessions, event, now=now)
        wall.append(time.perf_counter() - before)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    backend = database.backend
    database.close()
    per_event = seconds / len(events) * 1000
    cpu_per_event = cpu / len(events) * 1000
    p95 = sorted(wall)[int(0.95 * (len(wall) - 1))] * 1000
    print(machine_line())
    print(
        f"{backend}: {len(events):,} events ({args.cases:,} cases x 8) in {seconds:.1f} s: "
        f"{per_event:.2f} ms per event (median {statistics.median(wall) * 1000:.2f}, p95 {p95:.2f}), "
        f"{cpu_per_event:.2f} ms of this process's CPU per event"
    )
    write_json(
        args.json,
        {
            "script": "projector_cost.py",
            "machine": machine_line(),
            "backend": backend,
            "events": len(events),
            "ms_per_event": round(per_event, 3),
            "cpu_ms_per_event": round(cpu_per_event, 3),
            "p95_ms": round(p95, 3),
        },
    )
    downgrade(url, "reporting.migrations", "base")
    for path in folder.glob("*"):
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
