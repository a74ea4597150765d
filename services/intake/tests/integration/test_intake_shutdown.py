"""SIGTERM while petitions are being registered: every accepted petition's event still gets out."""

import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from xinfang_common.devrun import ServiceSpec, Suite
from xinfang_common.testing.auth import TEST_JWT_KEY, bearer
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.testing.plugin import free_port
from xinfang_common.topics import PETITION_REGISTERED

pytestmark = [pytest.mark.kafka, pytest.mark.database]

REQUESTS = 60
GRACE_SECONDS = 30  # what the Kubernetes manifests allow beyond the server's own drain


def test_sigterm_publishes_every_accepted_petition_and_exits_cleanly(
    kafka_broker: str,
    database_url: str,
    encryption_key: str,
    fresh_group: str,
    petition_body: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    spec = ServiceSpec(
        "intake",
        "intake.main:create_app",
        free_port(),
        {
            "XINFANG_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
            "XINFANG_AUTH_JWT_KEY": TEST_JWT_KEY,
            "INTAKE_DATABASE_URL": database_url,
            "INTAKE_ENCRYPTION_KEYS": encryption_key,
            "INTAKE_CONSUMER_GROUP": fresh_group,
        },
    )
    logs = tmp_path / "logs"
    suite = Suite([spec], logs)
    suite.start()
    try:
        suite.wait_ready(timeout=60)
        proc = suite.processes["intake"]
        accepted: list[str] = []
        halfway = threading.Event()

        def register(i: int) -> None:
            try:
                resp = client.post("/v1/petitions", json=petition_body(title=f"夜间施工噪音扰民 第{i}号"))
            except httpx.TransportError:
                return  # refused once the server closed its socket: never accepted
            if resp.status_code == 201:
                accepted.append(resp.json()["id"])
            if len(accepted) >= REQUESTS // 3:
                halfway.set()

        with (
            httpx.Client(base_url=spec.url, headers=bearer(), timeout=30) as client,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            for i in range(REQUESTS):
                pool.submit(register, i)
            assert halfway.wait(timeout=60), "registrations did not get going"
            # Mid-stream, with requests in flight and events perhaps not yet relayed.
            proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=GRACE_SECONDS)
    finally:
        suite.stop(kill=True)

    log = (logs / "intake.log").read_text(errors="replace")
    # uvicorn re-raises the SIGTERM it caught after a complete shutdown.
    assert returncode in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log, log[-3000:]
    assert len(accepted) >= REQUESTS // 3

    wanted = {case_id.encode() for case_id in accepted}
    messages = read_messages(
        kafka_broker,
        PETITION_REGISTERED.name,
        until=lambda msgs: wanted <= {m.key for m in msgs},
        timeout=30,
    )
    missing = wanted - {m.key for m in messages}
    assert not missing, f"{len(missing)} accepted petitions have no event on the topic"
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            pending = conn.scalar(text("SELECT count(*) FROM outbox_messages WHERE published_at IS NULL"))
    finally:
        engine.dispose()
    assert pending == 0
