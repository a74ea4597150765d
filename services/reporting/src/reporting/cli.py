"""``xinfang-reporting rebuild``: empty the read model and replay every topic from the start.

Stop every reporting replica first: Kafka resets a consumer group's offsets only while the
group has no members. The command then drops and recreates reporting's tables (which also
brings an old database up to the current columns) and moves the group's committed offsets of
every topic reporting reads to the earliest; at the next start the agents replay everything.
Replays change nothing twice: the processed-event table starts empty with the tables.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec
from sqlalchemy import MetaData, Table

from reporting.agents import CONSUMED
from reporting.config import ReportingSettings
from reporting.readmodel.database import Database
from reporting.readmodel.models import Base
from xinfang_common.migrate import VERSION_TABLE
from xinfang_common.settings import KafkaSettings

QUIET_STATES = {"Empty", "Dead", ""}


class RebuildRefused(RuntimeError):
    """The group still has members, or Kafka refused to reset an offset."""


def group_state(admin: Any, group: str) -> str:
    """The consumer group's state as the broker reports it ("" when unknown)."""
    described: dict[str, dict[str, Any]] = admin.describe_groups([group])
    return str(described.get(group, {}).get("group_state") or "")


def reset_offsets(kafka: KafkaSettings, group: str) -> int:
    """Move ``group``'s offsets of every consumed topic to the earliest; returns the partitions reset."""
    admin = KafkaAdminClient(bootstrap_servers=kafka.servers, client_id=f"{kafka.client_id_prefix}-rebuild")
    consumer = KafkaConsumer(bootstrap_servers=kafka.servers, enable_auto_commit=False)
    try:
        state = group_state(admin, group)
        if state not in QUIET_STATES:
            raise RebuildRefused(
                f"consumer group {group} is {state}: stop every reporting replica, then run rebuild again"
            )
        specs = {
            TopicPartition(spec.name, partition): OffsetSpec.EARLIEST
            for spec, _ in CONSUMED
            for partition in sorted(consumer.partitions_for_topic(spec.name) or ())
        }
        if not specs:
            return 0
        result = admin.reset_group_offsets(group, specs)
        failed = {tp: r for tp, r in result.items() if getattr(r.get("error"), "errno", 0) != 0}
        if failed:
            raise RebuildRefused(f"Kafka refused to reset {len(failed)} partition(s): {failed}")
        return len(specs)
    finally:
        consumer.close()
        admin.close()


def rebuild_database(url: str) -> None:
    """Drop every reporting table (whatever version made it) and migrate the empty database to head."""
    database = Database(url)
    try:
        Base.metadata.drop_all(database.engine)
        Table(VERSION_TABLE, MetaData()).drop(database.engine, checkfirst=True)
        database.create_tables()
    finally:
        database.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``xinfang-reporting``."""
    parser = argparse.ArgumentParser(prog="xinfang-reporting", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser(
        "rebuild", help="empty the read model and replay every topic from the start"
    )
    rebuild.add_argument(
        "--yes", action="store_true", help="do it (without this flag the command only says what it would do)"
    )
    args = parser.parse_args(argv)
    settings = ReportingSettings()
    kafka = KafkaSettings()
    if args.command == "rebuild":
        if not args.yes:
            print(
                f"would drop and recreate the tables of {settings.database_url} and reset consumer group "
                f"{settings.consumer_group} to the earliest offsets on {kafka.bootstrap_servers}; "
                "stop every reporting replica and add --yes"
            )
            return 2
        try:
            partitions = reset_offsets(kafka, settings.consumer_group)
        except RebuildRefused as exc:
            print(f"xinfang-reporting: {exc}", file=sys.stderr)
            return 1
        rebuild_database(settings.database_url)
        print(
            f"read model emptied; group {settings.consumer_group} reset on {partitions} partition(s): "
            "start reporting to replay"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
