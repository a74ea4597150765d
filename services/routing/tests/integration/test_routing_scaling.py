"""Two routing workers share the partitions; a killed one's partitions move to the other.

Both workers are separate ``uvicorn`` processes started the way ``make up`` starts the
services (``xinfang_common.devrun``), in one consumer group and on one database. The shared
database is PostgreSQL when ``XINFANG_TEST_DATABASE_URL`` is set, else one SQLite file that both
processes open in WAL mode with a busy timeout: each event is one short transaction keyed by its
event id, so two processes on one host are safe (writes just take turns); that does not hold for
processes on different hosts or a network filesystem, which is why replicas in a cluster must
share PostgreSQL.
"""

import logging
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from xinfang_common.cloudevents import CloudEvent, decode_event
from xinfang_common.devrun import ServiceSpec, Suite, suite_specs
from xinfang_common.events import CaseAssigned, PetitionRegistered
from xinfang_common.testing.plugin import POSTGRES_ENV, free_port, repo_root
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

pytestmark = [pytest.mark.kafka, pytest.mark.database]

PETITIONS = 300
PER_SECOND = 40
WORKERS = ("routing-1", "routing-2")
SESSION_TIMEOUT_MS = 6000  # the broker's minimum: how soon a killed worker's partitions move

MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]


def _assignments(admin: KafkaAdminClient, group: str) -> dict[str, set[int]]:
    """Partitions of the petitions topic held by each live member of ``group``, by client id."""
    described = admin.describe_groups([group])[group]
    held: dict[str, set[int]] = {}
    for member in described.get("members") or ():
        partitions: set[int] = set()
        assignment = member.get("member_assignment") or {}
        for topic in assignment.get("assigned_partitions") or ():
            if topic["topic"] == PETITION_REGISTERED.name:
                partitions.update(topic["partitions"])
        held[member["client_id"]] = held.get(member["client_id"], set()) | partitions
    return held


