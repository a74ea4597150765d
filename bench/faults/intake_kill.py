"""kill -9 of intake during load: every petition answered 201 is assigned exactly once.

    .venv/bin/python bench/faults/intake_kill.py                   # 100/s for 60 s, kill at 20 s
    .venv/bin/python bench/faults/intake_kill.py --rate 300 --kills 3

Starts a broker, intake and routing of its own, registers petitions at --rate, kills intake with
SIGKILL --kills times (restarting it at once each time: the restart is part of the outage), then
waits for the assignments and prints, from the case.assigned topic and from intake's own API:
sent, acknowledged, delivered, duplicated, lost. Requests cut off by the kill are not
acknowledged; their cases may or may not exist (the client cannot know), which is why clients
send an Idempotency-Key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import BenchSuite, Tally, TopicWatcher, machine_line
from faultlib import Fault, intake_view, load_with_faults, print_tally, settle, tally_topic

from xinfang_common.topics import CASE_ASSIGNED


def scenario(
    suite: BenchSuite,
    *,
    rate: float,
    duration: float,
    kills: int,
    settle_seconds: float,
    data: str | None = None,
) -> tuple[Tally, Tally]:
    """Run it on a suite of our own with intake and routing; (topic tally, intake's view)."""

    def crash() -> None:
        suite.kill("intake")
        suite.restart("intake")

    faults = [
        Fault(duration * (i + 1) / (kills + 1), f"kill -9 intake #{i + 1}", crash) for i in range(kills)
    ]
    with TopicWatcher(suite.bootstrap, CASE_ASSIGNED.name) as assigned:
        run = asyncio.run(load_with_faults(suite, faults, rate=rate, duration=duration, data=data))
        for line in run.report():
            print(line)
        waited = settle([assigned], run.acked_ids(), settle_seconds)
        print(f"settled in {waited:.1f} s")
        topic = tally_topic("case.assigned topic", assigned, run)
    view = intake_view(suite, run.acked_ids(), timeout=settle_seconds)
    print_tally("intake's view (GET /v1/petitions/{id})", view, len(run.load.outcomes))
    return topic, view


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--settle", type=float, default=180.0, help="seconds to wait for assignments")
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    args = parser.parse_args()
    print(machine_line())
    with BenchSuite(services=("intake", "routing")) as suite:
        topic, view = scenario(
            suite,
            rate=args.rate,
            duration=args.duration,
            kills=args.kills,
            settle_seconds=args.settle,
            data=args.data,
        )
    ok = topic.lost == topic.duplicated == view.lost == view.duplicated == 0 and topic.acknowledged > 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
