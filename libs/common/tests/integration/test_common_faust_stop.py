"""Stopping an embedded faust app commits the offsets of what its agents processed."""

import asyncio
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec

from xinfang_common.settings import KafkaSettings, StreamSettings
from xinfang_common.streams import make_faust_app, spec_topic, stop_faust_app
from xinfang_common.topics import CASE_REPLIED

pytestmark = pytest.mark.kafka


def test_stop_commits_the_offsets_of_processed_events(kafka_broker: str, tmp_path: Path) -> None:
    asyncio.run(_stop_commits(kafka_broker, tmp_path))


async def _stop_commits(kafka_broker: str, tmp_path: Path) -> None:
    group = f"common-faust-stop-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    partitions = [TopicPartition(CASE_REPLIED.name, p) for p in range(CASE_REPLIED.partitions)]
    try:
        # Start at the end as of now: the topic is shared with other tests.
        admin.reset_group_offsets(group, dict.fromkeys(partitions, OffsetSpec.LATEST))
        # No periodic commit within the test: only the stop can commit.
        app = make_faust_app(
            "faust-stop-test",
            KafkaSettings(bootstrap_servers=kafka_broker, session_timeout_ms=6000),
            StreamSettings(data_dir=tmp_path),
            id=group,
            broker_commit_interval=3600,
            broker_commit_every=1_000_000,
        )
        run = uuid.uuid4().hex
        keys = {f"stop-{run}-{i}".encode() for i in range(12)}
        seen: set[bytes] = set()
        done = asyncio.Event()

        @app.agent(spec_topic(app, CASE_REPLIED))
        async def count(stream):  # type: ignore[no-untyped-def]
            async for message in stream.events():
                if message.key in keys:
                    seen.add(message.key)
                    if seen == keys:
                        done.set()

        await app.start()
        try:
            producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
            sent = [producer.send(CASE_REPLIED.name, key=key, value=b"{}") for key in keys]
            offsets: dict[int, int] = {}
            for future in sent:
                record = future.get(timeout=30)
                offsets[record.partition] = max(offsets.get(record.partition, -1), record.offset)
            producer.close()
            await asyncio.wait_for(done.wait(), 30)
        finally:
            await stop_faust_app(app)
        committed = admin.list_group_offsets({group: partitions})[group]
    finally:
        admin.close()
    for partition, offset in offsets.items():
        tp = TopicPartition(CASE_REPLIED.name, partition)
        assert committed[tp].offset > offset, (partition, committed[tp], offset)
