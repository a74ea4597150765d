"""Prometheus metrics of the reporting service (default registry, served at ``/metrics``).

The case gauges are read from the read model at scrape time by custom collectors, so they are
right after a restart and agree between replicas sharing one database. The business metrics
label units only down to ``REPORTING_METRICS_UNIT_DEPTH`` (deeper units count under their
ancestor at that depth; ``unassigned`` for cases without a unit, ``unknown`` for units the tree
does not know), so the number of series stays bounded however large the organisation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reporting.kpis import formulas
from reporting.readmodel import repository
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact as F
from reporting.readmodel.units import UnitTree
from xinfang_common.cloudevents import utcnow
from xinfang_common.domain import AlertTier, Channel

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
DEAD_LETTERS = Gauge(
    "xinfang_reporting_dead_letter_messages",
    "Messages held in each dead-letter topic of the suite (every consumer's), end offset minus log "
    "start offset, as last measured by reporting",
    ["topic"],
)

FAUST_PREFIX = "xinfang_reporting_faust"
"""Prefix of faust's own Prometheus sensor metrics (lag, events/s, latencies) in this service."""

_faust_metrics: FaustMetrics | None = None
_faust_lock = threading.Lock()


def install_faust_sensor(app: Any) -> None:
    """Give the faust app faust's Prometheus monitor (the metrics are created once per process)."""
    global _faust_metrics
    with _faust_lock:
        if _faust_metrics is None:
            _faust_metrics = FaustMetrics.create(REGISTRY, FAUST_PREFIX)
        app.monitor = PrometheusMonitor(metrics=_faust_metrics)


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


KPI_PARTS: dict[str, tuple[str, str]] = {
    "timely_acceptance": ("acc_num", "acc_den"),
    "on_time_completion": ("comp_num", "comp_den"),
    "participation": ("rated", "replied"),
    "satisfaction": ("satisfied", "rated"),
    "repeat_rate": ("linked", "cases"),
}
"""Each KPI's numerator and denominator among the aggregate columns of ``kpis.formulas``."""

_TIER_COLUMNS = {
    AlertTier.APPROACHING: F.alerts_approaching,
    AlertTier.DUE: F.alerts_due,
    AlertTier.OVERDUE: F.alerts_overdue,
    AlertTier.ESCALATED: F.alerts_escalated,
}


def unit_label(tree: UnitTree, code: str | None, depth: int) -> str:
    """The bounded ``unit`` label of a case's unit."""
    if code is None:
        return "unassigned"
    if not tree.known(code):
        return "unknown"
    return tree.at_depth(code, depth)


@dataclass
class BusinessFigures:
    """What one scrape reports, counted in one snapshot."""

    open_cases: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    past_due: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    alerts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    kpi_parts: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    """(kpi, part, unit) -> count, part being numerator or denominator."""


def count_business(session: Session, *, now: datetime, depth: int, kpi_window: timedelta) -> BusinessFigures:
    """Open cases by stage, past-due open cases, alerts by tier and KPI parts, per bounded unit."""
    repository.snapshot(session)
    tree = UnitTree.load(session)
    figures = BusinessFigures()
    current = formulas.stage(now)
    stmt = (
        select(
            F.unit_code,
            current.label("stage"),
            func.count(),
            func.sum(formulas.case_flag(formulas.past_due_open(now))),
            *(func.coalesce(func.sum(column), 0) for column in _TIER_COLUMNS.values()),
        )
        .where(F.registered_at.is_not(None))
        .group_by(F.unit_code, current)
    )
    for code, stage, n, past_due, *tiers in session.execute(stmt):
        unit = unit_label(tree, code, depth)
        if stage in formulas.OPEN_STAGES:
            figures.open_cases[(stage, unit)] += int(n)
        figures.past_due[unit] += int(past_due or 0)
        for tier, count in zip(_TIER_COLUMNS, tiers, strict=True):
            figures.alerts[(tier.value, unit)] += int(count or 0)
    window = (
        select(F.unit_code, *formulas.aggregate_columns(now))
        .where(F.registered_at.is_not(None), F.registered_at >= now - kpi_window)
        .group_by(F.unit_code)
    )
    for row in session.execute(window).mappings():
        unit = unit_label(tree, row["unit_code"], depth)
        for kpi, (numerator, denominator) in KPI_PARTS.items():
            figures.kpi_parts[(kpi, "numerator", unit)] += int(row[numerator] or 0)
            figures.kpi_parts[(kpi, "denominator", unit)] += int(row[denominator] or 0)
    return figures


