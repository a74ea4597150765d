"""Prometheus metrics of the alerts service (default registry, served at ``/metrics``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

from xinfang_common.domain import AlertTier, DeadlineKind

log = logging.getLogger(__name__)

DEADLINES_SCHEDULED = Counter(
    "xinfang_alerts_deadlines_scheduled_total",
    "Deadline versions computed, stored and announced on the deadline topic, by kind",
    ["kind"],
)
for _kind in DeadlineKind:
    # Export every kind from the start, so that a rate over a fresh process is 0, not absent.
    DEADLINES_SCHEDULED.labels(_kind.value)
FACTS_SKIPPED = Counter(
    "xinfang_alerts_facts_skipped_total",
    "Case events that changed nothing because they had been applied already",
    ["reason"],
)
PUBLISH_RETRIES = Counter(
    "xinfang_alerts_publish_retries_total",
    "Failed attempts to publish a DeadlineScheduled or AlertRaised event, each retried until Kafka takes it",
)
OPEN_DEADLINES = Gauge(
    "xinfang_alerts_open_deadlines",
    "Running deadlines held by this instance, by kind and by the latest tier fallen due (on_time if none)",
    ["kind", "tier"],
)
SCAN_SECONDS = Histogram(
    "xinfang_alerts_scan_seconds",
    "Duration of one scanner round (alerts due raised, gauges set, changed cases mirrored), rebuilds apart",
    buckets=(0.001, 0.005, 0.025, 0.1, 0.5, 2, 10, 60),
)
SCHEDULE_REBUILD_SECONDS = Gauge(
    "xinfang_alerts_schedule_rebuild_seconds",
    "Duration of the latest rebuild of the alert schedule from the case table (after a recovery)",
)
SCHEDULED_CASES = Gauge(
    "xinfang_alerts_scheduled_cases",
    "Cases this instance owns with a running deadline or an alert to come (the alert schedule's size)",
)
DIGESTS = Counter(
    "xinfang_alerts_digests_total",
    "Daily digests made (one per subscribed unit and day), by content: open (cases listed) or zero (零报告)",
    ["content"],
)
ALERTS_RAISED = Counter(
    "xinfang_alerts_alerts_raised_total",
    "Alerts published on the alert topic, by deadline kind and tier",
    ["kind", "tier"],
)
for _tier in AlertTier:
    ALERTS_RAISED.labels(DeadlineKind.ACCEPTANCE.value, _tier.value)
ALERT_LAG = Histogram(
    "xinfang_alerts_alert_lag_seconds",
    "Time from the instant a tier fell due to the publication of its alert",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 6 * 3600, 86400),
)
DELIVERIES = Counter(
    "xinfang_alerts_deliveries_total",
    "Alert deliveries to subscribers, by channel (webhook, email) and outcome "
    "(delivered, retried, failed: dead-lettered after the last try)",
    ["channel", "outcome"],
)
for _channel in ("webhook", "email"):
    for _outcome in ("delivered", "retried", "failed"):
        DELIVERIES.labels(_channel, _outcome)
CALENDAR_YEAR_MISSING = Gauge(
    "xinfang_alerts_calendar_year_missing",
    "1 while a deadline reaches a year without the official holiday notice (deadline provisional); "
    "load the year's notice through the override file",
    ["year"],
)

_missing_years: set[int] = set()


def note_provisional(*years: int) -> None:
    """A deadline reached ``years`` without official data: flag them, warn once per year."""
    for year in years:
        CALENDAR_YEAR_MISSING.labels(str(year)).set(1)
        if year not in _missing_years:
            _missing_years.add(year)
            log.warning(
                "holiday calendar has no official notice for %s: deadlines there are provisional "
                "(weekends and fixed-date holidays only); add the year to the override file",
                year,
                extra={"year": year},
            )


def note_uncovered(years: Iterable[int]) -> None:
    """A computation looked at ``years`` the calendar lacks."""
    note_provisional(*years)


def note_covered(years: Iterable[int]) -> None:
    """``years`` now have official data."""
    for year in years:
        if year in _missing_years:
            _missing_years.discard(year)
            CALENDAR_YEAR_MISSING.labels(str(year)).set(0)


def set_open_deadlines(counts: Mapping[tuple[str, str], int]) -> None:
    """Replace the open-deadline gauge with ``counts``."""
    OPEN_DEADLINES.clear()
    for (kind, tier), n in counts.items():
        OPEN_DEADLINES.labels(kind, tier).set(n)
