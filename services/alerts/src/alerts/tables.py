"""The faust table of cases (facts, deadlines, alerts raised), and the topic that backs it up."""

from __future__ import annotations

from collections.abc import Collection, Iterator, MutableMapping
from typing import Any

import faust
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TableT
from kafka.partitioner.default import murmur2

from alerts.deadlines import CaseState
from xinfang_common.topics import ALERTS, CASE_ASSIGNED, TopicSpec

CASES_BY_ID = "cases_by_id"

ROCKSDB_OPTIONS: dict[str, int] = {
    # Per partition database. Faust's defaults (a 2 GiB block cache and three 64 MiB write
    # buffers each) would let six partitions grow past what a million cases take in memory.
    "block_cache_size": 32 * 2**20,
    "write_buffer_size": 16 * 2**20,
    "max_write_buffer_number": 2,
}


def cases_by_id(app: faust.App, *, rocksdb: bool = False) -> TableT[str, bytes]:
    """Case id -> ``CaseState`` JSON: the case's facts, its deadlines and the alerts raised.

    Keyed by case id like every input topic and with the same partition count, so the instance
    consuming a case's partition owns that case's entry. Written through ``TableStore``. In
    memory, or in RocksDB under faust's datadir (``rocksdb://``): the changelog is the record
    either way, and a restart with the local files only reads the changelog written since. The
    store is the app's (``rocksdb`` says which, for its options).
    """
    return app.Table(
        CASES_BY_ID,
        key_type=str,
        value_type=bytes,
        partitions=CASE_ASSIGNED.partitions,
        options=dict(ROCKSDB_OPTIONS) if rocksdb else None,
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
    The RocksDB store likewise takes the database of a write from the current event: here the
    write goes to the database of the key's partition directly.

    On kill -9 a RocksDB write can be on disk while its changelog record never left the producer.
    The input event that caused it is then read again (its offset was not committed) and found
    known; ``Tracker.apply`` writes the state again, which sends the record. A scanner write (an
    alert marked sent) lost that way only matters if the partition moves to another instance
    before it is written again: that instance raises the alert again under the same event id,
    which the alert record and every consumer drop.
    """

    def __init__(self, table: TableT[str, bytes]) -> None:
        self.table = table

    def _rocksdb(self) -> RocksDBStore | None:
        data: Any = self.table.data
        return data if isinstance(data, RocksDBStore) else None

    def __getitem__(self, key: str) -> bytes:
        rocks = self._rocksdb()
        if rocks is None:
            return self.table.data[key]
        db = rocks._dbs.get(partition_of(key))
        value = db.get(rocks._encode_key(key)) if db is not None else None
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        partition = partition_of(key)
        rocks = self._rocksdb()
        if rocks is None:
            self.table.data[key] = value
        else:
            rocks._db_for_partition(partition).put(rocks._encode_key(key), rocks._encode_value(value))
        self.table.send_changelog(partition, key, value)

    def __delitem__(self, key: str) -> None:
        del self.table.data[key]
        self.table.send_changelog(partition_of(key), key, None, value_serializer="raw")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.data.keys()))

    def __len__(self) -> int:
        return len(self.table.data)

    def keys_in(self, partitions: Collection[int]) -> list[str]:
        """The keys held for these partitions, read at once (writes may follow while they are used)."""
        rocks = self._rocksdb()
        if rocks is None:
            keys = list(self.table.data.keys())
            if set(range(CASE_ASSIGNED.partitions)) <= set(partitions):
                return keys
            return [key for key in keys if partition_of(key) in partitions]
        found: list[str] = []
        for partition in partitions:
            db = rocks._dbs.get(partition)
            if db is not None:
                found.extend(rocks._decode_key(key) for key in rocks._visible_keys(db))
        return found
