"""Topic creation against a real broker: every topic exists, and a second run changes nothing."""

import pytest
from kafka import KafkaAdminClient

from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import TOPICS, all_topic_names

pytestmark = pytest.mark.kafka


def test_every_topic_exists_with_its_partitions_and_rerun_is_a_no_op(kafka_broker):
    settings = KafkaSettings(bootstrap_servers=kafka_broker)

    assert ensure_topics(settings) == []  # the fixture already created them

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    try:
        assert set(all_topic_names()) <= set(admin.list_topics())
        described = {t["name"]: t for t in admin.describe_topics([s.name for s in TOPICS])}
        for spec in TOPICS:
            assert len(described[spec.name]["partitions"]) == spec.partitions
    finally:
        admin.close()
