"""Alerts tracking one million open deadlines: resident memory and restart recovery time.

    .venv/bin/python bench/alerts_memory.py --cases 1000000
    .venv/bin/python bench/alerts_memory.py --cases 100000          # then extrapolate, and say so

Alerts keeps every case it tracks (facts, deadlines, alerts raised) in a faust table, in memory,
backed by a compacted changelog topic that a restarted instance reads back before it is ready.
The cheapest faithful way to give it a million cases is therefore to write its changelog:
1. start a broker and alerts alone; publish one PetitionRegistered and one CaseAssigned (the
   topic specs' examples, dated now) and let alerts derive that case's state and write it to
   the changelog, exactly as in production (a forward deadline met, an acceptance deadline open);
2. stop alerts; write --cases copies of that changelog record, each with a new case id, to the
   partition alerts itself would choose (alerts.tables.partition_of);
3. start alerts again and time it until /readyz answers 200 (table recovered); read its RSS, and
   its CPU use over the next --watch seconds, when the scanner walks every case each
   ALERTS_SCAN_INTERVAL_SECONDS (30 s by default).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

import httpx
from benchlib import BenchSuite, machine_line, rss_bytes, wait_until
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from alerts.tables import partition_of
from xinfang_common.cloudevents import utcnow
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

CHANGELOG = "xinfang-alerts-cases_by_id-changelog"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def template_record(bootstrap: str, case_id: str, timeout: float = 60) -> tuple[bytes, bytes]:
    """The latest changelog record alerts wrote for ``case_id``: (key, value) bytes."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    found: tuple[bytes, bytes] | None = None
    try:
        partitions = [
            TopicPartition(CHANGELOG, p) for p in sorted(consumer.partitions_for_topic(CHANGELOG) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.key and case_id.encode() in record.key and record.value:
                        found = (record.key, record.value)
            if found and b'"acceptance"' in found[1]:
                return found
    finally:
        consumer.close()
    raise TimeoutError(f"alerts wrote no state with an acceptance deadline for {case_id}: {found!r:.600}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--watch", type=float, default=90.0, help="seconds to watch CPU after recovery")
    parser.add_argument("--keep", action="store_true", help="keep the broker's folder")
    args = parser.parse_args()
    print(machine_line())
    with BenchSuite(services=("alerts",), keep=args.keep) as suite:
        ready_url = f"{suite.urls['alerts']}/readyz"
        case_id = str(uuid.uuid4())
        now = utcnow()
        producer = KafkaProducer(
            bootstrap_servers=suite.bootstrap,
            acks="all",
            linger_ms=50,
            batch_size=1 << 20,
            max_request_size=8 << 20,
        )
        for spec, overrides in (
            (PETITION_REGISTERED, {"registered_at": now, "received_at": now}),
            (CASE_ASSIGNED, {"assigned_at": now}),
        ):
            event = example_event(spec, case_id, **overrides)
            producer.send(
                spec.name, key=case_id.encode(), value=event.to_json_bytes(), headers=event.kafka_headers()
            )
        producer.flush()
        key, value = template_record(suite.bootstrap, case_id)
        print(f"one case's state: {len(value)} bytes in the changelog (key {len(key)} bytes)")
        pid = suite.pid("alerts")
        idle_rss = rss_bytes(pid)
        print(f"alerts RSS with 1 case: {idle_rss / 2**20:.0f} MiB")

        assert suite.suite is not None
        suite.suite.stop("alerts")
        start = time.monotonic()
        template = case_id.encode()
        for n in range(args.cases):
            other = str(uuid.uuid4())
            producer.send(
                CHANGELOG,
                key=key.replace(template, other.encode()),
                value=value.replace(template, other.encode()),
                partition=partition_of(other),
            )
            if n % 100_000 == 99_999:
                producer.flush()
                print(f"  {n + 1} written ({time.monotonic() - start:.0f} s)", flush=True)
        producer.flush()
        producer.close()
        print(f"wrote {args.cases} case states to {CHANGELOG} in {time.monotonic() - start:.0f} s")

        suite.suite.start("alerts")
        pid = suite.pid("alerts")
        peak = 0

        def ready() -> bool:
            nonlocal peak
            peak = max(peak, rss_bytes(pid))
            try:
                return httpx.get(ready_url, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        recovery = wait_until(ready, 3600, "alerts recovery", interval=0.5)
        rss = rss_bytes(pid)
        print(f"restart to ready (table of {args.cases + 1} cases recovered): {recovery:.1f} s")
        print(f"alerts RSS when ready: {rss / 2**20:.0f} MiB (peak during recovery {peak / 2**20:.0f} MiB)")
        per_case = (rss - idle_rss) / max(args.cases, 1)
        print(f"  about {per_case / 1024:.2f} KiB per tracked case above the 1-case baseline")
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - t0 < args.watch:
            peak = max(peak, rss_bytes(pid))
            time.sleep(1)
        busy = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        print(
            f"after recovery, alerts used {100 * busy:.0f}% of a core over {args.watch:.0f} s "
            f"(scanner walking every case); RSS now {rss_bytes(pid) / 2**20:.0f} MiB, "
            f"peak {peak / 2**20:.0f} MiB"
        )
        if args.cases < 1_000_000:
            scale = 1_000_000 / max(args.cases, 1)
            print(
                "extrapolated to 1,000,000 cases (linear): "
                f"RSS ~{(idle_rss + per_case * 1_000_000) / 2**20:.0f} MiB, "
                f"recovery ~{recovery * scale:.0f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
