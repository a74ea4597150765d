"""Surge detection: new petitions per category and unit in a sliding window vs. their usual level (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SurgePolicy:
    """When a count counts as a surge."""

    window: timedelta
    baseline_windows: int
    ratio: float
    min_count: int


@dataclass(frozen=True)
class Surge:
    """A window whose count rose to ``ratio`` times the mean of the windows before it, or more."""

    window_start: datetime
    window_end: datetime
    count: int
    baseline_mean: float


def window_counts(times: Sequence[datetime], end: datetime, policy: SurgePolicy) -> list[int]:
    """Counts of ``times`` in the window ending at ``end`` (first) and each earlier window before it."""
    counts = [0] * (policy.baseline_windows + 1)
    for t in times:
        if t > end:
            continue
        index = int((end - t) / policy.window)
        if (end - t) % policy.window == timedelta(0) and t != end:
            # A time exactly on a boundary belongs to the later window: windows are (start, end].
            index -= 1
        if 0 <= index < len(counts):
            counts[index] += 1
    return counts


def detect(times: Sequence[datetime], end: datetime, policy: SurgePolicy) -> Surge | None:
    """The surge in the window ending at ``end``, if the petitions at ``times`` make one."""
    current, *earlier = window_counts(times, end, policy)
    mean = sum(earlier) / len(earlier) if earlier else 0.0
    if current < policy.min_count or current < policy.ratio * mean:
        return None
    return Surge(end - policy.window, end, current, mean)
