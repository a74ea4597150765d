"""Pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:
- ``kafka_broker``: bootstrap address of a throwaway single-node broker started once per test
  session from ``deploy/local/kafka.sh``; every topic of the suite already exists.
- ``suite_kafka_broker``: another such broker, only for the end-to-end suite.
- ``database_url``: a fresh empty database per test, on SQLite and, when
  ``XINFANG_TEST_DATABASE_URL`` is set, also on PostgreSQL.

Under pytest-xdist every worker is a test session of its own: it starts its own brokers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import TOPICS

POSTGRES_ENV = "XINFANG_TEST_DATABASE_URL"


def pytest_configure(config: pytest.Config) -> None:
    # Apps built in tests from their environment verify the tokens xinfang_common.testing.auth signs.
    from xinfang_common.testing.auth import TEST_JWT_KEY

    os.environ.setdefault("XINFANG_AUTH_JWT_KEY", TEST_JWT_KEY)
    config.addinivalue_line("markers", "kafka: talks to a real Kafka broker")
    config.addinivalue_line("markers", "database: talks to a real database")
    config.addinivalue_line("markers", "e2e: runs the services as separate processes")


LONG_FIRST = ("tests/e2e/", "tests/faults/")
"""Under xdist these start first: the end-to-end group and the fault drills take minutes each,
and begun last they would leave one worker busy alone at the end while the other sits idle."""


def _start_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(LONG_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONG_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist's ``--dist loadgroup`` (what ``make test`` runs), each test module is
    one unit of work, as with ``--dist loadscope``: its module-scoped fixtures (a service, a
    suite) are set up once, on one worker. A group set earlier (tests/e2e puts all its modules
    in one) is kept. Each worker starts its own brokers, so workers share no topic or group.
    The longest units are handed out first (``LONG_FIRST``); the order within each is kept."""
    if not config.pluginmanager.hasplugin("xdist") or not getattr(config.option, "numprocesses", None):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    items.sort(key=_start_rank)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_port_pair() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two adjacent free ports on loopback")


def repo_root(start: Path) -> Path:
    """The checkout's root: the nearest folder above ``start`` holding deploy/local/kafka.sh."""
    for folder in (start, *start.parents):
        if (folder / "deploy" / "local" / "kafka.sh").is_file():
            return folder
    raise RuntimeError(f"deploy/local/kafka.sh not found above {start}")


def _wait_for_group_coordinator(bootstrap: str, timeout: float = 120.0) -> None:
    """Commit once for a throwaway group, so that the offsets topic and its coordinator exist.

    A fresh broker creates them on the first group request and answers "coordinator not
    available" meanwhile; tests that manage groups through the admin client do not retry.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id="xinfang-test-warmup", enable_auto_commit=False
    )
    partition = TopicPartition(TOPICS[0].name, 0)
    consumer.assign([partition])
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                consumer.commit({partition: OffsetAndMetadata(0, "", -1)})
                return
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


@contextmanager
def _throwaway_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Start a single-node broker from ``deploy/local/kafka.sh`` with the suite's topics; stop it after."""
    script = repo_root(Path(str(request.config.rootpath))) / "deploy" / "local" / "kafka.sh"
    data_dir = tmp_path_factory.mktemp("kafka")
    port = _free_port_pair()
    args = ["--port", str(port), "--controller-port", str(port + 1), "--data-dir", str(data_dir)]
    started = subprocess.run(
        ["bash", str(script), "start", *args], capture_output=True, text=True, timeout=600
    )
    if started.returncode != 0:
        pytest.fail(f"local Kafka broker did not start:\n{started.stderr[-4000:]}")
    bootstrap = f"127.0.0.1:{port}"
    try:
        ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
        _wait_for_group_coordinator(bootstrap)
        yield bootstrap
    finally:
        subprocess.run(["bash", str(script), "stop", *args], capture_output=True, timeout=120)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker for this test session, with the suite's topics."""
    existing = os.environ.get("XINFANG_TEST_KAFKA_BOOTSTRAP")
    if existing:
        ensure_topics(KafkaSettings(bootstrap_servers=existing))
        yield existing
        return
    with _throwaway_broker(request, tmp_path_factory) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def suite_kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A broker of its own for the end-to-end suite, always freshly started.

    The services run with their production consumer groups, which on the shared test broker
    would first replay every message the other tests produced; on a broker of their own they
    see only what the end-to-end tests send, as on a fresh `make up`.
    """
    with _throwaway_broker(request, tmp_path_factory) as bootstrap:
        yield bootstrap


def _database_params() -> list[str]:
    params = ["sqlite"]
    if os.environ.get(POSTGRES_ENV):
        params.append("postgresql")
    return params


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database for one test (SQLite file, or a PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(os.environ[POSTGRES_ENV])
    name = f"xf_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
