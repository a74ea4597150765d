"""Intake's PostgreSQL stopped under load: 503 with Retry-After, no partial writes, recovery unaided.

    .venv/bin/python bench/faults/database_stop.py                 # 50/s for 60 s, database down 15 s
    .venv/bin/python bench/faults/database_stop.py --down 30 --mode fast

Starts a PostgreSQL server of its own (initdb in a temporary folder, run as the ``postgres``
user when started as root), a broker, intake on that database and routing, registers petitions
at --rate and stops the database (pg_ctl -m immediate: a crash, by default) for --down seconds,
then starts it again and does nothing else. Prints the answers given meanwhile (503 with
Retry-After expected, never 500), how long after the restart the first 201 came, then checks in
the database that every stored petition has its petitioner, its timeline entry and its outbox
event and vice versa (no partial writes), and counts sent, acknowledged, delivered, duplicated, lost.

SQLite is not covered: it is a file inside intake's process, not a server that can stop, and the
failures it does have (disk full, file removed) are another fault than "the database is down".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import BenchSuite, TopicWatcher, machine_line
from faultlib import Fault, intake_view, load_with_faults, print_tally, settle, tally_topic
from sqlalchemy import create_engine, text

from xinfang_common.testing.plugin import free_port
from xinfang_common.topics import CASE_ASSIGNED

PG_BIN = Path(os.environ.get("XINFANG_PG_BIN", "/usr/lib/postgresql/15/bin"))

PARTIAL_WRITES = {
    "petitions without a petitioner": "SELECT count(*) FROM petitions p WHERE NOT EXISTS "
    "(SELECT 1 FROM petitioners x WHERE x.petition_id = p.id)",
    "petitions without their registered entry": "SELECT count(*) FROM petitions p WHERE NOT EXISTS "
    "(SELECT 1 FROM timeline_entries t WHERE t.petition_id = p.id AND t.kind = 'registered')",
    "petitions without an outbox event": "SELECT count(*) FROM petitions p WHERE NOT EXISTS "
    "(SELECT 1 FROM outbox_messages o WHERE o.key = p.id)",
    "PetitionRegistered events without a petition": "SELECT count(*) FROM outbox_messages o "
    "WHERE o.topic = 'xinfang.petition.registered.v1' "
    "AND NOT EXISTS (SELECT 1 FROM petitions p WHERE p.id = o.key)",
}


class Postgres:
    """A throwaway PostgreSQL server on a free port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/intake"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # the server refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        """initdb, start, create the intake database."""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "intake")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate`` is a crash: no checkpoint, recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop if running and delete everything."""
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ]
            if os.geteuid() == 0
            else [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def partial_writes(url: str) -> dict[str, int]:
    """Counts of every kind of half-written registration (all should be 0)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in PARTIAL_WRITES.items()}
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--at", type=float, default=15.0)
    parser.add_argument("--down", type=float, default=15.0)
    parser.add_argument("--mode", choices=["immediate", "fast", "smart"], default="immediate")
    parser.add_argument("--settle", type=float, default=180.0)
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    args = parser.parse_args()
    print(machine_line())
    pg = Postgres()
    pg.init()
    ok = True
    try:
        env = {"intake": {"INTAKE_DATABASE_URL": pg.url}}
        with BenchSuite(services=("intake", "routing"), env=env) as suite:

            def outage() -> None:
                pg.stop(args.mode)
                # The outage itself: the database stays away this long.
                time.sleep(args.down)
                pg.start()

            with TopicWatcher(suite.bootstrap, CASE_ASSIGNED.name) as assigned:
                run = asyncio.run(
                    load_with_faults(
                        suite,
                        [Fault(args.at, f"database stopped ({args.mode})", outage)],
                        rate=args.rate,
                        duration=args.duration,
                        data=args.data,
                    )
                )
                for line in run.report():
                    print(line)
                _, start, end = run.windows[0]
                during = [o for o in run.load.outcomes if start <= o.sent <= end]
                unavailable = [o for o in during if o.status == 503]
                without_retry_after = sum(1 for o in unavailable if not o.retry_after)
                server_errors = sum(
                    1
                    for o in run.load.outcomes
                    if o.status is not None and o.status >= 500 and o.status != 503
                )
                after = sorted((o for o in run.load.outcomes if o.sent > end), key=lambda o: o.sent)
                first_ok = next((o for o in after if o.status == 201), None)
                not_ok_after = sum(1 for o in after if o.status != 201)
                print(
                    f"during the outage: {len(unavailable)} answered 503 "
                    f"({without_retry_after} without Retry-After), {server_errors} other 5xx in the whole run"
                )
                if first_ok is not None:
                    print(
                        f"first 201 {first_ok.sent - end:.2f} s after the database was back; "
                        f"{not_ok_after} requests after it was back were not answered 201"
                    )
                settle([assigned], run.acked_ids(), args.settle)
                topic = tally_topic("case.assigned topic", assigned, run)
            view = intake_view(suite, run.acked_ids(), timeout=args.settle)
            print_tally("intake's view (GET /v1/petitions/{id})", view, len(run.load.outcomes))
            partial = partial_writes(pg.url)
            print(f"partial writes: {partial}")
            ok = (
                not without_retry_after
                and server_errors == 0
                and first_ok is not None
                and not any(partial.values())
                and topic.lost == topic.duplicated == view.lost == view.duplicated == 0
            )
    finally:
        pg.remove()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