class BusinessCollector(Collector):
    """Business gauges counted in the read model, cached for a while between scrapes."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._lock = threading.Lock()
        self._database: Database | None = None
        self._depth = 2
        self._cache_seconds = 60.0
        self._kpi_window = timedelta(days=365)
        self._cached: tuple[float, BusinessFigures] | None = None
        self._clock = clock

    def bind(
        self, database: Database, *, unit_depth: int, cache_seconds: float, kpi_window: timedelta
    ) -> None:
        """Count in ``database`` from now on."""
        with self._lock:
            self._database = database
            self._depth = unit_depth
            self._cache_seconds = cache_seconds
            self._kpi_window = kpi_window
            self._cached = None

    def unbind(self, database: Database) -> None:
        """Stop counting in ``database`` if it is the one bound."""
        with self._lock:
            if self._database is database:
                self._database = None
                self._cached = None

    def describe(self) -> Iterator[Metric]:
        # Given so that registering does not run collect(), which would query a database.
        yield from self._families().values()

    def _figures(self) -> BusinessFigures | None:
        with self._lock:
            database, cached = self._database, self._cached
            if database is None:
                return None
            if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
                return cached[1]
            depth, window = self._depth, self._kpi_window
        try:
            with database.sessions() as session:
                figures = count_business(session, now=self._clock(), depth=depth, kpi_window=window)
        except Exception:  # a scrape must answer even when the database does not
            log.warning("could not count the business metrics for /metrics", exc_info=True)
            return None
        with self._lock:
            self._cached = (time.monotonic(), figures)
        return figures

    def collect(self) -> Iterator[Metric]:
        figures = self._figures()
        if figures is None:
            return
        families = self._families()
        for (stage, unit), n in sorted(figures.open_cases.items()):
            families["open"].add_metric([stage, unit], n)
        for unit, n in sorted(figures.past_due.items()):
            families["past_due"].add_metric([unit], n)
        for (tier, unit), n in sorted(figures.alerts.items()):
            families["alerts"].add_metric([tier, unit], n)
        for (kpi, part, unit), n in sorted(figures.kpi_parts.items()):
            families[part].add_metric([kpi, unit], n)
        yield from families.values()

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
        return {
            "open": GaugeMetricFamily(
                "xinfang_reporting_open_cases",
                "Cases open now (backlog) by stage and unit (bounded depth)",
                labels=["stage", "unit"],
            ),
            "past_due": GaugeMetricFamily(
                "xinfang_reporting_overdue_cases",
                "Cases open now and past the deadline of the step they wait for, by unit (bounded depth)",
                labels=["unit"],
            ),
            "alerts": CounterMetricFamily(
                "xinfang_reporting_alerts",
                "Deadline alerts received from alerts, by tier (escalated = 督办) and unit (bounded depth)",
                labels=["tier", "unit"],
            ),
            "numerator": GaugeMetricFamily(
                "xinfang_reporting_kpi_numerator",
                "Numerator of each KPI over the cases registered in the KPI window, by unit (bounded depth)",
                labels=["kpi", "unit"],
            ),
            "denominator": GaugeMetricFamily(
                "xinfang_reporting_kpi_denominator",
                "Denominator of each KPI over the cases registered in the KPI window, by unit "
                "(bounded depth)",
                labels=["kpi", "unit"],
            ),
        }


CASE_COUNTS = CaseCountsCollector()
BUSINESS = BusinessCollector()
_registered = False
_register_lock = threading.Lock()


def install_case_counts(
    database: Database, *, unit_depth: int = 2, cache_seconds: float = 60.0, kpi_window_days: int = 365
) -> CaseCountsCollector:
    """Count cases in ``database`` at scrape time; registers the collectors once per process."""
    global _registered
    with _register_lock:
        if not _registered:
            REGISTRY.register(CASE_COUNTS)
            REGISTRY.register(BUSINESS)
            _registered = True
    CASE_COUNTS.bind(database)
    BUSINESS.bind(
        database,
        unit_depth=unit_depth,
        cache_seconds=cache_seconds,
        kpi_window=timedelta(days=kpi_window_days),
    )
    return CASE_COUNTS


def uninstall_case_counts(database: Database) -> None:
    """Stop counting in ``database`` (the app using it is stopping)."""
    CASE_COUNTS.unbind(database)
    BUSINESS.unbind(database)
