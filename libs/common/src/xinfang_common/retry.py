"""Retry an async operation that fails for reasons outside the message (Kafka or a database down)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def always(_: Exception) -> bool:
    """Every failure is worth another try."""
    return True


async def retry_until_done(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    initial_seconds: float,
    max_seconds: float,
    retryable: Callable[[Exception], bool] = always,
    on_retry: Callable[[], None] | None = None,
    log_extra: Mapping[str, Any] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, pausing with exponential back-off between tries.

    Used where giving up would lose or dead-letter a good event: the stream holds its partition
    (keeping each case's events in order) until the dependency is back or the service stops.
    A failure ``retryable`` rejects propagates at once.
    """
    delay = initial_seconds
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not retryable(exc):
                raise
            if on_retry is not None:
                on_retry()
            log.warning(
                f"{what} failed; retrying",
                extra={**(log_extra or {}), "reason": f"{type(exc).__name__}: {exc}"[:500]},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_seconds)
