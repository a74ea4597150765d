"""Kafka stopped under load: intake keeps answering 201, and everything is delivered after."""

import pytest
from kafka_stop import scenario

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_intake_answers_201_while_kafka_is_down_and_delivers_everything_after(fault_suite):
    during, topic, view = scenario(
        fault_suite, rate=30, duration=14, at=3, down=8, kill=False, settle_seconds=120
    )

    assert set(during) == {"201"}, during
    assert topic.acknowledged == topic.sent
    assert (topic.lost, topic.duplicated) == (0, 0), topic.line()
    assert (view.lost, view.duplicated) == (0, 0), view.notes[:5]
