"""The service's notion of now: the wall clock, or a faster simulated one for tests and drills."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xinfang_common.cloudevents import utcnow


def make_clock(origin: datetime | None, real_origin: datetime | None, speed: float) -> Callable[[], datetime]:
    """``utcnow``, or if ``origin`` is set: ``origin`` at ``real_origin``, running ``speed`` times faster.

    Every restart given the same three values continues the same simulated timeline, so a test can
    make weeks of deadlines fall due in seconds, across restarts.
    """
    if origin is None:
        return utcnow
    anchor = real_origin or utcnow()

    def now() -> datetime:
        return origin + (utcnow() - anchor) * speed

    return now
