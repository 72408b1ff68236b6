"""How far behind the event store each read model is, on either delivery path.

`embedded_status` and `kafka_status` take one consistent reading (store head, then the relay's
checkpoint, then the partitions' end offsets, then the read models' stored positions), so when
`drained()` says yes, every event up to `store_head` has been applied by every model named.
Lag in seconds is the age (against the wall clock: this is operations tooling, not a projection)
of the oldest stored event a read model has not applied yet; 0 when it is caught up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers import dead_letters, follower
from consumers.kafka_common import KafkaConfig, end_offsets
from consumers.relay import read_checkpoint
from consumers.store_reader import StoreReader
from projections.base import ReadModel
from projections.envelope import Envelope, EnvelopeError


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    offset: int | None  # the stored next offset; None: never consumed
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.offset or 0))


@dataclass
class ModelLag:
    name: str
    positions: dict[str, int]
    lag_events: int
    lag_seconds: float = 0.0
    partitions: list[PartitionLag] = field(default_factory=list)
    parked_messages: int = 0  # messages in `dead_letters` (`crm projections dead-letters`)
    parked_requests: int = 0  # requests held by them (undecodable messages hold none)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["partitions"] = [dict(asdict(p), lag=p.lag) for p in self.partitions]
        return out


@dataclass
class PipelineStatus:
    path: str  # "embedded" or "kafka"
    store_head: int
    models: list[ModelLag]
    relay_checkpoint: int | None = None
    topic: str | None = None

    @property
    def relay_behind(self) -> int:
        """Positions the relay still has to publish (0 on the embedded path)."""
        return max(0, self.store_head - (self.relay_checkpoint or 0)) if self.topic else 0

    def drained(self) -> bool:
        return self.relay_behind == 0 and all(m.lag_events == 0 for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "store_head": self.store_head,
            "topic": self.topic,
            "relay_checkpoint": self.relay_checkpoint,
            "relay_behind": self.relay_behind,
            "read_models": {m.name: m.to_dict() for m in self.models},
        }


def _age_s(instant: datetime | None, now: datetime) -> float:
    return 0.0 if instant is None else round(max(0.0, (now - instant).total_seconds()), 3)


def _first_after(reader: StoreReader, position: int) -> datetime | None:
    """When the first stored event after `position` was recorded; None if there is none."""
    batch = reader.read(position, 1)
    return datetime.fromisoformat(batch[0].recorded_at) if batch else None


def embedded_status(
    reader: StoreReader, engine: sa.Engine, models: Sequence[ReadModel], ages: bool = True
) -> PipelineStatus:
    head = reader.head()
    now = datetime.now(UTC)
    out = []
    with engine.connect() as conn:
        positions = {m.name: m.positions_by_source(conn) for m in models}
        parked = dead_letters.counts(conn, [m.name for m in models])
    for m in models:
        applied = positions[m.name].get(follower.SOURCE, 0)
        lag = ModelLag(
            m.name,
            positions[m.name],
            max(0, head - applied),
            parked_messages=parked[m.name].messages,
            parked_requests=parked[m.name].requests,
        )
        if ages and lag.lag_events:
            lag.lag_seconds = _age_s(_first_after(reader, applied), now)
        out.append(lag)
    return PipelineStatus("embedded", head, out)


def kafka_status(
    reader: StoreReader,
    write_engine: sa.Engine,
    read_engine: sa.Engine,
    config: KafkaConfig,
    models: Sequence[ReadModel],
    ages: bool = True,
) -> PipelineStatus:
    head = reader.head()
    checkpoint = read_checkpoint(write_engine, config.topic)
    ends = end_offsets(config)
    with read_engine.connect() as conn:
        positions = {m.name: m.positions_by_source(conn) for m in models}
        parked = dead_letters.counts(conn, [m.name for m in models])
    status = PipelineStatus("kafka", head, [], relay_checkpoint=checkpoint, topic=config.topic)
    for m in models:
        stored = {config.partition_of(s): p for s, p in positions[m.name].items()}
        parts = [PartitionLag(p, stored.get(p), end) for p, end in sorted(ends.items())]
        status.models.append(
            ModelLag(
                m.name,
                positions[m.name],
                sum(p.lag for p in parts),
                partitions=parts,
                parked_messages=parked[m.name].messages,
                parked_requests=parked[m.name].requests,
            )
        )
    if ages:
        _fill_ages(status, reader, config)
    return status


def _fill_ages(status: PipelineStatus, reader: StoreReader, config: KafkaConfig) -> None:
    now = datetime.now(UTC)
    unrelayed = _first_after(reader, status.relay_checkpoint or 0) if status.relay_behind else None
    wanted = {(p.partition, p.offset or 0) for m in status.models for p in m.partitions if p.lag}
    recorded = recorded_at_offsets(config, wanted) if wanted else {}
    for m in status.models:
        found = [recorded.get((p.partition, p.offset or 0)) for p in m.partitions if p.lag]
        instants = [i for i in [*found, unrelayed] if i is not None]
        m.lag_seconds = _age_s(min(instants), now) if instants else 0.0


def _recorded_at(record: ConsumerRecord) -> datetime:
    try:
        return datetime.fromisoformat(Envelope.from_json(record.value).recorded_at)
    except (EnvelopeError, ValueError):
        return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def recorded_at_offsets(
    config: KafkaConfig, wanted: set[tuple[int, int]], timeout_s: float = 5.0
) -> dict[tuple[int, int], datetime]:
    """For each (partition, offset), when the event found there was recorded in the store
    (bounded by `timeout_s`; what was not fetched in time is left out)."""
    out: dict[tuple[int, int], datetime] = {}
    consumer = KafkaConsumer(
        bootstrap_servers=config.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"{config.client_id}-lag",
        auto_offset_reset="earliest",
    )
    try:
        for partition, offset in sorted(wanted):
            tp = TopicPartition(config.topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + timeout_s
            while (partition, offset) not in out and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=200, max_records=1).values():
                    out[(partition, offset)] = _recorded_at(records[0])
    finally:
        consumer.close()
    return out


def wait_caught_up(
    read_status: Callable[[], PipelineStatus], timeout_s: float, interval_s: float = 0.5
) -> tuple[bool, PipelineStatus]:
    """Waits (bounded) until every event stored when called has been applied by every model
    named — reachable while new events keep arriving, unlike `wait_drained`: first the relay
    passes the store's head as it was, then each model's offsets reach the partitions' ends as
    they were then. Returns whether that happened in time, and the last status."""
    deadline = time.monotonic() + timeout_s
    first = read_status()
    head, status = first.store_head, first
    while (status.relay_checkpoint or 0) < head:
        if time.monotonic() >= deadline:
            return False, status
        time.sleep(interval_s)
        status = read_status()
    ends = {p.partition: p.end for m in status.models for p in m.partitions}
    while not all(
        (p.offset or 0) >= ends.get(p.partition, 0) for m in status.models for p in m.partitions
    ):
        if time.monotonic() >= deadline:
            return False, status
        time.sleep(interval_s)
        status = read_status()
    return True, status


def wait_drained(
    read_status: Callable[[], PipelineStatus], timeout_s: float, interval_s: float = 0.5
) -> PipelineStatus:
    """Polls `read_status` until it reports drained or `timeout_s` passes; returns the last."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = read_status()
        if status.drained() or time.monotonic() >= deadline:
            return status
        time.sleep(interval_s)
