"""Kafka stopped for 30 s under load: intake keeps answering 201; everything is delivered after.

    .venv/bin/python bench/faults/kafka_stop.py                    # 100/s for 90 s, broker down 30 s
    .venv/bin/python bench/faults/kafka_stop.py --rate 300 --down 60 --kill

Starts a broker, intake and routing of its own, registers petitions at --rate and stops the
broker (SIGTERM, or SIGKILL with --kill) for --down seconds, then starts it again on the same data.
Prints the answers given while the broker was away (all should be 201: intake writes to its
database and outbox only), then sent, acknowledged, delivered, duplicated, lost from the
case.assigned topic and from intake's own API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
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
    at: float,
    down: float,
    kill: bool,
    settle_seconds: float,
    data: str | None = None,
) -> tuple[dict[str, int], Tally, Tally]:
    """Run it on a suite of our own with intake and routing.

    Returns the answers to requests sent during the outage (by status), the topic's tally and
    intake's view.
    """
    broker = suite.broker
    assert broker is not None, "needs a broker of our own"

    def outage() -> None:
        if kill:
            pid = int((broker.data_dir / "broker.pid").read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        else:
            broker.stop()
        # The outage itself, not a synchronisation: the broker stays away this long.
        time.sleep(down)
        broker.start()

    with TopicWatcher(suite.bootstrap, CASE_ASSIGNED.name) as assigned:
        run = asyncio.run(
            load_with_faults(
                suite,
                [Fault(at, "broker " + ("killed" if kill else "stopped"), outage)],
                rate=rate,
                duration=duration,
                data=data,
            )
        )
        for line in run.report():
            print(line)
        _, start, end = run.windows[0]
        during = run.answers_between(start, end)
        waited = settle([assigned], run.acked_ids(), settle_seconds)
        print(f"settled in {waited:.1f} s after the load ended")
        topic = tally_topic("case.assigned topic", assigned, run)
    view = intake_view(suite, run.acked_ids(), timeout=settle_seconds)
    print_tally("intake's view (GET /v1/petitions/{id})", view, len(run.load.outcomes))
    return during, topic, view


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--at", type=float, default=20.0, help="seconds into the load the broker goes")
    parser.add_argument("--down", type=float, default=30.0, help="seconds the broker stays away")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the broker instead of stopping it")
    # Everything registered while the broker was away reaches routing at once when it is back;
    # on 2 cores draining that backlog took 270 s after a 90 s load, close to the old 300.
    parser.add_argument(
        "--settle", type=float, default=900.0, help="most seconds to wait for assignments (900)"
    )
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    args = parser.parse_args()
    print(machine_line())
    with BenchSuite(services=("intake", "routing")) as suite:
        during, topic, view = scenario(
            suite,
            rate=args.rate,
            duration=args.duration,
            at=args.at,
            down=args.down,
            kill=args.kill,
            settle_seconds=args.settle,
            data=args.data,
        )
    ok = set(during) == {"201"} and topic.lost == topic.duplicated == view.lost == view.duplicated == 0
    if set(during) != {"201"}:
        print(f"intake did not answer 201 to everything during the outage: {during}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
