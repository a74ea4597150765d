"""Prometheus metrics of the routing service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CASES_ASSIGNED = Counter(
    "xinfang_routing_cases_assigned_total",
    "Cases assigned to a unit and published as CaseAssigned, by the rule that decided",
    ["rule"],
)

DECISION_SECONDS = Histogram(
    "xinfang_routing_decision_seconds",
    "Time to decide the responsible unit for one petition",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5),
)

PUBLISH_RETRIES = Counter(
    "xinfang_routing_publish_retries_total",
    "Failed attempts to publish an event (CaseAssigned, CaseLinked, ...) that were retried",
)

DATABASE_RETRIES = Counter(
    "xinfang_routing_database_retries_total",
    "Database operations that failed for a passing reason (unreachable, locked) and were retried",
)

CASES_TRIAGED = Counter(
    "xinfang_routing_cases_triaged_total",
    "Cases put in the manual triage queue and published as TriageQueued",
)

CLASSIFIER_PREDICTIONS = Counter(
    "xinfang_routing_classifier_predictions_total",
    "Petitions without a category put to the text classifier, by outcome: confident (routing "
    "went by the prediction), unsure (below the threshold) or no_model",
    ["outcome"],
)

CASES_LINKED = Counter(
    "xinfang_routing_cases_linked_total",
    "Petitions linked to an earlier similar case, by kind: repeat, final or in_progress",
    ["kind"],
)

SURGES_DETECTED = Counter(
    "xinfang_routing_surges_detected_total",
    "Surges of new petitions per category and unit signalled on the surge topic",
)

UNITS_CHANGED = Counter(
    "xinfang_routing_units_changed_total",
    "Units published on the units topic by this process (start-up seed and API changes)",
)
