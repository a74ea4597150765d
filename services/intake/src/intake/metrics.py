"""Prometheus metrics of the intake service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PETITIONS_REGISTERED = Counter(
    "xinfang_intake_petitions_registered_total",
    "Petitions registered, by channel",
    ["channel"],
)

OUTBOX_PENDING = Gauge(
    "xinfang_intake_outbox_pending",
    "Events written to the outbox and not yet acknowledged by Kafka",
)

OUTBOX_PUBLISHED = Counter(
    "xinfang_intake_outbox_published_total",
    "Outbox events acknowledged by Kafka and marked published",
)

OUTBOX_PUBLISH_FAILURES = Counter(
    "xinfang_intake_outbox_publish_failures_total",
    "Relay rounds that failed to reach Kafka and will be retried",
)

EVENTS_CONSUMED = Counter(
    "xinfang_intake_events_consumed_total",
    "CaseAssigned and DeadlineScheduled events taken from Kafka, by outcome "
    "(applied, duplicate, dead_lettered)",
    ["outcome"],
)

IDEMPOTENT_REQUESTS = Counter(
    "xinfang_intake_idempotent_requests_total",
    "Registrations that carried an Idempotency-Key, by outcome (created, replayed, conflict)",
    ["outcome"],
)

CASE_ACTIONS = Counter(
    "xinfang_intake_case_actions_total",
    "Actions taken on cases (accept, decline, object, extend, reply, review_reply, recheck_reply, close)",
    ["action"],
)

TRACK_REQUESTS = Counter(
    "xinfang_intake_track_requests_total",
    "Requests to /v1/track/*, by outcome (found, not_found, rate_limited)",
    ["outcome"],
)

RATINGS = Counter(
    "xinfang_intake_ratings_total",
    "Replies rated by petitioners, by satisfaction",
    ["satisfaction"],
)

REVIEWS_REQUESTED = Counter(
    "xinfang_intake_reviews_requested_total",
    "Reviews (复查) and rechecks (复核) requested by petitioners, by stage",
    ["stage"],
)

IMPORT_ROWS = Counter(
    "xinfang_intake_import_rows_total",
    "Rows of imported legacy files, by outcome (imported, skipped_existing, failed)",
    ["outcome"],
)
