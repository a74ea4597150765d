"""Requests generated from a service's OpenAPI document (Schemathesis): never a 500, always as documented."""

from __future__ import annotations

from typing import Any, cast

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

CROSS_FIELD_RULES = schemathesis.checks.positive_data_acceptance
"""Excluded everywhere: rules across fields (a petitioner unless anonymous, a subscription's target
matching its channel) cannot be stated in JSON Schema, so schema-valid data may rightly get a 422
naming the rule."""

NOT_READY_PATHS = frozenset({"/readyz"})
"""Without a broker a service is rightly not ready: /readyz answers its documented 503."""


def fuzz_openapi(
    app: FastAPI, *, headers: dict[str, str], examples_per_operation: int, not_ready: bool = True
) -> dict[str, int]:
    """Send generated requests to every operation, validating each answer; requests per operation.

    ``not_ready``: the app runs without a broker, so its readiness probe may answer 503.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    excluded = [CROSS_FIELD_RULES]
    not_ready_excluded = [*excluded, schemathesis.checks.not_a_server_error] if not_ready else excluded
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        if not hasattr(result, "ok"):
            raise AssertionError(f"the OpenAPI document is invalid: {cast(Any, result).err()}")
        operation = cast(Any, result).ok()
        label = operation.label

        @given(case=operation.as_strategy())
        @settings(max_examples=examples_per_operation, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            sent[case.operation.label] = sent.get(case.operation.label, 0) + 1
            checks = not_ready_excluded if case.operation.path in NOT_READY_PATHS else excluded
            case.call_and_validate(headers=headers, excluded_checks=checks)

        try:
            run()
        except Exception as exc:
            raise AssertionError(f"{label}: {exc}") from exc
    print(f"schemathesis: {sum(sent.values())} requests over {len(sent)} operations")
    return sent
