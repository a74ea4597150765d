"""Alerts tracking one million open deadlines: resident memory and restart recovery time.

    .venv/bin/python bench/alerts_memory.py --cases 1000000
    .venv/bin/python bench/alerts_memory.py --cases 1000000 --store rocksdb
    .venv/bin/python bench/alerts_memory.py --cases 100000          # then extrapolate, and say so

Alerts keeps every case it tracks (facts, deadlines, alerts raised) in a faust table, in memory
or in RocksDB (ALERTS_TABLE_STORE), backed by a compacted changelog topic that a restarted
instance reads back (with RocksDB: only what its local files lack) before it is ready.
The cheapest faithful way to give it a million cases is therefore to write its changelog:
1. start a broker and alerts alone; publish one PetitionRegistered and one CaseAssigned (the
   topic specs' examples, dated now) and let alerts derive that case's state and write it to
   the changelog, exactly as in production (a forward deadline met, an acceptance deadline open);
2. stop alerts; write --cases copies of that changelog record, each with a new case id, to the
   partition alerts itself would choose (alerts.tables.partition_of);
3. start alerts again and time it until /readyz answers 200 (table recovered) and until its
   first scanner round has rebuilt the alert schedule from the table (every case parsed once,
   and copied to the digest mirror in SQLite); read its RSS, its CPU use over the next --watch
   seconds and the scanner rounds' mean duration (nothing falls due in that time, so a round
   only looks at the schedule: ALERTS_SCAN_INTERVAL_SECONDS, set to 5 s here);
4. with RocksDB, restart once more: the local files are kept, so nothing is read back.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from benchlib import BenchSuite, cpu_seconds, machine_line, metric_samples, rss_bytes, wait_until, write_json
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from alerts.tables import partition_of
from xinfang_common.cloudevents import utcnow
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

CHANGELOG = "xinfang-alerts-cases_by_id-changelog"


def metric(base_url: str, name: str) -> float:
    """One unlabelled sample of alerts' metrics page (0 if absent or unreachable)."""
    try:
        text = httpx.get(f"{base_url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return 0.0
    return metric_samples(text, name).get("", 0.0)


def restart_timed(suite: BenchSuite, base_url: str, cases: int) -> tuple[float, float, int, dict[str, Any]]:
    """Start alerts; seconds to ready, seconds to the schedule rebuilt, peak RSS meanwhile, and
    those figures for a JSON results file."""
    assert suite.suite is not None
    start = time.monotonic()
    suite.suite.start("alerts")
    pid = suite.pid("alerts")
    peak = 0

    def ready() -> bool:
        nonlocal peak
        peak = max(peak, rss_bytes(pid))
        try:
            return httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def rebuilt() -> bool:
        nonlocal peak
        peak = max(peak, rss_bytes(pid))
        return metric(base_url, "xinfang_alerts_schedule_rebuild_seconds") > 0

    recovery = wait_until(ready, 3600, "alerts recovery", interval=0.5)
    wait_until(rebuilt, 3600, "alert schedule rebuilt", interval=1)
    scheduled = metric(base_url, "xinfang_alerts_scheduled_cases")
    rebuild = metric(base_url, "xinfang_alerts_schedule_rebuild_seconds")
    total = time.monotonic() - start
    print(f"restart to ready (table of {cases} cases recovered): {recovery:.1f} s")
    print(
        f"  then schedule rebuilt from the table in {rebuild:.1f} s "
        f"({total:.1f} s after the start; {scheduled:.0f} cases scheduled)",
        flush=True,
    )
    figures = {
        "to_ready_s": round(recovery, 2),
        "schedule_rebuild_s": round(rebuild, 2),
        "to_rebuilt_s": round(total, 2),
        "scheduled_cases": int(scheduled),
        "peak_rss_mib": round(peak / 2**20, 1),
    }
    return recovery, rebuild, peak, figures


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
    parser.add_argument("--store", choices=("memory", "rocksdb"), default="memory")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    print(machine_line())
    print(f"table store: {args.store}")
    data_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-alerts-"))
    env = {"ALERTS_TABLE_STORE": f"{args.store}://", "ALERTS_DATA_DIR": str(data_dir)}
    env["ALERTS_SCAN_INTERVAL_SECONDS"] = "5"
    try:
        return run(args, env)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The measurement, with alerts' environment ``env``."""
    with BenchSuite(services=("alerts",), keep=args.keep, env={"alerts": env}) as suite:
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
        written_s = time.monotonic() - start
        print(f"wrote {args.cases} case states to {CHANGELOG} in {written_s:.0f} s", flush=True)

        base_url = suite.urls["alerts"]
        recovery, _, peak, restart = restart_timed(suite, base_url, args.cases + 1)
        pid = suite.pid("alerts")
        rss = rss_bytes(pid)
        print(f"alerts RSS when rebuilt: {rss / 2**20:.0f} MiB (peak so far {peak / 2**20:.0f} MiB)")
        per_case = (rss - idle_rss) / max(args.cases, 1)
        print(f"  about {per_case / 1024:.2f} KiB per tracked case above the 1-case baseline")
        scans0 = metric(base_url, "xinfang_alerts_scan_seconds_count")
        spent0 = metric(base_url, "xinfang_alerts_scan_seconds_sum")
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - t0 < args.watch:
            peak = max(peak, rss_bytes(pid))
            time.sleep(1)
        busy = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        scans = metric(base_url, "xinfang_alerts_scan_seconds_count") - scans0
        spent = metric(base_url, "xinfang_alerts_scan_seconds_sum") - spent0
        print(
            f"after the rebuild, alerts used {100 * busy:.1f}% of a core over {args.watch:.0f} s; "
            f"RSS now {rss_bytes(pid) / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB"
        )
        mean_ms: float | None = None
        if scans:
            mean_ms = 1000 * spent / scans
            print(f"  {scans:.0f} scanner rounds with nothing due: {mean_ms:.2f} ms each on average")
        figures: dict[str, Any] = {
            "script": "alerts_memory.py",
            "machine": machine_line(),
            "store": args.store,
            "cases": args.cases,
            "state_bytes": len(value),
            "changelog_write_s": round(written_s, 1),
            "idle_rss_mib": round(idle_rss / 2**20, 1),
            "rss_rebuilt_mib": round(rss / 2**20, 1),
            "peak_rss_mib": round(peak / 2**20, 1),
            "kib_per_case": round(per_case / 1024, 3),
            "restart": restart,
            "watch_s": args.watch,
            "cpu_share_after": round(busy, 4),
            "scan_rounds": int(scans),
            "scan_mean_ms": None if mean_ms is None else round(mean_ms, 3),
        }
        if args.store == "rocksdb":
            suite.suite.stop("alerts")
            print("restart keeping the local RocksDB files:")
            *_, again = restart_timed(suite, base_url, args.cases + 1)
            again["rss_rebuilt_mib"] = round(rss_bytes(suite.pid("alerts")) / 2**20, 1)
            print(f"  alerts RSS when rebuilt: {again['rss_rebuilt_mib']:.0f} MiB")
            figures["restart_with_local_files"] = again
        if args.cases < 1_000_000:
            scale = 1_000_000 / max(args.cases, 1)
            print(
                "extrapolated to 1,000,000 cases (linear): "
                f"RSS ~{(idle_rss + per_case * 1_000_000) / 2**20:.0f} MiB, "
                f"recovery ~{recovery * scale:.0f} s"
            )
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
