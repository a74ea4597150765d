"""Ceilings for the suite's figures, measured the same way on the same machine.

    .venv/bin/python bench/ceilings.py                        # both, own broker
    .venv/bin/python bench/ceilings.py --bootstrap 127.0.0.1:19092 --only kafka

1. A bare FastAPI JSON endpoint (bench/bare_app.py) served by uvicorn exactly as devrun serves
   intake (one process, same flags), loaded by the same generator with the same petition bodies:
   the most intake's POST /v1/petitions could do on this server setup.
2. A bare Kafka produce -> consume round trip at 300 messages/s: kafka-python producer with
   intake's producer settings (acks=all, idempotent, linger 5 ms), a consumer in another process
   timestamping each message; the least intake-to-assigned could take over one hop (the suite's
   path has two: intake -> routing -> intake's readers, plus routing's decision).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    Broker,
    PetitionSource,
    TopicWatcher,
    latency_figures,
    latency_line,
    load_complaints,
    machine_line,
    wait_until,
    write_json,
)
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from load import LoadResult, run_load

from xinfang_common.testing.plugin import free_port

HERE = Path(__file__).resolve().parent
ROUNDTRIP_TOPIC = "xinfang.bench.roundtrip.v1"


async def fastapi_ceiling(
    *, connections: int, duration: float, path: str = "/sync", data: str | None = None
) -> LoadResult:
    """Serve bare_app with uvicorn as devrun serves the services and load it as fast as possible."""
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured load
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:create_app",
            "--factory",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    )
    try:
        import httpx

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        await asyncio.to_thread(wait_until, up, 60, "bare app")
        source = PetitionSource(load_complaints(data))
        url = f"http://127.0.0.1:{port}{path}"
        await run_load(url, source, count=200, connections=4)
        return await run_load(url, source, duration=duration, connections=connections)
    finally:
        server.terminate()
        server.wait(10)


def ensure_roundtrip_topic(bootstrap: str, partitions: int = 6) -> None:
    """The bench topic (the broker creates none on demand), partitioned like the suite's."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(ROUNDTRIP_TOPIC, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def kafka_roundtrip(bootstrap: str, *, rate: float, duration: float) -> tuple[list[float], list[float]]:
    """Produce at ``rate``/s for ``duration`` s; (produce -> consumed, produce -> acked) seconds."""
    ensure_roundtrip_topic(bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    sent: dict[str, float] = {}
    acked: list[float] = []
    with TopicWatcher(bootstrap, ROUNDTRIP_TOPIC) as watcher:
        for _ in range(50):  # warm-up: metadata, connections
            producer.send(ROUNDTRIP_TOPIC, key=b"warm", value=b"{}")
        producer.flush()
        start = time.time()
        count = int(rate * duration)
        for i in range(count):
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            key = str(uuid.uuid4())
            value = json.dumps({"id": key, "data": {"case_id": key, "filler": "x" * 600}}).encode()
            at = time.time()
            sent[key] = at
            future = producer.send(ROUNDTRIP_TOPIC, key=key.encode(), value=value)
            future.add_callback(lambda _, at=at: acked.append(time.time() - at))
        producer.flush()
        watcher.wait_for(set(sent), 60)
        latencies = [watcher.by_key[k][0].at - t for k, t in sent.items() if k in watcher.by_key]
    producer.close()
    return latencies, acked


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["fastapi", "kafka"], help="measure one ceiling only")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=300.0, help="round-trip messages per second")
    parser.add_argument("--bootstrap", help="an existing broker (default: start one of our own)")
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    print(machine_line())
    figures: dict[str, Any] = {
        "script": "ceilings.py",
        "machine": machine_line(),
        "connections": args.connections,
        "duration_s": args.duration,
    }
    if args.only in (None, "fastapi"):
        for path in ("/sync", "/async"):
            result = asyncio.run(
                fastapi_ceiling(
                    connections=args.connections, duration=args.duration, path=path, data=args.data
                )
            )
            for line in result.report(f"bare FastAPI POST {path}"):
                print(line)
            figures.setdefault("fastapi", {})[path.strip("/")] = result.figures()
    if args.only in (None, "kafka"):
        broker = None
        bootstrap = args.bootstrap
        if not bootstrap:
            broker = Broker(Path(tempfile.mkdtemp(prefix="xinfang-bench-kafka-")))
            broker.start()
            bootstrap = broker.bootstrap
        try:
            latencies, acks = kafka_roundtrip(bootstrap, rate=args.rate, duration=args.duration)
        finally:
            if broker is not None:
                broker.stop()
                subprocess.run(["rm", "-rf", str(broker.data_dir)], check=False)
        print(f"bare Kafka round trip at {args.rate:.0f}/s (acks=all, {os.cpu_count()} cores):")
        print(latency_line("  produce -> consumed", latencies))
        print(latency_line("  produce -> acked", acks))
        figures["kafka"] = {
            "rate_per_s": args.rate,
            "sent": int(args.rate * args.duration),
            "roundtrip": latency_figures(latencies),
            "acked": latency_figures(acks),
        }
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
