"""What the relay, the consumers and the operations commands share about Kafka.

`KafkaConfig` says where the stream lives (infra reads it from `CRM_KAFKA_*`); `ensure_topic` creates the topic
idempotently (`ensure_topic_when_possible` retries until the broker answers or `stop` is set);
`end_offsets` answers where each partition ends; `Backoff` paces every retry loop. Clients
connect to the bootstrap address only and never pin an API version (kafka-python negotiates).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from projections.registry import READ_MODELS

log = structlog.get_logger("kafka")

DEFAULT_TOPIC = "councilcrm.service-requests"
DIRECTORY_TOPIC = "councilcrm.directory"
DEFAULT_GROUP_PREFIX = "councilcrm."
ALL_MODELS_GROUP = "read-models"


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    """Where the stream lives and how its clients behave.

    `group(name)` is the consumer group of a read model (`councilcrm.work-queue`);
    `source(partition)` is the position-table key of one partition (`kafka:<topic>:<p>`).
    """

    bootstrap: str
    topic: str = DEFAULT_TOPIC
    partitions: int = 6
    group_prefix: str = DEFAULT_GROUP_PREFIX
    session_timeout_ms: int = 10_000
    max_poll_interval_ms: int = 300_000
    client_id: str = "councilcrm"

    @property
    def directory_topic(self) -> str:
        """The topic of the directory's events (staff users and customers): never the
        request consumers' topic, so they never reach (or park on) the request read models."""
        return DIRECTORY_TOPIC if self.topic == DEFAULT_TOPIC else f"{self.topic}.directory"

    def for_directory(self) -> KafkaConfig:
        return replace(self, topic=self.directory_topic, partitions=1)

    def group(self, model_name: str) -> str:
        return f"{self.group_prefix}{model_name.replace('_', '-')}"

    def models_group(self, model_names: Sequence[str]) -> str:
        """The consumer group of one consumer feeding `model_names`: every read model's
        consumer is `<prefix>read-models`, one model's that model's own group, any other set
        the models' names joined (so a subset never shares partitions with another set)."""
        names = sorted(set(model_names))
        if set(names) == set(READ_MODELS):
            return self.group(ALL_MODELS_GROUP)
        return self.group("+".join(names))

    def source(self, partition: int) -> str:
        return f"kafka:{self.topic}:{partition}"

    def cut_source(self, partition: int) -> str:
        """The position-table key of the highest store position applied from one partition
        (`kafka-cut:<topic>:<p>`): with the offsets, what `verify` rebuilds to."""
        return f"kafka-cut:{self.topic}:{partition}"

    def partition_of(self, source: str) -> int | None:
        """The partition a position-table key names, or None if it is not one of this topic."""
        prefix = f"kafka:{self.topic}:"
        tail = source.removeprefix(prefix)
        return int(tail) if source.startswith(prefix) and tail.isdigit() else None


def admin_client(config: KafkaConfig) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=config.bootstrap,
        client_id=f"{config.client_id}-admin",
        request_timeout_ms=15_000,
    )


# The event store is the source of truth, and a read model added later (or one whose consumer
# was down for a while) must find every event in the log: a topic is created keeping its
# messages for good, never the broker's default seven days.
UNLIMITED_RETENTION = {"retention.ms": "-1", "retention.bytes": "-1"}


def ensure_topic(config: KafkaConfig) -> None:
    """Creates the topic with the configured partition count (replication 1) and unlimited
    retention unless it exists; an existing topic is left as it is. Returns once every
    partition has a leader."""
    admin = admin_client(config)
    try:
        if config.topic not in admin.list_topics():
            try:
                admin.create_topics(
                    {
                        config.topic: {
                            "num_partitions": config.partitions,
                            "replication_factor": 1,
                            "configs": UNLIMITED_RETENTION,
                        }
                    }
                )
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile
        admin.wait_for_topics([config.topic], timeout_ms=30_000)
    finally:
        admin.close()


def topic_partitions(admin: KafkaAdminClient, topic: str) -> list[int]:
    """The topic's partition numbers; empty when the topic does not exist."""
    if topic not in admin.list_topics():
        return []
    (described,) = admin.describe_topics([topic])
    return sorted(p["partition_index"] for p in described["partitions"])


def end_offsets(config: KafkaConfig) -> dict[int, int]:
    """Per partition, the offset the next message will get; empty when there is no topic."""
    admin = admin_client(config)
    try:
        partitions = topic_partitions(admin, config.topic)
        if not partitions:
            return {}
        specs = {TopicPartition(config.topic, p): OffsetSpec.LATEST for p in partitions}
        found = admin.list_partition_offsets(specs)
        return {tp.partition: found[tp].offset for tp in specs}
    finally:
        admin.close()


def close_producer(producer: KafkaProducer, timeout_s: float) -> None:
    """Closes `producer` for good, its sender thread ended. kafka-python's `close` first
    flushes, and raises if that does not finish within the timeout — leaving the sender thread
    running with its buffer. Then the sender is forced to stop (what it held is abandoned) and
    the close completed. A close that flushed in time but could not wait for the sender (a
    timeout of 0) only tells it to stop: it is waited for here."""
    sender = getattr(producer, "_sender", None)  # no public way to abandon the buffer
    try:
        producer.close(timeout=timeout_s)
    except KafkaError as error:
        log.info("producer_closed_undelivered", error=str(error)[:300])
        if sender is not None:
            sender.force_close()
            sender.join(10)
        try:
            producer.close(timeout=0)
        except KafkaError as error:
            log.warning("producer_close_incomplete", error=str(error)[:300])
    if sender is not None and sender is not threading.current_thread():
        sender.join(10)


def partition_for(key: str, partitions: int) -> int:
    """The partition the relay's producer sends `key` to (kafka-python's default partitioner:
    murmur2 of the key, as Kafka's Java client does)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Backoff:
    """Exponential waits between retries, from `first_s` doubling up to `max_s`."""

    def __init__(self, first_s: float = 0.2, max_s: float = 10.0) -> None:
        self.first_s, self.max_s, self.current = first_s, max_s, first_s

    def next(self) -> float:
        wait, self.current = self.current, min(self.current * 2, self.max_s)
        return wait

    def reset(self) -> None:
        self.current = self.first_s


def ensure_topic_when_possible(config: KafkaConfig, stop: threading.Event) -> None:
    """Creates the topic, retrying with backoff while the broker is unreachable."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            ensure_topic(config)
            return
        except KafkaError as error:
            log.warning("topic_not_ready", topic=config.topic, error=str(error))
            stop.wait(backoff.next())
