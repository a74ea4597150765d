"""kill -9 of intake during load: every petition answered 201 is assigned exactly once."""

import pytest
from intake_kill import scenario

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_every_acknowledged_petition_is_assigned_once_after_intake_is_killed(fault_suite):
    topic, view = scenario(fault_suite, rate=30, duration=8, kills=1, settle_seconds=90)

    assert topic.acknowledged > 0
    assert (topic.lost, topic.duplicated) == (0, 0), topic.line()
    assert (view.lost, view.duplicated) == (0, 0), view.notes[:5]
