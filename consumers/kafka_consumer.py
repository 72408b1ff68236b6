"""The read models' Kafka consumer: each message decoded once and applied to every read model
it feeds, exactly-once in effect, in per-request order, offsets kept in the DB.

Guarantees:
- One consumer group for the read models it feeds (`KafkaConfig.models_group`: every read
  model → `<prefix>read-models`; one model → that model's own group); auto-commit is off.
- Each poll batch is decoded once, then applied to every model (`consumers.model_feed`), all
  their shares in one transaction (one commit: one flush of the database's log per batch; a
  backlog's large batches each model in its own, a few side by side on threads). In
  it each model locks its partitions' position rows, skips every record below its own stored
  offset, applies the rest and stores, per partition, its next offset (position source
  `kafka:<topic>:<partition>`): its rows and its offsets commit together. `ReadModel.apply`
  skips events a request has already seen: a redelivery changes nothing. A model refusing a
  message rolls the batch back, which is done again with that model going message by message
  (parking only the culprits and the requests they hold), so the other models still progress.
  If the shared transaction fails for the infrastructure, each model's share is done in its
  own transaction; the batch is retried if any failed, and the models that committed skip
  what they applied.
- On assignment the consumer seeks each partition to the lowest offset its models stored (a
  partition some model never stored starts from the beginning); the database, not Kafka, is
  the truth. Kafka offsets (the lowest of the models') are committed after the database commit
  only for lag tools; failing to commit them loses nothing.
- Any exception while decoding or applying one record (not an envelope, a null value, JSON
  nested too deep, data the model or the database rejects) parks that record in `dead_letters`
  for that model in the same transaction that moves the model's offset past it; the consumer
  moves on, and no message can stop it. Once an event of a request is parked, that request's
  later events are parked behind it (`consumers.dead_letters`). Infrastructure failures (the
  database is away or timed out, a table is missing) are never parked: the batch is retried
  with backoff until it succeeds or `stop` is set.
- An envelope from a newer release (`schema_version` above ours) is neither applied nor parked:
  its partition stops just before it and the consumer pauses, logging an error, and retries
  with backoff until it is upgraded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
import structlog
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, OffsetOutOfRangeError
from kafka.structs import OffsetAndMetadata

from consumers import dead_letters, topology
from consumers.dead_letters import DEAD_LETTERS, reason_of
from consumers.kafka_common import Backoff, KafkaConfig, ensure_topic_when_possible
from consumers.membership import StrandedWatch
from consumers.model_feed import ModelFeed, StoredOffsets, advance_all, lock_all
from consumers.poison import Decoded, MessageRefused, decode, is_infrastructure
from consumers.store_reader import StoreReader
from consumers.topology import TopicChanged
from projections.base import ReadModel
from projections.envelope import Envelope, NewerSchema

log = structlog.get_logger("consumer")

# An environment variable for the fault tests only: when "1", `crm consume` exits the process
# abruptly (os._exit) right after its first database commit, before committing to Kafka.
EXIT_AFTER_DB_COMMIT_VAR = "CRM_TEST_CONSUMER_EXIT_AFTER_DB_COMMIT"

# A batch of fewer records than this is applied to every read model in one transaction (one
# commit: at a low rate each batch's round trips and log flush are most of its cost). A larger
# one (a backlog) is applied to each model in a transaction of its own, APPLY_GROUPS models at
# a time on threads, so that one model's database work overlaps another's Python (in the same
# rounds a drain ran at 0.87-0.88x with every batch in one transaction or in four fixed groups).
# SQLite, which takes one writer at a time, always uses one transaction.
ONE_TRANSACTION_BELOW = 200
APPLY_GROUPS = 4
# Records per poll, at most. A backlog is applied in batches this large: each request's row is
# loaded and written once per batch whatever its number of events, and every model pays its
# transaction's round trips once per batch; a quiet stream's batches stay small.
MAX_RECORDS = 5000
FETCH_MIN_BYTES = 1  # a fetch returns as soon as the log has a record for it
FETCH_WAIT_MS = 500  # the longest the broker holds a fetch of a quiet stream
# How often, at most, the consumer tells Kafka its offsets while batches keep coming (only lag
# tools read them; a quiet stream's are told at once).
KAFKA_COMMIT_INTERVAL_S = 1.0
# The least time a consumer holding no partition waits before asking whether it is a spare or
# stranded (`consumers.membership`); three session timeouts if longer. (A rebalance may take
# longer still: while the group rebalances, nothing counts as unheld.)
STRANDED_AFTER_S = 30.0

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]
# A model's share of a batch: (its stored offsets, the next offsets it stored, partitions
# fetched past its stored offset → that offset).
Outcome = tuple[dict[int, int], dict[TopicPartition, int], dict[TopicPartition, int]]
T = TypeVar("T")

__all__ = [
    "DEAD_LETTERS",
    "EXIT_AFTER_DB_COMMIT_VAR",
    "ModelFeed",
    "ReadModelConsumer",
    "ReadModelsConsumer",
    "StoredOffsets",
    "is_infrastructure",
    "retry_parked",
]


@dataclass(frozen=True)
class Paused:
    """A partition stopped before an envelope from a newer release."""

    tp: TopicPartition
    offset: int
    schema_version: int


def retry_parked(engine: sa.Engine, model: ReadModel) -> dead_letters.RetryResult:
    """Re-applies the model's parked messages in order (`crm projections retry-dead-letters`)."""
    dead_letters.ensure_table(engine)
    model.create(engine)
    return dead_letters.retry(
        engine,
        model,
        model.lock_positions,
        Envelope.from_json,
        is_infrastructure,
    )


class SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped (kafka-python)
    """On assignment, moves each partition to its stored offset. Runs on the client's IO thread,
    so it reads through its own connection; if the database cannot answer, the partitions are
    paused and left to the consumer's thread to seek once it can."""

    def __init__(self, owner: ReadModelsConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info(
            "partitions_revoked",
            models=self.owner.label,
            partitions=sorted(tp.partition for tp in revoked),
        )

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.owner.topology_due = True  # checked on the consumer's thread before any apply
        self.owner.seek_stored(list(assigned), on_io_thread=True)


class ReadModelsConsumer:
    """Feeds the read models from the topic, decoding each message once; `run(stop)` until
    `stop` is set. `feeds[name]` is each model's share."""

    def __init__(
        self,
        models: Sequence[ReadModel],
        engine: sa.Engine,
        config: KafkaConfig,
        *,
        max_records: int = MAX_RECORDS,
        after_db_commit: Callable[[], None] | None = None,
        reader: StoreReader | None = None,
        apply_groups: int = APPLY_GROUPS,
    ) -> None:
        if not models:
            raise ValueError("a consumer feeds at least one read model")
        self.engine = engine
        self.config = config
        self.max_records = max_records
        self.apply_groups = apply_groups
        self._pool: ThreadPoolExecutor | None = None
        self.after_db_commit = after_db_commit
        self.feeds = {
            m.name: ModelFeed(m, engine, config, reader, self)
            for m in sorted(models, key=lambda m: m.name)
        }
        self.group = config.models_group(list(self.feeds))
        self.label = ",".join(self.feeds)
        self._consumer: KafkaConsumer | None = None
        self._pending: set[TopicPartition] = set()
        self._pending_lock = threading.Lock()
        self._rewound: dict[TopicPartition, tuple[int, int]] = {}  # → (offset, at poll)
        self._polls = 0
        self.retries = 0  # batches (or table set-ups) retried after an infrastructure failure
        self.paused: Paused | None = None  # the last stop before a newer envelope, if any
        self._pause_backoff = Backoff(first_s=1.0, max_s=30.0)
        self.topology_due = False
        self.deferred_seeks = 0  # assignments whose stored offsets could not be read at once
        self._to_commit: dict[TopicPartition, int] = {}  # next offsets not yet told to Kafka
        self._committed_at = 0.0
        # holding no partition this long while some go unheld, the Kafka client is replaced
        self.stranded_after_s = max(STRANDED_AFTER_S, 3 * config.session_timeout_ms / 1000)
        self.replaced = 0  # Kafka clients replaced after they were found stranded
        self._stranded_in_a_row = 0  # replaced clients in a row that were never assigned

    def ensure_tables(self) -> None:
        for feed in self.feeds.values():
            feed.ensure_tables()

    def run(self, stop: threading.Event) -> None:
        """Consumes until `stop` is set, then leaves the group cleanly. Raises `TopicChanged`
        (logged as `topic_changed`) when the topic is not the one its offsets describe."""
        self._retry(self.ensure_tables, stop, "tables")
        ensure_topic_when_possible(self.config, stop)
        try:
            self._retry(self.join_stream, stop, "topology")
        except TopicChanged as changed:
            log.error("topic_changed", models=self.label, message=str(changed))
            raise
        try:
            while not stop.is_set():
                self._consume(stop)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            log.info("consumer_stopped", models=self.label)

    def _consume(self, stop: threading.Event) -> None:
        """Runs one Kafka client until `stop` is set or it is found stranded (`membership`):
        then it is closed, and `run` starts a fresh one."""
        self._to_commit.clear()  # a stranded client's; the next commit tells Kafka again
        consumer = self._retry(self._make_consumer, stop, "client")
        if consumer is None:
            return  # stopped before a client could be made
        self._consumer = consumer
        watch = StrandedWatch(
            self.config, self.group, self.stranded_after_s, self._stranded_in_a_row
        )
        log.info("consumer_started", models=self.label, group=self.group)
        try:
            while not stop.is_set():
                self._step(consumer, stop)
                if watch.stranded(bool(consumer.assignment())):
                    self.replaced += 1
                    self._stranded_in_a_row = (
                        0 if watch.ever_assigned else self._stranded_in_a_row + 1
                    )
                    return
        finally:
            consumer.close(autocommit=False, timeout_ms=5_000)
            self._consumer = None

    # -- the topic ----------------------------------------------------------------------------

    def join_stream(self) -> None:
        """Each model joins the stream (`ModelFeed.join_stream`)."""
        for feed in self.feeds.values():
            feed.join_stream()

    def _out_of_range(
        self, consumer: KafkaConsumer, error: OffsetOutOfRangeError, stop: threading.Event
    ) -> None:
        """A stored offset the log no longer holds (the topic was recreated, or records were
        removed): never skipped silently. `join_stream` stops the consumer (`TopicChanged`) or
        builds the models from the store; then every partition seeks to its stored offset."""
        log.error("offset_out_of_range", models=self.label, error=str(error)[:300])
        try:
            self._retry(self.join_stream, stop, "topology")
        except TopicChanged as changed:
            log.error("topic_changed", models=self.label, message=str(changed))
            raise
        self.seek_stored(list(consumer.assignment()))
        stop.wait(1.0)

    def _check_topology(self) -> None:
        found = topology.describe(self.config)
        if found is not None:
            for feed in self.feeds.values():
                feed.check_topology(found)
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
            log.warning("poll_failed", models=self.label, error=str(error))
            stop.wait(1.0)
            return
        if self.topology_due:
            try:
                self._retry(self._check_topology, stop, "topology")
            except TopicChanged as changed:
                log.error("topic_changed", models=self.label, message=str(changed))
                raise
        if not batch:
            self._commit_to_kafka(consumer, {}, now=True)
            return
        decoded = self.decode(batch)
        done = self._retry(lambda: self.apply(decoded), stop, "apply")
        if done is None:
            return  # stopped before the batch could be applied: it will be redelivered
        if self.after_db_commit is not None:
            self.after_db_commit()
        self._commit_to_kafka(consumer, done)
        if self.paused is not None:
            self._wait_for_upgrade(consumer, self.paused, stop)
        else:
            self._pause_backoff.reset()

    def _wait_for_upgrade(
        self, consumer: KafkaConsumer, paused: Paused, stop: threading.Event
    ) -> None:
        """Rewinds the partition to the newer envelope and waits (backoff) before reading it
        again: only an upgraded consumer may apply it."""
        wait = self._pause_backoff.next()
        log.error(
            "newer_schema_version_paused",
            models=self.label,
            partition=paused.tp.partition,
            offset=paused.offset,
            schema_version=paused.schema_version,
            retry_in_s=wait,
            action="upgrade this consumer to a release that reads this schema_version",
        )
        if paused.tp in consumer.assignment():
            consumer.seek(paused.tp, paused.offset)
        stop.wait(wait)

    def decode(self, batch: Batch) -> dict[TopicPartition, list[Decoded]]:
        """Each record decoded once, for every model; a partition stops before an envelope from
        a newer release (`paused`)."""
        self.paused = None
        out: dict[TopicPartition, list[Decoded]] = {}
        for tp, records in batch.items():
            items = out[tp] = []
            for record in records:
                env, reason = decode(record)
                if isinstance(env, NewerSchema):
                    self.paused = Paused(tp, record.offset, env.version)
                    break
                items.append((record, env, reason))
        return out

    def apply(self, batch: Mapping[TopicPartition, Sequence[Decoded]]) -> dict[TopicPartition, int]:
        """Applies the decoded batch to every model, all their shares in one transaction (one
        commit, one flush of the log; a large batch each model in its own, `_groups`), each
        model storing its own offsets with its rows in it; returns, per
        partition, the lowest next offset the models stored. A model refusing a
        message rolls the transaction back, and the batch is done again with that model going
        message by message (parking the culprits), so the others still progress. Should the
        shared transaction fail for the infrastructure, each model's share is done in a
        transaction of its own (`_apply_apart`): one model's table or lock trouble does not
        hold the others back; the first failure is then raised, the batch is retried, and the
        models that committed skip what they applied."""
        partitions = sorted({tp.partition for tp in batch})
        groups = self._groups(sum(len(items) for items in batch.values()))
        pool = self._apply_pool(min(self.apply_groups, len(groups)))
        if pool is None:
            outcomes = [o for g in groups for o in self._apply_group(g, partitions, batch)]
        else:
            futures = [pool.submit(self._apply_group, g, partitions, batch) for g in groups]
            wait(futures)
            failed = [f.exception() for f in futures if f.exception() is not None]
            if failed:
                raise failed[0]  # type: ignore[misc]  # an exception, by the filter above
            outcomes = [o for f in futures for o in f.result()]
        gaps: dict[TopicPartition, int] = {}
        for _, _, gap in outcomes:
            for tp, offset in gap.items():
                gaps[tp] = min(offset, gaps.get(tp, offset))
        for tp, low in gaps.items():
            self._rewind(tp, low, fetched=batch[tp][0][0].offset)
        return {
            tp: min(done.get(tp, stored[tp.partition]) for stored, done, _ in outcomes)
            for tp, items in batch.items()
            if items and tp not in gaps
        }

    def _groups(self, records: int) -> list[list[ModelFeed]]:
        """The models in groups, each group applied in one transaction (`apply_groups` at a
        time on threads): one group of all for a batch of fewer than `ONE_TRANSACTION_BELOW`
        records (and on SQLite), else a group per model."""
        feeds = list(self.feeds.values())
        if records < ONE_TRANSACTION_BELOW or self.engine.dialect.name == "sqlite":
            return [feeds]
        return [[feed] for feed in feeds]

    def _apply_pool(self, threads: int) -> ThreadPoolExecutor | None:
        if threads <= 1:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.apply_groups, thread_name_prefix="apply"
            )
        return self._pool

    def _apply_group(
        self,
        feeds: Sequence[ModelFeed],
        partitions: Sequence[int],
        batch: Mapping[TopicPartition, Sequence[Decoded]],
    ) -> list[Outcome]:
        """The models' shares in one transaction, or each in its own should that one fail
        for the infrastructure."""
        try:
            return self._apply_together(feeds, partitions, batch)
        except Exception as error:
            if len(feeds) == 1 or not is_infrastructure(error):
                raise
            log.warning("apply_apart", models=self.label, error=reason_of(error)[:300])
            return self._apply_apart(feeds, partitions, batch)

    def _apply_together(
        self,
        feeds: Sequence[ModelFeed],
        partitions: Sequence[int],
        batch: Mapping[TopicPartition, Sequence[Decoded]],
    ) -> list[Outcome]:
        """Every model's share in one transaction; no savepoints, unless a model refused a
        message in an earlier try of this batch (`refusing`): then that model's share goes
        message by message, one savepoint each."""
        refusing: set[str] = set()
        while True:
            outcomes: list[Outcome] = []
            try:
                with self.engine.begin() as conn:
                    moves: list[dict[str, int]] = []
                    for feed, stored in zip(feeds, lock_all(conn, feeds, partitions)):
                        fresh, gaps = self._fresh(batch, stored)
                        moves.append({})
                        try:
                            done = feed.apply(conn, stored, fresh, feed.name in refusing, moves[-1])
                        except MessageRefused:
                            refusing.add(feed.name)
                            raise
                        outcomes.append((stored, done, gaps))
                    advance_all(conn, feeds, moves)
                return outcomes
            except MessageRefused:
                continue  # rolled back: again, the refusing models message by message

    def _apply_apart(
        self,
        feeds: Sequence[ModelFeed],
        partitions: Sequence[int],
        batch: Mapping[TopicPartition, Sequence[Decoded]],
    ) -> list[Outcome]:
        """Each model's share in its own transaction; raises (after every model's transaction
        ended) the first failure."""
        outcomes: list[Outcome] = []
        failed: list[Exception] = []
        for feed in feeds:
            try:
                outcomes.append(self._apply_one(feed, partitions, batch))
            except Exception as error:  # noqa: BLE001 - raised below, after the others
                failed.append(error)
        if failed:
            raise failed[0]
        return outcomes

    def _apply_in(
        self,
        conn: sa.Connection,
        feed: ModelFeed,
        partitions: Sequence[int],
        batch: Mapping[TopicPartition, Sequence[Decoded]],
        isolate: bool,
    ) -> Outcome:
        """One model's share in the caller's transaction: (stored offsets, next offsets it
        stored, partitions fetched past its stored offset → that offset)."""
        stored = feed.offsets.lock(conn, partitions)
        fresh, gaps = self._fresh(batch, stored)
        done = feed.apply(conn, stored, fresh, isolate=isolate)
        return stored, done, gaps

    def _apply_one(
        self,
        feed: ModelFeed,
        partitions: Sequence[int],
        batch: Mapping[TopicPartition, Sequence[Decoded]],
    ) -> Outcome:
        """One model's share in its own transaction."""
        try:  # no savepoints: a batch with a message the model refuses is simply done again
            with self.engine.begin() as conn:
                return self._apply_in(conn, feed, partitions, batch, isolate=False)
        except MessageRefused:
            pass
        with self.engine.begin() as conn:  # each message in a savepoint: park the culprits
            return self._apply_in(conn, feed, partitions, batch, isolate=True)

    def _fresh(
        self, batch: Mapping[TopicPartition, Sequence[Decoded]], stored: Mapping[int, int]
    ) -> tuple[dict[TopicPartition, Sequence[Decoded]], dict[TopicPartition, int]]:
        """A model's part of the batch: without the partitions fetched past its stored offset
        (a model rebuilt meanwhile), which are returned with that offset to rewind to. Only a
        batch polled after a rewind to exactly that offset may start past it (the log itself
        has a gap there, e.g. retention removed those records); an earlier rewind to another
        offset never excuses a gap."""
        out: dict[TopicPartition, Sequence[Decoded]] = {}
        gaps: dict[TopicPartition, int] = {}
        for tp, items in batch.items():
            low = stored[tp.partition]
            fresh = [d for d in items if d[0].offset >= low]
            rewound_at = self._rewound.get(tp)
            if (
                not fresh
                or fresh[0][0].offset == low
                or (rewound_at is not None and rewound_at[0] == low and rewound_at[1] < self._polls)
            ):
                out[tp] = fresh
            else:
                gaps[tp] = low
        return out, gaps

    def _rewind(self, tp: TopicPartition, low: int, fetched: int) -> None:
        if self.paused is not None and self.paused.tp == tp:
            self.paused = None  # the rewind reads the partition again first
        if self._consumer is not None and tp in self._consumer.assignment():
            self._consumer.seek(tp, low)
            self._rewound[tp] = (low, self._polls)
            log.warning(
                "partition_rewound",
                models=self.label,
                partition=tp.partition,
                offset=low,
                fetched=fetched,
            )

    # -- offsets ------------------------------------------------------------------------------

    def seek_stored(self, partitions: list[TopicPartition], on_io_thread: bool = False) -> None:
        """Seeks each partition to the lowest offset its models stored (the beginning if one
        has none). If the database cannot answer, pauses them for `_seek_pending` to retry."""
        consumer = self._consumer
        if consumer is None or not partitions:
            return
        numbers = [tp.partition for tp in partitions]
        try:
            with self.engine.connect() as conn:
                each = [feed.offsets.read(conn, numbers) for feed in self.feeds.values()]
        except sa.exc.SQLAlchemyError as error:
            self.deferred_seeks += 1
            log.warning(
                "stored_offsets_unavailable", models=self.label, error=reason_of(error)[:300]
            )
            consumer.pause(*partitions)
            with self._pending_lock:
                self._pending.update(partitions)
            return
        lowest: dict[int, int | None] = {}
        for p in numbers:
            found = [offsets[p] for offsets in each]
            lowest[p] = None if any(o is None for o in found) else min(o or 0 for o in found)
        for tp in partitions:
            offset = lowest[tp.partition]
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        with self._pending_lock:
            self._pending.difference_update(partitions)
        consumer.resume(*partitions)
        log.info("partitions_assigned", models=self.label, io_thread=on_io_thread, offsets=lowest)

    def _seek_pending(self) -> None:
        consumer = self._consumer
        with self._pending_lock:
            pending = [tp for tp in self._pending if consumer and tp in consumer.assignment()]
            self._pending.clear()
        self.seek_stored(pending)

    def _commit_to_kafka(
        self, consumer: KafkaConsumer, done: Mapping[TopicPartition, int], now: bool = False
    ) -> None:
        """Tells Kafka how far the database got, for lag tools; asynchronous, and a failure
        only costs a log line (the database, not Kafka, says where to resume). At most once
        every `KAFKA_COMMIT_INTERVAL_S` while batches keep coming (a small batch then costs no
        request of its own), and at once when a poll finds nothing new (`now`)."""
        self._to_commit.update(done)
        due = time.monotonic() - self._committed_at >= KAFKA_COMMIT_INTERVAL_S
        if self._to_commit and (now or due):
            offsets = {tp: OffsetAndMetadata(o, "", -1) for tp, o in self._to_commit.items()}
            self._to_commit.clear()
            self._committed_at = time.monotonic()
            consumer.commit_async(offsets, callback=self._on_kafka_commit)

    def _on_kafka_commit(self, _offsets: object, response: object) -> None:
        if isinstance(response, BaseException):
            log.info("kafka_commit_skipped", models=self.label, error=str(response))

    # -- plumbing -----------------------------------------------------------------------------

    def _make_consumer(self) -> KafkaConsumer:
        config = self.config
        consumer = KafkaConsumer(
            bootstrap_servers=config.bootstrap,
            client_id=f"{config.client_id}-{self.group.removeprefix(config.group_prefix)}",
            group_id=self.group,
            enable_auto_commit=False,
            # Never jump to another offset on our own: every partition is sought to its stored
            # offset on assignment, and an offset the log lost is `_out_of_range`'s to handle.
            auto_offset_reset="none",
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=max(1_000, config.session_timeout_ms // 3),
            max_poll_interval_ms=config.max_poll_interval_ms,
            max_poll_records=self.max_records,
            # The broker answers a fetch as soon as any record is there (under load a backlog
            # fills the batch at once: the batch is whatever arrived while the last one was
            # applied); a quiet stream's fetch waits up to FETCH_WAIT_MS, not on a timer of ours.
            # (Waiting for 64 KiB held every fetch of a trickle its full wait: 50 ms more lag.)
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            # kafka-python's own metrics are read by nothing here: not kept, their sensors
            # cost the client's thread work on every fetch.
            metrics_enabled=False,
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
                log.warning(
                    "retrying",
                    models=self.label,
                    what=what,
                    wait_s=wait,
                    error=reason_of(error)[:300],
                )
                stop.wait(wait)
        return None


class ReadModelConsumer(ReadModelsConsumer):
    """Feeds one read model (in that model's own consumer group)."""

    def __init__(
        self,
        model: ReadModel,
        engine: sa.Engine,
        config: KafkaConfig,
        *,
        max_records: int = MAX_RECORDS,
        after_db_commit: Callable[[], None] | None = None,
        reader: StoreReader | None = None,
    ) -> None:
        super().__init__(
            [model],
            engine,
            config,
            max_records=max_records,
            after_db_commit=after_db_commit,
            reader=reader,
        )
        self.model = model

    @property
    def built_from_store(self) -> int:
        return self.feeds[self.model.name].built_from_store


def exit_after_db_commit_hook(env: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """The fault tests' hook (`CRM_TEST_CONSUMER_EXIT_AFTER_DB_COMMIT=1`), off unless set."""
    env = os.environ if env is None else env
    if env.get(EXIT_AFTER_DB_COMMIT_VAR) != "1":
        return None

    def exit_now() -> None:
        log.warning("test_hook_exit_after_db_commit")
        os._exit(70)

    return exit_now
