"""Prometheus metrics of the reporting service (default registry, served at ``/metrics``).

The case gauges are read from the read model at scrape time by a custom collector, so they
are right after a restart and agree between replicas sharing one database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reporting.readmodel import repository
from reporting.readmodel.database import Database
from xinfang_common.domain import Channel

log = logging.getLogger(__name__)

DUPLICATE_EVENTS = Counter(
    "xinfang_reporting_duplicate_events_total",
    "Events dropped because their id was already applied to the read model (redelivery or replay)",
    ["topic"],
)
DB_RETRIES = Counter(
    "xinfang_reporting_db_retries_total",
    "Failed attempts to write an event to the read model, each retried while the database is unreachable",
)


class CaseCountsCollector(Collector):
    """Gauges of cases by state and by channel, counted in the database at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._database: Database | None = None

    def bind(self, database: Database) -> None:
        """Count in ``database`` from now on."""
        with self._lock:
            self._database = database

    def unbind(self, database: Database) -> None:
        """Stop counting in ``database`` if it is the one bound (a newer app may have taken over)."""
        with self._lock:
            if self._database is database:
                self._database = None

    def describe(self) -> Iterator[Metric]:
        # Given so that registering does not run collect(), which would query a database.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            database = self._database
        if database is None:
            return
        try:
            with database.sessions() as session:
                counts = repository.count_cases(session)
        except Exception:  # a scrape must answer even when the database does not
            log.warning("could not count cases for /metrics", exc_info=True)
            return
        by_state, by_channel = self._families()
        by_state.add_metric(["registered"], counts.registered)
        by_state.add_metric(["assigned"], counts.assigned)
        by_state.add_metric(["awaiting_assignment"], counts.awaiting_assignment)
        channels = counts.registered_by_channel()
        for channel in Channel:
            by_channel.add_metric([channel.value], channels.get(channel.value, 0))
        yield by_state
        yield by_channel

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "xinfang_reporting_cases",
                "Registered cases in the read model: all (registered), with a unit (assigned), without one "
                "(awaiting_assignment)",
                labels=["state"],
            ),
            GaugeMetricFamily(
                "xinfang_reporting_cases_by_channel",
                "Registered cases in the read model by channel",
                labels=["channel"],
            ),
        )


CASE_COUNTS = CaseCountsCollector()
_registered = False
_register_lock = threading.Lock()


def install_case_counts(database: Database) -> CaseCountsCollector:
    """Count cases in ``database`` at scrape time; registers the collector once per process."""
    global _registered
    with _register_lock:
        if not _registered:
            REGISTRY.register(CASE_COUNTS)
            _registered = True
    CASE_COUNTS.bind(database)
    return CASE_COUNTS