def _wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    logs: Path,
    explain: Callable[[], str] = lambda: "",
) -> Any:
    """Poll ``check`` until it returns something truthy; else fail with ``explain()`` and the logs."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                for log in sorted(logs.glob("*.log"))
            )
            pytest.fail(
                f"timed out after {timeout:.0f}s waiting for {what}; last value {result!r}\n"
                f"{explain()}\n{tails}"
            )
        time.sleep(0.2)


def _end_offsets(consumer: KafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    return dict(consumer.end_offsets(partitions))


@pytest.fixture
def admin(kafka_broker: str, caplog: pytest.LogCaptureFixture) -> Iterator[KafkaAdminClient]:
    # faust's assignor adds its own data to the member metadata, which kafka-python warns it
    # cannot decode; the assignments themselves decode fine.
    caplog.set_level(logging.ERROR, logger="kafka.admin._groups")
    client = KafkaAdminClient(bootstrap_servers=kafka_broker)
    yield client
    client.close()


@pytest.fixture
def assigned_reader(kafka_broker: str) -> Iterator[KafkaConsumer]:
    """A consumer of CaseAssigned positioned at the topic's end as of the test's start."""
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker, enable_auto_commit=False, group_id=None)
    starts = _end_offsets(consumer, CASE_ASSIGNED.name)
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    yield consumer
    consumer.close()


@pytest.fixture
def workers(
    kafka_broker: str, routing_group: str, database_url: str, tmp_path: Path
) -> Iterator[tuple[Suite, str]]:
    """Two routing processes in a new consumer group that starts at the end of every topic."""
    group = routing_group  # starts at the end of the topics: other tests share this broker
    root = repo_root(Path(__file__).resolve())
    (base,) = [spec for spec in suite_specs(root, tmp_path, kafka_broker) if spec.name == "routing"]
    specs = [
        ServiceSpec(
            name,
            base.factory,
            free_port(),
            {
                **base.env,
                "ROUTING_CONSUMER_GROUP": group,
                "ROUTING_DATABASE_URL": database_url,
                "ROUTING_TRAINING_DATA_PATH": str(tmp_path / f"{name}-training.csv"),
                "XINFANG_STREAM_DATA_DIR": str(tmp_path / f"{name}-faust"),
                "XINFANG_KAFKA_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
                # The client id names the worker in the group's member list.
                "XINFANG_KAFKA_CLIENT_ID_PREFIX": name,
            },
        )
        for name in WORKERS
    ]
    suite = Suite(specs, tmp_path / "logs")
    try:
        suite.start()
        suite.wait_ready(timeout=60)
        yield suite, group
    finally:
        suite.stop(kill=True)


@pytest.mark.parametrize(
    "database_url", ["postgresql" if os.environ.get(POSTGRES_ENV) else "sqlite"], indirect=True
)
def test_a_killed_workers_partitions_move_without_a_lost_or_doubled_assignment(
    workers: tuple[Suite, str],
    admin: KafkaAdminClient,
    assigned_reader: KafkaConsumer,
    kafka_broker: str,
    make_registered: MakeRegistered,
    tmp_path: Path,
) -> None:
    suite, group = workers
    logs = tmp_path / "logs"
    victim, survivor = (f"{name}-routing" for name in WORKERS)

    # Both workers hold a share of the partitions.
    before = _wait_for(
        "both workers to hold partitions",
        lambda: (
            (held := _assignments(admin, group)).keys() == {victim, survivor} and all(held.values()) and held
        ),
        timeout=30,
        logs=logs,
    )
    assert before[victim].isdisjoint(before[survivor])
    assert before[victim] | before[survivor] == set(range(PETITION_REGISTERED.partitions))

    run = uuid.uuid4().hex[:10]
    case_ids = [f"scale-{run}-{i:03d}" for i in range(PETITIONS)]
    partition_of: dict[str, int] = {}
    last_offset: dict[int, int] = {}
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    try:
        started = time.monotonic()
        for i, case_id in enumerate(case_ids):
            if i == PETITIONS // 2:
                # kill -9 mid-stream: no leaving the group, no last commit.
                suite.processes[WORKERS[0]].send_signal(signal.SIGKILL)
            event = make_registered(
                case_id=case_id,
                region="430104",
                category="城乡建设",
                title=f"工地夜间施工噪音扰民 {uuid.uuid4().hex[:8]}",
                content=f"第{i}号：{uuid.uuid4().hex} 工地连续多日夜间施工。",
            )
            sent = producer.send(
                PETITION_REGISTERED.name,
                key=case_id.encode(),
                value=event.to_json_bytes(),
                headers=event.kafka_headers(),
            )
            record = sent.get(timeout=30)
            partition_of[case_id] = record.partition
            last_offset[record.partition] = max(last_offset.get(record.partition, -1), record.offset)
            # A steady rate, as from intake, so that the kill lands while both are working.
            pause = started + (i + 1) / PER_SECOND - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    finally:
        producer.close()
    suite.processes[WORKERS[0]].wait(timeout=10)

    # The survivor alone holds every partition once the victim's session has expired.
    _wait_for(
        "the survivor to take every partition",
        lambda: _assignments(admin, group) == {survivor: set(range(PETITION_REGISTERED.partitions))},
        timeout=30,
        logs=logs,
    )
    after_kill = case_ids[PETITIONS // 2 :]
    assert any(partition_of[c] in before[victim] for c in after_kill), "no petition tested the takeover"

    # Every case is assigned ...
    wanted = set(case_ids)
    event_ids: dict[str, set[str]] = defaultdict(set)

    def collect() -> bool:
        for batch in assigned_reader.poll(timeout_ms=500).values():
            for message in batch:
                key = (message.key or b"").decode()
                if key in wanted:
                    event = decode_event(message.value, CaseAssigned, CASE_ASSIGNED.event_type)
                    event_ids[event.data.case_id].add(event.id)
        return wanted <= event_ids.keys()

    def missing() -> str:
        absent = sorted(wanted - event_ids.keys())
        return "no CaseAssigned for: " + ", ".join(
            f"{case} (partition {partition_of[case]}, "
            f"{'victim' if partition_of[case] in before[victim] else 'survivor'}'s before the kill)"
            for case in absent
        )

    _wait_for("a CaseAssigned for every case", collect, timeout=45, logs=logs, explain=missing)

    # ... and, after the survivor has stopped as on a rollout, exactly once.
    proc = suite.processes[WORKERS[1]]
    proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the SIGTERM it caught once its shutdown is complete, so a clean stop
    # ends "killed by SIGTERM"; its log tells a complete shutdown from an aborted one.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (logs / f"{WORKERS[1]}.log").read_text(errors="replace")
    ends = _end_offsets(assigned_reader, CASE_ASSIGNED.name)
    while any(assigned_reader.position(tp) < end for tp, end in ends.items()):
        collect()
    doubled = {case: ids for case, ids in event_ids.items() if len(ids) != 1}
    assert not doubled, f"cases assigned under more than one event id: {doubled}"

    # Its SIGTERM committed what it processed: a restart would not route these petitions again.
    committed = admin.list_group_offsets({group: None})[group]
    behind = {
        partition: (committed.get(TopicPartition(PETITION_REGISTERED.name, partition)), offset)
        for partition, offset in last_offset.items()
        if (done := committed.get(TopicPartition(PETITION_REGISTERED.name, partition))) is None
        or done.offset <= offset
    }
    assert not behind, f"offsets not committed past this test's petitions: {behind}"
