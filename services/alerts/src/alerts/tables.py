"""The faust table of scheduled deadlines, and the topic that backs it up."""

from __future__ import annotations

from collections.abc import Mapping

import faust
from faust.types import TableT

from alerts.scheduling import CaseDeadlines
from xinfang_common.topics import ALERTS, CASE_ASSIGNED, TopicSpec

DEADLINES_BY_CASE = "deadlines_by_case"


def deadlines_by_case(app: faust.App) -> TableT[str, bytes]:
    """Case id -> that case's deadlines (``CaseDeadlines`` JSON), one entry per deadline kind.

    Co-partitioned with the CaseAssigned topic (same key, same partition count), so the agent
    that consumes a partition owns that partition of the table. With several instances each
    holds only the partitions assigned to it.
    """
    return app.Table(
        DEADLINES_BY_CASE,
        key_type=str,
        value_type=bytes,
        partitions=CASE_ASSIGNED.partitions,
        help="Deadlines of each case, by kind, as the DeadlineScheduled events that announced them",
    )


def changelog_spec(table: TableT[str, bytes]) -> TopicSpec:
    """The compacted changelog topic of ``table``, so ensure_topics can create it.

    The broker does not create topics on demand and faust is not allowed to declare them
    (``topic_allow_declare=False``), so the service creates its own state topic at start.
    """
    return TopicSpec(
        name=table.changelog_topic.get_topic_name(),
        event_type="faust.table.changelog",
        schema=CaseDeadlines,
        producer=ALERTS,
        consumers=(),
        description="Changelog of alerts' deadlines_by_case table (service-internal state).",
        example={},
        partitions=CASE_ASSIGNED.partitions,
        compacted=True,
    )


def read_case_deadlines(table: Mapping[str, bytes | None], case_id: str) -> CaseDeadlines | None:
    """The stored deadlines of one case, or None when it has none (here)."""
    raw = table.get(case_id)
    if not raw:
        return None
    return CaseDeadlines.from_json_bytes(raw)
