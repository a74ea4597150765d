"""How fast GET /v1/kpis answers over a read model of one million synthetic cases.

    .venv/bin/python bench/kpi_query.py                       # SQLite file in a temp folder
    .venv/bin/python bench/kpi_query.py --cases 200000 --repeat 10
    .venv/bin/python bench/kpi_query.py --database-url postgresql+psycopg://user@host/db

The cases are synthetic (no data from ../shared): three years of registrations over a tree of
1 root, 14 city units and 140 district units, with realistic shares of decided, replied, rated,
linked and overdue cases. They are written straight into reporting's tables (the projector's
columns), the KPI rollups are built from them as the service does at start-up, then each filter
combination is asked `--repeat` times through the real app (httpx ASGI transport, auditor
token), and p50/p95 are printed. The database is dropped at the
end unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import machine_line, write_json
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from reporting.cli import rebuild_database
from reporting.config import ReportingSettings
from reporting.kpis.rollups import ensure_rollups
from reporting.main import create_app
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact, Unit
from xinfang_common.gc_tuning import freeze_startup_heap
from xinfang_common.migrate import downgrade
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests as auth_settings
from xinfang_common.testing.auth import bearer

START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365
CATEGORIES = ["城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"]
CHANNELS = ["letter", "visit", "phone", "online", "forwarded"]
TYPES = ["suggestion", "report", "claim"]

COMBOS: dict[str, dict[str, str]] = {
    "everything": {},
    "one year": {"from": "2024-01-01", "to": "2024-12-31"},
    "one city subtree, one year": {"unit": "city-03", "from": "2024-01-01", "to": "2024-12-31"},
    "one district, all time": {"unit": "district-03-04"},
    "category + channel, one quarter": {
        "category": "环境保护",
        "channel": "online",
        "from": "2025-01-01",
        "to": "2025-03-31",
    },
    "one year by month": {"from": "2024-01-01", "to": "2024-12-31", "group_by": "month"},
    "city subtree by unit": {"unit": "city-03", "group_by": "unit"},
}


def units() -> list[dict[str, Any]]:
    rows = [{"code": "root", "name": "市信访局", "parent": None}]
    for c in range(14):
        rows.append({"code": f"city-{c:02d}", "name": f"市直单位{c}", "parent": "root"})
        for d in range(10):
            rows.append(
                {"code": f"district-{c:02d}-{d:02d}", "name": f"区县单位{c}-{d}", "parent": f"city-{c:02d}"}
            )
    return [{**r, "kind": "department", "active": True, "changed_at": START} for r in rows]


def synthetic_case(n: int, rng: random.Random, leaves: list[str], now: datetime) -> dict[str, Any]:
    registered = START + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
    row: dict[str, Any] = {
        "case_id": f"bench-{n:08d}",
        "channel": rng.choice(CHANNELS),
        "petition_type": rng.choice(TYPES),
        "category": rng.choice(CATEGORIES),
        "region": f"4301{rng.randrange(1, 12):02d}",
        "subject_unit": rng.choice(leaves) if rng.random() < 0.3 else None,
        "registered_at": registered,
        "received_at": registered,
        "imported": rng.random() < 0.2,
        "assignments": 0,
        "objections": 0,
        "alerts_approaching": 0,
        "alerts_due": 0,
        "alerts_overdue": 0,
        "alerts_escalated": 0,
        "updated_at": now,
    }
    if rng.random() < 0.97:
        unit = rng.choice(leaves)
        row |= {
            "unit_code": unit,
            "unit_name": unit,
            "assigned_at": registered + timedelta(hours=rng.uniform(1, 72)),
        }
        row["assignments"] = 1
        row["acceptance_due_at"] = registered + timedelta(days=16)
        row["acceptance_version"] = 1
        decided = registered + timedelta(days=rng.uniform(0.5, 20))
        if decided < now and rng.random() < 0.95:
            row["decided_at"] = decided
            if rng.random() < 0.05:
                row["declined_at"] = decided
            else:
                row["accepted_at"] = decided
                row["completion_due_at"] = decided + timedelta(days=61)
                row["completion_version"] = 1
                replied = decided + timedelta(days=rng.uniform(3, 75))
                if replied < now and rng.random() < 0.9:
                    row["replied_at"] = replied
                    row["handling_seconds"] = int((replied - registered).total_seconds())
                    if rng.random() < 0.6:
                        row["rated_at"] = replied + timedelta(days=2)
                        row["rated_sequence"] = 1
                        row["satisfaction"] = rng.choice(["satisfied", "basically_satisfied", "dissatisfied"])
                    if rng.random() < 0.8:
                        row["closed_at"] = replied + timedelta(days=5)
        if rng.random() < 0.08:
            row["overdue_at"] = registered + timedelta(days=16)
            row["alerts_overdue"] = 1
            if rng.random() < 0.3:
                row["escalated_at"] = registered + timedelta(days=20)
                row["alerts_escalated"] = 1
    if rng.random() < 0.04:
        row["linked_at"] = registered
        row["link_kind"] = "repeat"
    return row


COLUMNS = [c.key for c in CaseFact.__table__.columns]


def load(database: Database, count: int, seed: int) -> float:
    """Write ``count`` cases; returns the seconds it took."""
    rng = random.Random(seed)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    leaves = [u["code"] for u in units() if u["code"].startswith("district-")]
    started = time.perf_counter()
    with database.engine.begin() as conn:
        conn.execute(insert(Unit), units())
    batch: list[dict[str, Any]] = []
    for n in range(count):
        row = synthetic_case(n, rng, leaves, now)
        batch.append({c: row.get(c) for c in COLUMNS})
        if len(batch) == 20000:
            with database.engine.begin() as conn:
                conn.execute(insert(CaseFact), batch)
            batch = []
    if batch:
        with database.engine.begin() as conn:
            conn.execute(insert(CaseFact), batch)
    return time.perf_counter() - started


def analyze(database: Database) -> None:
    """Planner statistics (and on PostgreSQL the visibility map that index-only scans need), as
    a database that grew by itself would have them after autovacuum."""
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if database.backend == "postgresql" else "ANALYZE")


def server_version(database: Database) -> str:
    """The database engine's version, as the server reports it."""
    query = "SHOW server_version" if database.backend == "postgresql" else "SELECT sqlite_version()"
    with database.engine.connect() as conn:
        return str(conn.execute(text(query)).scalar())


