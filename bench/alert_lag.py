"""Alert lag: how long after a deadline's instant passes its alert is published.

    .venv/bin/python bench/alert_lag.py --cases 1000
    .venv/bin/python bench/alert_lag.py --cases 1000 --scan-interval 5

Starts a broker, intake, routing and alerts of its own and registers --cases petitions (real
texts) so that alerts schedules their acceptance deadlines, all due at 24:00 of the same day
two weeks ahead. Then restarts alerts with its clock shifted (ALERTS_CLOCK_ORIGIN; speed 1, so
a second is a second) to --lead seconds before that instant: the earlier tiers (approaching,
due) are raised at once, then every case's "overdue" alert falls due at the same instant, the
heaviest case. Reads xinfang.alert.raised.v1 and reports raised_at - due_at of the overdue
alerts, and the change of alerts' own xinfang_alerts_alert_lag_seconds histogram over them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from datetime import datetime, timedelta

import httpx
from benchlib import (
    BenchSuite,
    PetitionSource,
    latency_figures,
    latency_line,
    load_complaints,
    machine_line,
    metric_samples,
    wait_until,
    write_json,
)
from kafka import KafkaConsumer, TopicPartition
from load import run_load

from xinfang_common.cloudevents import utcnow
from xinfang_common.topics import ALERT_RAISED


class AlertReader(threading.Thread):
    """Reads the alert topic from its end: each alert's tier, due_at and raised_at."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        partitions = [
            TopicPartition(ALERT_RAISED.name, p)
            for p in self.consumer.partitions_for_topic(ALERT_RAISED.name) or ()
        ]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            self.consumer.position(tp)
        self.alerts: dict[str, dict[str, object]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for records in self.consumer.poll(timeout_ms=200).values():
                for record in records:
                    data = json.loads(record.value)["data"]
                    self.alerts.setdefault(data["alert_id"], data)
        self.consumer.close()

    def tier(self, tier: str) -> list[dict[str, object]]:
        """The alerts read of one tier."""
        return [a for a in list(self.alerts.values()) if a["tier"] == tier]


def lag_histogram(url: str) -> dict[str, float]:
    """alerts' xinfang_alerts_alert_lag_seconds buckets and count."""
    return metric_samples(httpx.get(f"{url}/metrics", timeout=10).text, "xinfang_alerts_alert_lag_seconds")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="registration rate")
    parser.add_argument(
        "--lead",
        type=float,
        default=180.0,
        help="seconds between alerts' restart and the instant: enough for the earlier tiers of every "
        "case to be published first (about 50 s for 1,000 cases on 2 busy cores)",
    )
    parser.add_argument("--scan-interval", type=float, default=30.0, help="ALERTS_SCAN_INTERVAL_SECONDS")
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    print(machine_line())
    env = {"alerts": {"ALERTS_SCAN_INTERVAL_SECONDS": str(args.scan_interval)}}
    with BenchSuite(services=("intake", "routing", "alerts"), env=env) as suite:
        source = PetitionSource(load_complaints(args.data))
        headers = {"Authorization": f"Bearer {suite.admin_token()}"}
        result = asyncio.run(
            run_load(
                f"{suite.urls['intake']}/v1/petitions",
                source,
                headers=headers,
                rate=args.rate,
                count=args.cases,
            )
        )
        case_ids = [o.case_id for o in result.acked if o.case_id]
        print(f"registered {len(case_ids)} petitions ({result.throughput():.0f}/s)", flush=True)
        dues: dict[str, datetime] = {}
        with suite.client() as client:

            def scheduled() -> bool:
                for case_id in case_ids:
                    if case_id in dues:
                        continue
                    response = client.get(f"{suite.urls['alerts']}/v1/deadlines/{case_id}")
                    if response.status_code == 200:
                        for d in response.json()["deadlines"]:
                            if d["kind"] == "acceptance":
                                dues[case_id] = datetime.fromisoformat(d["due_at"])
                return len(dues) == len(case_ids)

            wait_until(scheduled, 300, "acceptance deadlines", interval=1)
        instant = min(dues.values())
        chosen = {c for c, d in dues.items() if d == instant}
        later = len(dues) - len(chosen)
        print(
            f"{len(chosen)} acceptance deadlines due at {instant.isoformat()} (others later: {later})",
            flush=True,
        )

        reader = AlertReader(suite.bootstrap)
        reader.start()
        assert suite.suite is not None
        spec = next(s for s in suite.suite.specs if s.name == "alerts")
        suite.suite.stop("alerts")
        real_origin = utcnow() + timedelta(seconds=5)
        spec.env.update(
            {
                "ALERTS_CLOCK_ORIGIN": (instant - timedelta(seconds=args.lead - 5)).isoformat(),
                "ALERTS_CLOCK_REAL_ORIGIN": real_origin.isoformat(),
            }
        )
        suite.suite.start("alerts")
        suite.suite.wait_ready(timeout=300)
        wait_until(lambda: len(reader.tier("due")) >= len(dues), 600, "earlier tiers raised", interval=0.5)
        before = lag_histogram(suite.urls["alerts"])
        real_instant = real_origin + timedelta(seconds=args.lead - 5)
        wait_s = (real_instant - utcnow()).total_seconds()
        if wait_s < 0:
            print(f"warning: the earlier tiers took {-wait_s:.0f} s past the instant; raise --lead")
        else:
            print(f"earlier tiers raised {wait_s:.0f} s before the instant", flush=True)
        wait_until(
            lambda: len({a["case_id"] for a in reader.tier("overdue")} & chosen) == len(chosen),
            600 + max(wait_s, 0),
            "overdue alerts",
            interval=0.5,
        )
        after = lag_histogram(suite.urls["alerts"])
        reader.stopping.set()
        overdue = [a for a in reader.tier("overdue") if a["case_id"] in chosen]
        lags = [
            (
                datetime.fromisoformat(str(a["raised_at"])) - datetime.fromisoformat(str(a["due_at"]))
            ).total_seconds()
            for a in overdue
        ]
        print(f"scan interval {args.scan_interval:.0f} s, {len(overdue)} overdue alerts at one instant")
        print(latency_line("alert lag (raised_at - due instant, from the topic)", lags))
        if lags:
            # The first alert waits for the next scanner round; the rest for publication behind it.
            print(f"  first alert {min(lags):.1f} s after the instant, last {max(lags):.1f} s")
        diff = {
            k.split("le=")[1].rstrip("}").strip('"'): after.get(k, 0) - before.get(k, 0)
            for k in after
            if k.startswith("_bucket")
        }
        print("alerts' own lag histogram over those alerts (le: count):")
        print("  " + ", ".join(f"{le}: {v:.0f}" for le, v in diff.items()))
        write_json(
            args.json,
            {
                "script": "alert_lag.py",
                "machine": machine_line(),
                "cases": args.cases,
                "registered": len(case_ids),
                "registration_rate_per_s": round(result.throughput(), 2),
                "at_one_instant": len(chosen),
                "overdue_alerts_read": len(overdue),
                "scan_interval_s": args.scan_interval,
                "lead_s": args.lead,
                "earlier_tiers_margin_s": round(wait_s, 1),
                "lag": latency_figures(lags),
                "first_s": round(min(lags), 2) if lags else None,
                "service_histogram_le_counts": diff,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
