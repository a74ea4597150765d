"""kill -9 of routing, alerts and reporting mid-stream: no lost or doubled assignment, deadline or count.

    .venv/bin/python bench/faults/stream_kill.py                   # 100/s for 90 s
    .venv/bin/python bench/faults/stream_kill.py --rate 200 --duration 120

Starts a broker and the four services of its own, registers petitions at --rate, and kills with
SIGKILL routing (at 1/4 of the run), alerts (1/2) and reporting (3/4), restarting each at once.
Then checks, for every petition answered 201:
- case.assigned: exactly one assignment decision (routing's output);
- deadline.scheduled: each deadline version announced under one event id only (alerts' output;
  the alerts themselves fall due days later: see bench/alert_lag.py, which shifts alerts' clock);
- reporting's summary: registered and assigned totals grew by exactly the cases acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import BenchSuite, Tally, TopicWatcher, machine_line
from faultlib import (
    WARMUP,
    Fault,
    load_with_faults,
    settle,
    summary_counts,
    tally_topic,
    wait_for_counts,
)

from xinfang_common.topics import CASE_ASSIGNED, DEADLINE_SCHEDULED

KILLED = ("routing", "alerts", "reporting")


def scenario(
    suite: BenchSuite, *, rate: float, duration: float, settle_seconds: float, data: str | None = None
) -> tuple[Tally, Tally, Tally]:
    """Run it on a full suite of our own; tallies of assignments, deadlines and reporting's counts."""

    def crash(service: str) -> None:
        suite.kill(service)
        suite.restart(service)

    faults = [
        Fault(duration * (i + 1) / (len(KILLED) + 1), f"kill -9 {name}", functools.partial(crash, name))
        for i, name in enumerate(KILLED)
    ]
    before = summary_counts(suite)
    with (
        TopicWatcher(suite.bootstrap, CASE_ASSIGNED.name) as assigned,
        TopicWatcher(suite.bootstrap, DEADLINE_SCHEDULED.name) as deadlines,
    ):
        run = asyncio.run(load_with_faults(suite, faults, rate=rate, duration=duration, data=data))
        for line in run.report():
            print(line)
        waited = settle([assigned, deadlines], run.acked_ids(), settle_seconds)
        print(f"settled in {waited:.1f} s after the load ended")
        assignments = tally_topic("case.assigned (routing)", assigned, run)
        scheduled = tally_topic("deadline.scheduled (alerts)", deadlines, run)
    unanswered = len(run.load.outcomes) - len(run.load.acked)
    if unanswered:
        print(f"note: {unanswered} requests were not answered 201; reporting may count them too")
    grown = len(run.acked_ids()) + WARMUP
    expected = {k: v + grown for k, v in before.items()}
    after = wait_for_counts(suite, expected, settle_seconds)
    counted = Tally(sent=len(run.load.outcomes), acknowledged=len(run.acked_ids()))
    counted.delivered = min(after.get("registered", 0) - before["registered"] - WARMUP, counted.acknowledged)
    counted.lost = counted.acknowledged - counted.delivered
    counted.duplicated = max(0, after.get("registered", 0) - expected["registered"])
    extra_assigned = after.get("assigned", 0) - expected["assigned"]
    registered_line = f"registered {before['registered']} -> {after.get('registered')}"
    assigned_line = f"assigned {before['assigned']} -> {after.get('assigned')}"
    print(
        f"reporting summary: {counted.line()}; {registered_line}, {assigned_line} "
        f"(expected +{grown} each, assigned off by {extra_assigned:+d})"
    )
    if extra_assigned:
        counted.notes.append(f"assigned total off by {extra_assigned:+d}")
    return assignments, scheduled, counted


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--settle", type=float, default=300.0)
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    args = parser.parse_args()
    print(machine_line())
    with BenchSuite() as suite:
        tallies = scenario(
            suite, rate=args.rate, duration=args.duration, settle_seconds=args.settle, data=args.data
        )
    ok = all(t.lost == t.duplicated == 0 and not t.notes for t in tallies)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
