"""A read model's Kafka consumer: exactly-once effect, in per-request order, offsets kept in the DB.

Guarantees:
- One consumer group per read model (`KafkaConfig.group`); auto-commit is off.
- Each poll batch is applied in ONE read-model transaction that also stores, per partition,
  the next offset to read (position source `kafka:<topic>:<partition>`). That transaction first
  locks the partitions' position rows and skips every record below the stored offset, and
  `ReadModel.apply` skips events a request has already seen: a redelivery changes nothing.
- On assignment the consumer seeks to the stored offsets (a partition never stored starts from
  the beginning); the database, not Kafka, is the truth. Kafka offsets are committed after the
  database commit only for lag tools; failing to commit them loses nothing.
- Any exception while decoding or applying one record (not an envelope, a null value, JSON
  nested too deep, data the model or the database rejects) parks that record in `dead_letters`
  in the same transaction that moves the offset past it; the consumer moves on, and no message
  can stop it. Once an event of a request is parked, that request's later events are parked
  behind it (`consumers.dead_letters`). Infrastructure failures (the database is away or timed
  out, a table is missing) are never parked: the batch is retried with backoff until it
  succeeds or `stop` is set.
- An envelope from a newer release (`schema_version` above ours) is neither applied nor parked:
  its partition stops just before it and the consumer pauses, logging an error, and retries
  with backoff until it is upgraded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
import structlog
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, OffsetOutOfRangeError
from kafka.structs import OffsetAndMetadata

from consumers import dead_letters, operations, topology
from consumers.dead_letters import DEAD_LETTERS, park, reason_of
from consumers.kafka_common import Backoff, KafkaConfig, ensure_topic_when_possible
from consumers.poison import apply_isolated, decode, is_infrastructure
from consumers.store_reader import StoreReader
from consumers.topology import TopicChanged
from projections.base import ReadModel, insert_ignoring_duplicates
from projections.envelope import Envelope, NewerSchema

log = structlog.get_logger("consumer")

# An environment variable for the fault tests only: when "1", `crm consume` exits the process
# abruptly (os._exit) right after its first database commit, before committing to Kafka.
EXIT_AFTER_DB_COMMIT_VAR = "CRM_TEST_CONSUMER_EXIT_AFTER_DB_COMMIT"

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]
T = TypeVar("T")

__all__ = [
    "DEAD_LETTERS", "EXIT_AFTER_DB_COMMIT_VAR", "ReadModelConsumer", "is_infrastructure",
    "retry_parked",
]


@dataclass(frozen=True)
class Paused:
    """A partition stopped before an envelope from a newer release."""

    tp: TopicPartition
    offset: int
    schema_version: int


class StoredOffsets:
    """The read model's stored next offsets, per partition of the configured topic."""

    def __init__(self, model: ReadModel, config: KafkaConfig) -> None:
        self.model = model
        self.config = config

    def read(self, conn: sa.Connection, partitions: Sequence[int]) -> dict[int, int | None]:
        stored = self.model.positions_by_source(conn)
        return {p: stored.get(self.config.source(p)) for p in partitions}

    def lock(self, conn: sa.Connection, partitions: Sequence[int]) -> dict[int, int]:
        """Locks the partitions' position rows for this transaction (creating them at 0), so
        two members briefly owning one partition apply each record once."""
        t = self.model.positions
        sources = {self.config.source(p): p for p in partitions}
        insert_ignoring_duplicates(conn, t, [{"source": s, "position": 0} for s in sources])
        q = sa.select(t.c.source, t.c.position).where(t.c.source.in_(sources)).with_for_update()
        return {sources[s]: pos for s, pos in conn.execute(q)}


def retry_parked(engine: sa.Engine, model: ReadModel) -> dead_letters.RetryResult:
    """Re-applies the model's parked messages in order (`crm projections retry-dead-letters`)."""
    dead_letters.ensure_table(engine)
    model.create(engine)
    return dead_letters.retry(
        engine, model, model.lock_positions, Envelope.from_json,
        is_infrastructure,
    )


class SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped (kafka-python)
    """On assignment, moves each partition to its stored offset. Runs on the client's IO thread,
    so it reads through its own connection; if the database cannot answer, the partitions are
    paused and left to the consumer's thread to seek once it can."""

    def __init__(self, owner: ReadModelConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("partitions_revoked", model=self.owner.model.name,
                 partitions=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.owner.topology_due = True  # checked on the consumer's thread before any apply
        self.owner.seek_stored(list(assigned), on_io_thread=True)


class ReadModelConsumer:
    """Feeds one read model from the topic; `run(stop)` until `stop` is set."""

    def __init__(
        self,
        model: ReadModel,
        engine: sa.Engine,
        config: KafkaConfig,
        *,
        max_records: int = 1000,
        after_db_commit: Callable[[], None] | None = None,
        reader: StoreReader | None = None,
    ) -> None:
        self.model = model
        self.reader = reader  # to build the model from the store when the log cannot
        self.engine = engine
        self.config = config
        self.max_records = max_records
        self.after_db_commit = after_db_commit
        self.offsets = StoredOffsets(model, config)
        self._consumer: KafkaConsumer | None = None
        self._pending: set[TopicPartition] = set()
        self._pending_lock = threading.Lock()
        self._rewound: dict[TopicPartition, tuple[int, int]] = {}  # → (offset, at poll)
        self._polls = 0
        self.retries = 0  # batches (or table set-ups) retried after an infrastructure failure
        self.paused: Paused | None = None  # the last stop before a newer envelope, if any
        self._pause_backoff = Backoff(first_s=1.0, max_s=30.0)
        self.topology_due = False
        self.built_from_store = 0  # times the model was built from the event store at start
        self.deferred_seeks = 0  # assignments whose stored offsets could not be read at once

    def ensure_tables(self) -> None:
        self.model.create(self.engine)
        operations.ensure_tables(self.engine)

    def run(self, stop: threading.Event) -> None:
        """Consumes until `stop` is set, then leaves the group cleanly. Raises `TopicChanged`
        (logged as `topic_changed`) when the topic is not the one its offsets describe."""
        self._retry(self.ensure_tables, stop, "tables")
        ensure_topic_when_possible(self.config, stop)
        try:
            self._retry(self.join_stream, stop, "topology")
        except TopicChanged as changed:
            log.error("topic_changed", model=self.model.name, message=str(changed))
            raise
        if stop.is_set():
            return
        consumer = self._consumer = self._make_consumer()
        log.info("consumer_started", model=self.model.name, group=self.config.group(self.model.name))
        try:
            while not stop.is_set():
                self._step(consumer, stop)
        finally:
            consumer.close(autocommit=False, timeout_ms=5_000)
            self._consumer = None
            log.info("consumer_stopped", model=self.model.name)

    # -- the topic ----------------------------------------------------------------------------

    def join_stream(self) -> None:
        """Before consuming: rebuilds the model if its definition changed
        (`operations.ensure_current`), checks the topic is the one the stored offsets describe
        (`topology.check`), and builds the model from the event store when the log cannot give
        it every event — no stored offset on a log that no longer starts at 0, or a stored offset
        below the log's start (without a store reader, stops with `TopicChanged`)."""
        if self.reader is not None and operations.ensure_current(
            self.reader, self.engine, self.model.name, self.config
        ):
            self.built_from_store += 1
        found = topology.describe(self.config)
        if found is None:
            return
        starts = topology.log_starts(self.config)
        with self.engine.connect() as conn:
            stored = self.offsets.read(conn, sorted(starts))
        lost = {p: (stored[p], start) for p, start in starts.items()
                if (stored[p] or 0) < start}
        if lost and self.reader is None:
            raise TopicChanged(
                f"the log of {self.config.topic} no longer holds every event "
                f"{self.model.name} has not applied (partition: (stored, log start) {lost}). "
                f"Run `crm projections rebuild {self.model.name}` to build it from the event "
                "store, then start the consumer again.")
        if lost:
            assert self.reader is not None
            log.warning("building_from_store", model=self.model.name, partitions=lost)
            n = operations.rebuild(self.reader, self.engine, self.model.name, config=self.config)
            self.built_from_store += 1
            log.info("built_from_store", model=self.model.name, events=n)
            return
        topology.check(self.engine, self.model.name, self.config, found)

    def _out_of_range(
        self, consumer: KafkaConsumer, error: OffsetOutOfRangeError, stop: threading.Event
    ) -> None:
        """A stored offset the log no longer holds (the topic was recreated, or records were
        removed): never skipped silently. `join_stream` stops the consumer (`TopicChanged`) or
        builds the model from the store; then every partition seeks to its stored offset."""
        log.error("offset_out_of_range", model=self.model.name, error=str(error)[:300])
        try:
            self._retry(self.join_stream, stop, "topology")
        except TopicChanged as changed:
            log.error("topic_changed", model=self.model.name, message=str(changed))
            raise
        self.seek_stored(list(consumer.assignment()))
        stop.wait(1.0)

    def _check_topology(self) -> None:
        found = topology.describe(self.config)
        if found is not None:
            topology.check(self.engine, self.model.name, self.config, found)
        self.topology_due = False

    # -- one poll -----------------------------------------------------------------------------

    def _step(self, consumer: KafkaConsumer, stop: threading.Event) -> None:
        self._seek_pending()
        try:
            batch: Batch = consumer.poll(timeout_ms=500, max_records=self.max_records)
            self._polls += 1
        except OffsetOutOfRangeError as error:
            self._out_of_range(consumer, error, stop)
            return
        except KafkaError as error:
            log.warning("poll_failed", model=self.model.name, error=str(error))
            stop.wait(1.0)
            return
        if self.topology_due:
            try:
                self._retry(self._check_topology, stop, "topology")
            except TopicChanged as changed:
                log.error("topic_changed", model=self.model.name, message=str(changed))
                raise
        if not batch:
            return
        done = self._retry(lambda: self.apply(batch), stop, "apply")
        if done is None:
            return  # stopped before the batch could be applied: it will be redelivered
        if self.after_db_commit is not None:
            self.after_db_commit()
        self._commit_to_kafka(consumer, done)
        if self.paused is not None:
            self._wait_for_upgrade(consumer, self.paused, stop)
        else:
            self._pause_backoff.reset()

    def _wait_for_upgrade(self, consumer: KafkaConsumer, paused: Paused, stop: threading.Event) -> None:
        """Rewinds the partition to the newer envelope and waits (backoff) before reading it
        again: only an upgraded consumer may apply it."""
        wait = self._pause_backoff.next()
        log.error("newer_schema_version_paused", model=self.model.name,
                  partition=paused.tp.partition, offset=paused.offset,
                  schema_version=paused.schema_version, retry_in_s=wait,
                  action="upgrade this consumer to a release that reads this schema_version")
        if paused.tp in consumer.assignment():
            consumer.seek(paused.tp, paused.offset)
        stop.wait(wait)

    def apply(self, batch: Batch) -> dict[TopicPartition, int]:
        """Applies the batch in one transaction with the partitions' next offsets; returns the
        offsets stored. A partition stops before an envelope from a newer release (`paused`)."""
        self.paused = None
        with self.engine.begin() as conn:
            stored = self.offsets.lock(conn, sorted({tp.partition for tp in batch}))
            fresh = {tp: self._fresh(tp, recs, stored[tp.partition]) for tp, recs in batch.items()}
            decoded: list[tuple[ConsumerRecord, Envelope | None, str | None]] = []
            for tp, recs in fresh.items():
                for i, record in enumerate(recs):
                    env, reason = decode(record)
                    if isinstance(env, NewerSchema):
                        self.paused = Paused(tp, record.offset, env.version)
                        fresh[tp] = recs[:i]
                        break
                    decoded.append((record, env, reason))
            parked = apply_isolated(conn, self.model, decoded)
            park(conn, self.model.name, parked)
            done = {tp: recs[-1].offset + 1 for tp, recs in fresh.items() if recs}
            for tp, offset in done.items():
                self.model.set_position(conn, self.config.source(tp.partition), offset)
            cut: dict[int, int] = {}
            for record, env, _ in decoded:
                if env is not None:
                    cut[record.partition] = max(cut.get(record.partition, 0), env.position)
            for partition, position in cut.items():
                self.model.raise_position(conn, self.config.cut_source(partition), position)
        if parked:
            log.warning("messages_parked", model=self.model.name, count=len(parked),
                        first=f"{parked[0].record.partition}@{parked[0].record.offset}",
                        reason=parked[0].reason)
        return done

    def _fresh(
        self, tp: TopicPartition, records: Sequence[ConsumerRecord], stored: int
    ) -> list[ConsumerRecord]:
        """The records at or after the stored offset. If the stored offset is behind what was
        fetched (the read model was rebuilt meanwhile), the partition is rewound to it and its
        records are left out; only a batch polled after that rewind may start past the stored
        offset (the log itself has a gap there, e.g. retention removed those records)."""
        fresh = [r for r in records if r.offset >= stored]
        if not fresh or fresh[0].offset == stored:
            return fresh
        rewound_at = self._rewound.get(tp)
        if rewound_at is not None and rewound_at[0] == stored and rewound_at[1] < self._polls:
            return fresh
        if self._consumer is not None and tp in self._consumer.assignment():
            self._consumer.seek(tp, stored)
            self._rewound[tp] = (stored, self._polls)
            log.warning("partition_rewound", model=self.model.name, partition=tp.partition,
                        offset=stored, fetched=fresh[0].offset)
        return []

    # -- offsets ------------------------------------------------------------------------------

    def seek_stored(self, partitions: list[TopicPartition], on_io_thread: bool = False) -> None:
        """Seeks each partition to its stored offset (the beginning if none). If the database
        cannot answer, pauses them for `_seek_pending` to retry."""
        consumer = self._consumer
        if consumer is None or not partitions:
            return
        try:
            with self.engine.connect() as conn:
                stored = self.offsets.read(conn, [tp.partition for tp in partitions])
        except sa.exc.SQLAlchemyError as error:
            self.deferred_seeks += 1
            log.warning("stored_offsets_unavailable", model=self.model.name,
                        error=reason_of(error)[:300])
            consumer.pause(*partitions)
            with self._pending_lock:
                self._pending.update(partitions)
            return
        for tp in partitions:
            offset = stored[tp.partition]
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        with self._pending_lock:
            self._pending.difference_update(partitions)
        consumer.resume(*partitions)
        log.info("partitions_assigned", model=self.model.name, io_thread=on_io_thread,
                 offsets={tp.partition: stored[tp.partition] for tp in partitions})

    def _seek_pending(self) -> None:
        consumer = self._consumer
        with self._pending_lock:
            pending = [tp for tp in self._pending if consumer and tp in consumer.assignment()]
            self._pending.clear()
        self.seek_stored(pending)

    def _commit_to_kafka(self, consumer: KafkaConsumer, done: Mapping[TopicPartition, int]) -> None:
        """Tells Kafka how far the database got, for lag tools; asynchronous, and a failure
        only costs a log line (the database, not Kafka, says where to resume)."""
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in done.items()}
        if offsets:
            consumer.commit_async(offsets, callback=self._on_kafka_commit)

    def _on_kafka_commit(self, _offsets: object, response: object) -> None:
        if isinstance(response, BaseException):
            log.info("kafka_commit_skipped", model=self.model.name, error=str(response))

    # -- plumbing -----------------------------------------------------------------------------

    def _make_consumer(self) -> KafkaConsumer:
        config = self.config
        consumer = KafkaConsumer(
            bootstrap_servers=config.bootstrap,
            client_id=f"{config.client_id}-{self.model.name}",
            group_id=config.group(self.model.name),
            enable_auto_commit=False,
            # Never jump to another offset on our own: every partition is sought to its stored
            # offset on assignment, and an offset the log lost is `_out_of_range`'s to handle.
            auto_offset_reset="none",
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=max(1_000, config.session_timeout_ms // 3),
            max_poll_interval_ms=config.max_poll_interval_ms,
            max_poll_records=self.max_records,
            # Let the broker gather a useful batch (at most 200 ms): fewer, larger transactions.
            fetch_min_bytes=64 * 1024,
            fetch_max_wait_ms=200,
        )
        consumer.subscribe([config.topic], listener=SeekToStored(self))
        return consumer

    def _retry(self, action: Callable[[], T], stop: threading.Event, what: str) -> T | None:
        """Runs `action` until it succeeds (its result) or `stop` is set (None), waiting with
        backoff after each infrastructure failure."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                return action()
            except Exception as error:
                # Setting up (tables, topic checks) may meet another process doing the same:
                # any database error is retried there; while applying, only the
                # infrastructure's (a message's own error parks it inside `apply`).
                setting_up = what != "apply" and isinstance(error, sa.exc.SQLAlchemyError)
                if not (setting_up or is_infrastructure(error) or isinstance(error, KafkaError)):
                    raise
                self.retries += 1
                wait = backoff.next()
                log.warning("retrying", model=self.model.name, what=what, wait_s=wait,
                            error=reason_of(error)[:300])
                stop.wait(wait)
        return None


def exit_after_db_commit_hook(env: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """The fault tests' hook (`CRM_TEST_CONSUMER_EXIT_AFTER_DB_COMMIT=1`), off unless set."""
    env = os.environ if env is None else env
    if env.get(EXIT_AFTER_DB_COMMIT_VAR) != "1":
        return None

    def exit_now() -> None:
        log.warning("test_hook_exit_after_db_commit")
        os._exit(70)

    return exit_now
