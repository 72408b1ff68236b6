"""The outbox relay: publishes the event store's global log to Kafka, at least once.

Guarantees:
- Every stored event is published to the topic, keyed by its request id (so one request's
  events share a partition and keep their order), valued by `Envelope.to_json()`, with headers
  `event_type` and `schema_version`.
- The durable checkpoint (a row of `relay_checkpoint`, in the event store's database) only
  moves past an event after the broker acknowledged it (`acks=all`, idempotent producer), and
  only forward. A crash at any instant re-sends from the checkpoint: some events may be
  published twice, none is skipped. Consumers deduplicate.
- Positions are read strictly after the checkpoint, so gaps in the positions (an id burnt by a
  rolled-back conflict) are harmless.
- A failure of the store or the broker is logged and retried with a bounded backoff; `run`
  returns once `stop` is set.
- Latency: on PostgreSQL a relay that published less than a full batch waits for the store's
  next commit (its NOTIFY, `consumers.store_wakeup`) — at most `idle_sleep_s`, and at least
  until `batch_gap_s` after its previous batch began, so that at a steady trickle of commands
  batches are not one event each (a batch costs milliseconds of Python whatever its size,
  the producer's sender thread included; 25 ms apart, ~5 events share one at 200 events/s);
  a full batch is followed at once. Elsewhere (SQLite) it sleeps `idle_sleep_s` when the log
  has nothing new.
- One relay per topic at a time: `run` publishes only while it holds the topic's leader lock
  (`consumers.leader`). A second relay waits as a standby, trying the lock every
  `standby_poll_s`, and takes over when the leader dies; a leader that loses its lock stops
  publishing before its next batch.
- The producer is always closed, its sender thread stopped and its buffer released, even when
  what it held could not be delivered in time (that part is sent again from the checkpoint).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from eventsourcing.persistence import PersistenceError
from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from consumers import topology
from consumers.kafka_common import (
    Backoff,
    KafkaConfig,
    close_producer,
    ensure_topic_when_possible,
    partition_for,
)
from consumers.leader import LeaderLock, send_raw
from consumers.store_reader import StoreReader
from consumers.store_wakeup import StoreWakeup
from projections.envelope import Envelope
from projections.tables import create_tables

log = structlog.get_logger("relay")

# What a server being away looks like; anything else is a bug and stops the relay.
TRANSIENT: tuple[type[Exception], ...] = (
    KafkaError,
    sa.exc.SQLAlchemyError,
    PersistenceError,
    OSError,
)

CHECKPOINTS = sa.Table(
    "relay_checkpoint",
    sa.MetaData(),
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class DeliveryFailed(KafkaError):  # type: ignore[misc]  # KafkaError is untyped (kafka-python)
    """The broker did not acknowledge every message of a batch; the checkpoint stays put."""


def read_checkpoint(engine: sa.Engine, topic: str) -> int:
    """The last position published to `topic` and acknowledged (0 when none)."""
    create_tables(CHECKPOINTS.metadata, engine)
    with engine.connect() as conn:
        q = sa.select(CHECKPOINTS.c.position).where(CHECKPOINTS.c.topic == topic)
        return conn.execute(q).scalar_one_or_none() or 0


def save_checkpoint(engine: sa.Engine, topic: str, position: int) -> None:
    """Moves the checkpoint forward to `position` (never back), in a transaction of its own."""
    with engine.begin() as conn:
        save_checkpoint_on(conn, topic, position)


# The checkpoint moved forward (never back), or made, in one statement on PostgreSQL: the relay
# sends it on the leader lock's own session (autocommit), so a batch's bookkeeping is one round
# trip, with no transaction to begin and no statement to compile, straight to the driver.
POSTGRES_SAVE = (
    "INSERT INTO relay_checkpoint AS c (topic, position, updated_at) "
    "VALUES (%(topic)s, %(position)s, %(now)s) "
    "ON CONFLICT (topic) DO UPDATE SET position = excluded.position, "
    "updated_at = excluded.updated_at WHERE c.position < excluded.position"
)


def save_checkpoint_on(conn: sa.Connection, topic: str, position: int) -> None:
    """Moves the checkpoint forward to `position` (never back) on `conn`: on PostgreSQL one
    statement (`POSTGRES_SAVE`), elsewhere an update, else the row made."""
    now = datetime.now(UTC)
    if conn.dialect.name == "postgresql":
        send_raw(conn, POSTGRES_SAVE, {"topic": topic, "position": position, "now": now})
        return
    t = CHECKPOINTS
    done = conn.execute(
        sa.update(t)
        .where(t.c.topic == topic, t.c.position < position)
        .values(position=position, updated_at=now)
    )
    if done.rowcount == 0:
        exists = conn.execute(sa.select(t.c.position).where(t.c.topic == topic)).first()
        if exists is None:
            conn.execute(sa.insert(t).values(topic=topic, position=position, updated_at=now))


def make_producer(config: KafkaConfig) -> KafkaProducer:
    """Idempotent, `acks=all`, batching for throughput; retries until the delivery timeout."""
    return KafkaProducer(
        bootstrap_servers=config.bootstrap,
        client_id=f"{config.client_id}-relay",
        acks="all",
        enable_idempotence=True,
        # Every batch ends in flush(), which sends at once: lingering only groups the sends of
        # a batch into one request per partition (with 50 ms, a batch that took longer than
        # that to hand over went out in many small requests, each a wake-up and a round trip).
        linger_ms=1_000,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        delivery_timeout_ms=300_000,
        request_timeout_ms=30_000,
        max_block_ms=10_000,
        # kafka-python's own metrics are read by nothing here: not kept, their sensors cost
        # the sender thread work on every request.
        metrics_enabled=False,
    )


def headers(env: Envelope) -> list[tuple[str, bytes]]:
    return [
        ("event_type", env.event_type.encode()),
        ("schema_version", str(env.schema_version).encode()),
    ]


# Requests whose partition the relay remembers (then it starts again): one entry per request.
PARTITION_CACHE_SIZE = 100_000


class Relay:
    """Follows the store's log from the checkpoint and publishes it, batch by batch."""

    def __init__(
        self,
        reader: StoreReader,
        engine: sa.Engine,
        config: KafkaConfig,
        *,
        batch_size: int = 1000,
        idle_sleep_s: float = 0.1,
        batch_gap_s: float = 0.025,
        standby_poll_s: float = 1.0,
        wake_on_commit: bool = True,
    ) -> None:
        self.reader = reader
        self.engine = engine
        self.config = config
        self.batch_size = batch_size
        self.idle_sleep_s = idle_sleep_s
        self.batch_gap_s = batch_gap_s
        self.wake_on_commit = wake_on_commit
        self.wakeup: StoreWakeup | None = None  # made by `run` (PostgreSQL only)
        self.standby_poll_s = standby_poll_s
        self.leader = LeaderLock(engine, f"relay/{config.topic}")
        self.leading: bool | None = None  # None until the first attempt
        self._producer: KafkaProducer | None = None
        self._position: int | None = None
        # Per request, its partition; per (event type, schema version), its headers: worked
        # out once, not for every message (the producer's own partitioner hashes each key
        # with a pure-Python murmur2; `partition_for` is the same function).
        self._partitions: dict[str, int] = {}
        self._partition_count = 0
        self._headers: dict[tuple[str, int], list[tuple[str, bytes]]] = {}
        self.retries = 0  # batches retried after a failure of the store or the broker

    def publish_batch(self, stop: threading.Event | None = None) -> int:
        """Publishes the next batch after the checkpoint, waits for every acknowledgement, then
        moves the checkpoint; returns how many events it published (0: nothing new)."""
        if self._position is None:
            self._position = read_checkpoint(self.engine, self.config.topic)
        batch = self.reader.read(self._position, self.batch_size)
        if not batch:
            return 0
        producer = self._ensure_producer()
        self._know_partitions(producer)
        futures = [self._send(producer, env) for env in batch]
        self._await_acks(producer, futures, stop)
        session = self.leader.session
        if session is not None:
            save_checkpoint_on(session, self.config.topic, batch[-1].position)
        else:
            save_checkpoint(self.engine, self.config.topic, batch[-1].position)
        self._position = batch[-1].position
        return len(batch)

    def run(self, stop: threading.Event) -> None:
        """Publishes until `stop` is set, while it holds the topic's leader lock (a standby
        until then), sleeping `idle_sleep_s` when the log has nothing new."""
        log.info("relay_started", topic=self.config.topic, batch_size=self.batch_size)
        ensure_topic_when_possible(self.config, stop)
        self._check_topic(stop)
        if self.wakeup is None and self.wake_on_commit:
            self.wakeup = StoreWakeup.for_recorder(self.reader.app.recorder)
        backoff = Backoff()
        try:
            while not stop.is_set():
                if not self._lead():
                    stop.wait(self.standby_poll_s)
                    continue
                began = time.monotonic()
                try:
                    published = self.publish_batch(stop)
                except TRANSIENT as error:
                    self._recover(error)
                    stop.wait(backoff.next())
                    continue
                backoff.reset()
                if published:
                    log.debug("relay_published", count=published, position=self._position)
                self._idle(stop, published, began)
        finally:
            self.close()
            if self.wakeup is not None:
                self.wakeup.close()
            self.leader.release()
        log.info("relay_stopped", position=self._position)

    def _idle(self, stop: threading.Event, published: int, began: float) -> None:
        """Waits before the next batch: none after a full batch; otherwise (with a wake-up)
        until the store's next commit, at most `idle_sleep_s` and at least `batch_gap_s` after
        the batch `began`; without one, `idle_sleep_s` when nothing was published."""
        if published >= self.batch_size:
            return
        if self.wakeup is None:
            if not published:
                stop.wait(self.idle_sleep_s)
            return
        self.wakeup.wait(stop, self.idle_sleep_s)
        rest = self.batch_gap_s - (time.monotonic() - began)
        if rest > 0:
            stop.wait(rest)

    def _check_topic(self, stop: threading.Event) -> None:
        """Refuses (`TopicChanged`, logged) a topic whose partition count is not the
        configured one; retries while the broker is away."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                found = topology.describe(self.config)
            except KafkaError as error:
                log.warning("topic_not_described", topic=self.config.topic, error=str(error))
                stop.wait(backoff.next())
                continue
            try:
                topology.check_relay(self.config, found)
            except topology.TopicChanged as changed:
                log.error("topic_changed", topic=self.config.topic, message=str(changed))
                raise
            return

    def _lead(self) -> bool:
        """True while this relay holds the leader lock (taking it if it is free)."""
        try:
            leading = self.leader.held() or self.leader.try_acquire()
        except TRANSIENT as error:
            log.warning("leader_lock_unavailable", topic=self.config.topic, error=str(error)[:300])
            leading = False
        if leading is not self.leading:
            self.leading = leading
            if leading:
                log.info("relay_leading", topic=self.config.topic)
            else:
                log.warning("relay_standby", topic=self.config.topic)
            self._position = None  # re-read the checkpoint another leader may have moved
            self.close(timeout_s=0)
        return leading

    def close(self, timeout_s: float = 10) -> None:
        """Closes the producer, abandoning what it could not deliver within `timeout_s` (the
        checkpoint does not cover it, so it is sent again next time)."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            close_producer(producer, timeout_s)

    # -- internals ----------------------------------------------------------------------------

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self.config)
        return self._producer

    def _know_partitions(self, producer: KafkaProducer) -> None:
        """The topic's partition count as the producer's metadata has it (what its default
        partitioner divides by); the remembered partitions are forgotten if it changed."""
        count = len(producer.partitions_for(self.config.topic))
        if count != self._partition_count:
            self._partitions.clear()
            self._partition_count = count

    def _send(self, producer: KafkaProducer, env: Envelope) -> FutureRecordMetadata:
        """Sends one envelope keyed by its request, to the partition the producer's default
        partitioner would choose for that key, worked out once per request."""
        rid = env.request_id
        partition = self._partitions.get(rid)
        if partition is None:
            if len(self._partitions) >= PARTITION_CACHE_SIZE:
                self._partitions.clear()
            partition = self._partitions[rid] = partition_for(rid, self._partition_count)
        kind = (env.event_type, env.schema_version)
        found = self._headers.get(kind)
        if found is None:
            found = self._headers[kind] = headers(env)
        return producer.send(
            self.config.topic,
            key=rid.encode(),
            value=env.to_json(),
            headers=list(found),
            partition=partition,
        )

    def _await_acks(
        self, producer: KafkaProducer, futures: Sequence[Any], stop: threading.Event | None
    ) -> None:
        """Returns once the broker acknowledged every future; raises if any failed, or if
        `stop` was set first (the checkpoint must then stay where it is)."""
        while True:
            try:
                producer.flush(timeout=1.0)
                break
            except KafkaError:  # flush timed out: the broker is slow or away; keep waiting
                if stop is not None and stop.is_set():
                    raise DeliveryFailed("stopping before every send was acknowledged") from None
        failed = [f.exception for f in futures if f.failed()]
        if failed or not all(f.succeeded() for f in futures):
            raise DeliveryFailed(f"{len(failed)} of {len(futures)} sends failed: {failed[:1]!r}")

    def _recover(self, error: Exception) -> None:
        """After a failure: forget the in-memory position (re-read the checkpoint) and, if the
        broker was involved, start a fresh producer so nothing of the failed batch is sent
        behind a later one."""
        self.retries += 1
        log.warning("relay_retry", error=f"{type(error).__name__}: {error}"[:500])
        self._position = None
        if isinstance(error, KafkaError):
            self.close(timeout_s=0)
