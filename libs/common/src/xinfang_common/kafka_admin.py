"""Create the suite's topics from their specs (idempotent; safe at every start-up)."""

from __future__ import annotations

import argparse
import logging
import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


def _new_topics(
    specs: tuple[TopicSpec, ...], replication_factor: int, min_insync_replicas: int | None = None
) -> list[NewTopic]:
    # Set per topic only when asked: otherwise the broker's own default applies.
    extra = {} if min_insync_replicas is None else {"min.insync.replicas": str(min_insync_replicas)}
    topics: list[NewTopic] = []
    for spec in specs:
        topics.append(
            NewTopic(
                spec.name, spec.partitions, replication_factor, topic_configs={**spec.topic_config(), **extra}
            )
        )
        for consumer in spec.consumers:
            # Dead letters are kept for a month so that an operator can inspect and replay them.
            topics.append(
                NewTopic(
                    spec.dlq(consumer),
                    1,
                    replication_factor,
                    topic_configs={"retention.ms": str(30 * 24 * 3600 * 1000), **extra},
                )
            )
    return topics


def ensure_topics(
    settings: KafkaSettings,
    *,
    specs: tuple[TopicSpec, ...] = TOPICS,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    wait_seconds: float = 60.0,
) -> list[str]:
    """Create missing topics and return the names of those created; existing ones are kept.

    The replication factor defaults to ``settings.replication_factor``; ``min_insync_replicas``,
    when given, is set on every topic created (existing topics keep their configuration).
    """
    replication_factor = replication_factor or settings.replication_factor
    if min_insync_replicas is not None and not 1 <= min_insync_replicas <= replication_factor:
        raise ValueError(
            f"min.insync.replicas {min_insync_replicas} must lie between 1 and the replication "
            f"factor {replication_factor}"
        )
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.servers,
                client_id=f"{settings.client_id_prefix}-admin",
                request_timeout_ms=settings.request_timeout_ms,
            )
            break
        except KafkaError:
            # kafka-python 3 raises KafkaTimeoutError when it cannot bootstrap: keep trying
            # while the broker starts, then give up with that error.
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
    try:
        existing = set(admin.list_topics())
        wanted = [
            t for t in _new_topics(specs, replication_factor, min_insync_replicas) if t.name not in existing
        ]
        created: list[str] = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another service created it between our listing and our request
            except KafkaError as exc:
                raise RuntimeError(f"could not create topic {topic.name}: {exc}") from exc
        if created:
            log.info("created topics", extra={"topics": created})
        _wait_until_listed(admin, {t.name for t in wanted}, deadline=time.monotonic() + wait_seconds)
        return created
    finally:
        admin.close()


def _wait_until_listed(admin: KafkaAdminClient, names: set[str], *, deadline: float) -> None:
    # A new topic reaches the broker's metadata a moment after CreateTopics answers; a client
    # that starts right away would otherwise see "unknown topic".
    while True:
        missing = names - set(admin.list_topics())
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics created but not listed by the broker: {sorted(missing)}")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    """``python -m xinfang_common.kafka_admin``: create every topic of the suite."""
    parser = argparse.ArgumentParser(
        prog="python -m xinfang_common.kafka_admin",
        description="Create the suite's topics from xinfang_common.topics (existing ones are kept). "
        "The broker comes from XINFANG_KAFKA_BOOTSTRAP_SERVERS.",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="replicas of every topic created (default: XINFANG_KAFKA_REPLICATION_FACTOR)",
    )
    parser.add_argument(
        "--min-insync-replicas",
        type=int,
        default=None,
        help="min.insync.replicas of every topic created (default: the broker's setting)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=60.0,
        help="how long to wait for the broker to answer, and then for the topics to be listed",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        created = ensure_topics(
            KafkaSettings(),
            replication_factor=args.replication_factor,
            min_insync_replicas=args.min_insync_replicas,
            wait_seconds=args.wait_seconds,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(f"topics ready ({len(created)} created)")


if __name__ == "__main__":
    main()
