"""Property-based requests generated from intake's OpenAPI document: never a 500, always as documented."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from xinfang_common.testing.auth import bearer

pytestmark = pytest.mark.database

EXAMPLES_PER_OPERATION = 80
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
"""Rules across fields (a petitioner unless anonymous, a reply's outcome for a claim) cannot be
stated in JSON Schema, so schema-valid data may rightly get a 422 naming the rule."""


@pytest.fixture
def fuzz_app(intake_app: Callable[..., FastAPI]) -> Iterator[FastAPI]:
    application = intake_app(relay_enabled=False, consumer_enabled=False, track_rate_per_minute=100000)
    with TestClient(application):
        yield application


def test_generated_requests_get_documented_answers_and_never_a_500(fuzz_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = bearer()
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            sent[case.operation.label] = sent.get(case.operation.label, 0) + 1
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

        try:
            run()
        except Exception as exc:
            raise AssertionError(f"{label}: {exc}") from exc
    print(f"schemathesis: {sum(sent.values())} requests over {len(sent)} operations")
    assert sum(sent.values()) >= 1000, sent
