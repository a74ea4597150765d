"""The faust table of cases (facts, deadlines, alerts raised), and the topic that backs it up."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import faust
from faust.types import TableT
from kafka.partitioner.default import murmur2

from alerts.deadlines import CaseState
from xinfang_common.topics import ALERTS, CASE_ASSIGNED, TopicSpec

CASES_BY_ID = "cases_by_id"


def cases_by_id(app: faust.App) -> TableT[str, bytes]:
    """Case id -> ``CaseState`` JSON: the case's facts, its deadlines and the alerts raised.

    Keyed by case id like every input topic and with the same partition count, so the instance
    consuming a case's partition owns that case's entry. Written through ``TableStore``.
    """
    return app.Table(
        CASES_BY_ID,
        key_type=str,
        value_type=bytes,
        partitions=CASE_ASSIGNED.partitions,
        help="Each case's facts, deadlines (as last announced) and the alert ids already raised",
    )


def changelog_spec(table: TableT[str, bytes]) -> TopicSpec:
    """The compacted changelog topic of ``table``, so ensure_topics can create it.

    The broker does not create topics on demand and faust is not allowed to declare them
    (``topic_allow_declare=False``), so the service creates its own state topic at start.
    """
    return TopicSpec(
        name=table.changelog_topic.get_topic_name(),
        event_type="faust.table.changelog",
        schema=CaseState,
        producer=ALERTS,
        consumers=(),
        description="Changelog of alerts' cases_by_id table (service-internal state).",
        example={},
        partitions=CASE_ASSIGNED.partitions,
        compacted=True,
    )


def partition_of(case_id: str, partitions: int = CASE_ASSIGNED.partitions) -> int:
    """The partition the producers' default partitioner puts a case on (Kafka's murmur2)."""
    return int(murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions


class TableStore(MutableMapping[str, bytes]):
    """The table as a mapping that the scanner (a timer, outside any event) may write too.

    Faust takes a changelog partition from the event being processed, and its own partitioner
    needs metadata its producer may not have yet; so the partition is computed here from the key,
    exactly as the producers of the input topics chose it, and the changelog is sent explicitly.
    """

    def __init__(self, table: TableT[str, bytes]) -> None:
        self.table = table

    def __getitem__(self, key: str) -> bytes:
        return self.table.data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.table.data[key] = value
        self.table.send_changelog(partition_of(key), key, value)

    def __delitem__(self, key: str) -> None:
        del self.table.data[key]
        self.table.send_changelog(partition_of(key), key, None, value_serializer="raw")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.data.keys()))

    def __len__(self) -> int:
        return len(self.table.data)
