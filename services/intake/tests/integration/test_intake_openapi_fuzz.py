"""Property-based requests generated from intake's OpenAPI document: never a 500, always as documented."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from xinfang_common.testing.auth import bearer
from xinfang_common.testing.openapi_fuzz import fuzz_openapi

pytestmark = pytest.mark.database

EXAMPLES_PER_OPERATION = 80


@pytest.fixture
def fuzz_app(intake_app: Callable[..., FastAPI]) -> Iterator[FastAPI]:
    application = intake_app(relay_enabled=False, consumer_enabled=False, track_rate_per_minute=100000)
    with TestClient(application):
        yield application


def test_generated_requests_get_documented_answers_and_never_a_500(fuzz_app: FastAPI) -> None:
    sent = fuzz_openapi(
        fuzz_app, headers=bearer(), examples_per_operation=EXAMPLES_PER_OPERATION, not_ready=False
    )
    assert sum(sent.values()) >= 1000, sent
