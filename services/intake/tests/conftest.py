"""Fixtures shared by the intake tests."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from intake.config import IntakeSettings
from intake.consumers import HANDLERS
from intake.main import create_app
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests, staff_client


@pytest.fixture
def encryption_key() -> str:
    """A fresh keyring of one AES-256 key with an id, as production configures it."""
    return f"test:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def petition_body() -> Callable[..., dict[str, Any]]:
    """A valid POST /v1/petitions body; keyword arguments override fields."""

    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "channel": "online",
            "petition_type": "claim",
            "category": "城乡建设",
            "title": "小区楼下夜间施工噪音扰民",
            "content": "某小区旁工地连续多日夜间施工，影响居民休息，请求相关部门处理。",
            "region": "430104",
            "petitioners": [
                {
                    "name": "张三丰",
                    "id_number": "11010519491231002X",
                    "phone": "13812345678",
                    "address": "长沙市岳麓区某街道1号",
                }
            ],
        }
        body.update(overrides)
        return body

    return make


def _wait_until(predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


Waiter = Callable[..., Any]


@pytest.fixture
def wait_until() -> Waiter:
    """``wait_until(predicate, timeout=30)``: poll until ``predicate()`` is truthy, return it."""
    return _wait_until


@pytest.fixture
def fresh_group(kafka_broker: str) -> str:
    """A new consumer group whose committed offsets on intake's topics are at their current end.

    The broker is shared with other tests: starting at the end keeps this test from replaying
    (and dead-lettering) everybody else's messages.
    """
    group = f"xinfang-intake-test-{uuid.uuid4().hex[:12]}"
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker, group_id=group, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(spec.name, p) for spec, _ in HANDLERS.values() for p in range(spec.partitions)
        ]
        consumer.assign(partitions)
        consumer.seek_to_end(*partitions)
        consumer.commit({tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in partitions})
    finally:
        consumer.close()
    return group


@pytest.fixture
def producer(kafka_broker: str) -> Iterator[KafkaProducer]:
    """A producer to put test messages on the broker."""
    p = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    yield p
    p.close()


@pytest.fixture
def intake_app(database_url: str, encryption_key: str) -> Callable[..., FastAPI]:
    """A factory of intake apps on this test's database; Kafka and settings overridable."""

    def make(bootstrap: str = "127.0.0.1:1", **overrides: Any) -> FastAPI:
        fields: dict[str, Any] = {
            "database_url": database_url,
            "encryption_keys": encryption_key,
            "outbox_poll_seconds": 0.2,
            "kafka_retry_max_seconds": 1.0,
            "kafka_connect_timeout_seconds": 2.0,
        }
        fields.update(overrides)
        return create_app(
            IntakeSettings(**fields), KafkaSettings(bootstrap_servers=bootstrap), auth_settings_for_tests()
        )

    return make


@pytest.fixture
def offline_client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A client of an intake app that does not talk to Kafka at all."""
    with staff_client(intake_app(relay_enabled=False, consumer_enabled=False)) as client:
        yield client