def measure(url: str, repeat: int) -> dict[str, tuple[float, float, int]]:
    """p50 and p95 in milliseconds, and the cases counted, per filter combination."""
    settings = ReportingSettings(database_url=url, metrics_cache_seconds=3600)
    app = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings(), log_setup=False
    )
    # What the service's lifespan does once started (not run here: it would start the agents).
    freeze_startup_heap()
    client = TestClient(app, headers=bearer("root", "auditor"))
    results = {}
    for name, params in COMBOS.items():
        times = []
        cases = 0
        for _ in range(repeat + 1):
            started = time.perf_counter()
            response = client.get("/v1/kpis", params=params)
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            cases = response.json()["total"]["cases"]
            times.append(elapsed)
        times = sorted(times[1:])  # the first call warms the caches
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        results[name] = (statistics.median(times), p95, cases)
    app.state.database.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'reporting.db'}"
    rebuild_database(url)  # drops what an earlier run left, then migrates to head
    database = Database(url)
    seconds = load(database, args.cases, args.seed)
    backend, version = database.backend, server_version(database)
    print(f"{backend} {version}: loaded {args.cases:,} cases in {seconds:.0f} s", flush=True)
    started = time.perf_counter()
    ensure_rollups(database, ReportingSettings().zone)
    rollup_seconds = time.perf_counter() - started
    print(f"KPI rollups built in {rollup_seconds:.0f} s", flush=True)
    analyze(database)
    database.close()
    results = measure(url, args.repeat)
    print(f"{'filters':<34} {'cases':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for name, (p50, p95, cases) in results.items():
        print(f"{name:<34} {cases:>9,} {p50:>8.0f} {p95:>8.0f}")
    write_json(
        args.json,
        {
            "script": "kpi_query.py",
            "machine": machine_line(),
            "backend": backend,
            "server_version": version,
            "cases": args.cases,
            "repeat": args.repeat,
            "load_seconds": round(seconds, 1),
            "rollup_seconds": round(rollup_seconds, 1),
            "combinations": {
                name: {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "cases": cases}
                for name, (p50, p95, cases) in results.items()
            },
        },
    )
    if not args.keep:
        downgrade(url, "reporting.migrations", "base")
        for path in folder.glob("*"):
            os.remove(path)
        folder.rmdir()


if __name__ == "__main__":
    main()
