"""Prometheus metrics of the alerts service (default registry, served at ``/metrics``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import Counter

from xinfang_common.domain import DeadlineKind

log = logging.getLogger(__name__)

DEADLINES_SCHEDULED = Counter(
    "xinfang_alerts_deadlines_scheduled_total",
    "Deadlines computed, stored and announced on the deadline topic, by kind",
    ["kind"],
)
for _kind in DeadlineKind:
    # Export every kind from the start, so that a rate over a fresh process is 0, not absent.
    DEADLINES_SCHEDULED.labels(_kind.value)
ASSIGNMENTS_SKIPPED = Counter(
    "xinfang_alerts_assignments_skipped_total",
    "CaseAssigned events that changed nothing: already handled (duplicate) or older than the "
    "assignment the stored deadline started from (stale)",
    ["reason"],
)
PUBLISH_RETRIES = Counter(
    "xinfang_alerts_publish_retries_total",
    "Failed attempts to publish a DeadlineScheduled event, each retried until Kafka takes it",
)
CALENDAR_UNCOVERED = Counter(
    "xinfang_alerts_calendar_uncovered_total",
    "Deadline computations that looked at a year the holiday calendar does not cover, so only "
    "Saturdays and Sundays counted as rest days there; add that year's official notice",
)

_warned_years: set[int] = set()


def note_uncovered(years: Iterable[int]) -> None:
    """Count a computation that fell back to weekends-only, and warn once per missing year."""
    missing = set(years)
    if not missing:
        return
    CALENDAR_UNCOVERED.inc()
    for year in sorted(missing - _warned_years):
        _warned_years.add(year)
        log.warning(
            "holiday calendar does not cover %s: counting only Saturdays and Sundays as rest days; "
            "add the State Council holiday notice for %s to the calendar",
            year,
            year,
            extra={"year": year},
        )
