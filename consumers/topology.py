"""What each read model knows of the topic its stored offsets describe, and the checks on it.

A read model's stored offsets mean something only for the topic they were read from, with the
partition count it had then: a request's events stay in order only within one partition, and
an offset names a message only in one incarnation of a topic. So each model records, beside its
offsets, the topic's identity (Kafka's topic id) and partition count (`stream_topology`).

- `check` (each consumer, at start and after every rebalance) stops the consumer with
  `TopicChanged` when the topic is not the one recorded — deleted and created again, or its
  partition count changed — naming the command that repairs it. Nothing is applied meanwhile.
- `log_starts` says where each partition's log now begins: a model with no stored offset on a
  log that no longer starts at 0, or whose stored offset is below the start, must be built
  from the event store (`operations.rebuild`), never from the truncated log.
- `check_relay` refuses to publish to a topic whose partition count is not the configured one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from kafka import TopicPartition
from kafka.admin import OffsetSpec

from consumers.kafka_common import KafkaConfig, admin_client
from projections.tables import create_tables

TOPOLOGY = sa.Table(
    "stream_topology",
    sa.MetaData(),
    sa.Column("read_model", sa.String(64), primary_key=True),
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("topic_id", sa.String(64), nullable=False),
    sa.Column("partitions", sa.Integer, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


class TopicChanged(RuntimeError):
    """The topic is not the one a consumer's stored offsets describe (or the relay's
    configuration): the component stops, and the message says what to run."""


@dataclass(frozen=True)
class Topology:
    topic_id: str
    partitions: int


def describe(config: KafkaConfig) -> Topology | None:
    """The topic's identity and partition count as the broker has them (None: no topic)."""
    admin = admin_client(config)
    try:
        if config.topic not in admin.list_topics():
            return None
        (found,) = admin.describe_topics([config.topic])
        return Topology(str(found["topic_id"]), len(found["partitions"]))
    finally:
        admin.close()


def log_starts(config: KafkaConfig) -> dict[int, int]:
    """Per partition, the first offset the log still holds (0 unless records were removed)."""
    admin = admin_client(config)
    try:
        if config.topic not in admin.list_topics():
            return {}
        (found,) = admin.describe_topics([config.topic])
        specs = {
            TopicPartition(config.topic, p["partition_index"]): OffsetSpec.EARLIEST
            for p in found["partitions"]
        }
        offsets = admin.list_partition_offsets(specs)
        return {tp.partition: offsets[tp].offset for tp in specs}
    finally:
        admin.close()


def recorded(conn: sa.Connection, model_name: str, topic: str) -> Topology | None:
    t = TOPOLOGY
    row = conn.execute(
        sa.select(t.c.topic_id, t.c.partitions).where(
            t.c.read_model == model_name, t.c.topic == topic
        )
    ).first()
    return None if row is None else Topology(row.topic_id, row.partitions)


def record(conn: sa.Connection, model_name: str, topic: str, topology: Topology) -> None:
    t = TOPOLOGY
    conn.execute(sa.delete(t).where(t.c.read_model == model_name, t.c.topic == topic))
    conn.execute(
        sa.insert(t).values(
            read_model=model_name,
            topic=topic,
            topic_id=topology.topic_id,
            partitions=topology.partitions,
            recorded_at=datetime.now(UTC),
        )
    )


def ensure_table(engine: sa.Engine) -> None:
    create_tables(TOPOLOGY.metadata, engine)


def check(engine: sa.Engine, model_name: str, config: KafkaConfig, found: Topology) -> None:
    """Records the topic for a model that has none recorded; raises `TopicChanged` when the
    recorded one differs."""
    with engine.begin() as conn:
        known = recorded(conn, model_name, config.topic)
        if known is None:
            record(conn, model_name, config.topic, found)
            return
    if known == found:
        return
    what = []
    if known.topic_id != found.topic_id:
        what.append(f"it was deleted and created again (id {known.topic_id} → {found.topic_id})")
    if known.partitions != found.partitions:
        what.append(f"its partition count changed ({known.partitions} → {found.partitions})")
    raise TopicChanged(
        f"topic {config.topic} is not the one {model_name}'s stored offsets describe: "
        f"{' and '.join(what)}. Its offsets no longer say what was applied, so the consumer "
        f"stopped. Run `crm projections rebuild {model_name}` (it builds the model from the "
        "event store and joins the topic as it is now), then start the consumer again."
    )


def check_relay(config: KafkaConfig, found: Topology | None) -> None:
    """The relay publishes only to a topic with the configured partition count: a request's
    events must keep one partition for their order to hold."""
    if found is not None and found.partitions != config.partitions:
        raise TopicChanged(
            f"topic {config.topic} has {found.partitions} partitions, the configuration says "
            f"{config.partitions} (CRM_KAFKA_PARTITIONS): the relay will not publish. To change "
            "the partition count: stop the relay and consumers, change the topic, set "
            "CRM_KAFKA_PARTITIONS to match, run `crm projections rebuild NAME` for each read "
            "model, then start them again (README: Changing the topic)."
        )
