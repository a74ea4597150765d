"""Waiting in tests for something another process does, by polling, never by sleeping blind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def poll(
    fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 60.0, interval: float = 0.2
) -> Any:
    """Call ``fetch`` until ``ok`` holds for its result and return it; fail with the last result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fetch()
        if ok(last):
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s; last result: {last!r}")
