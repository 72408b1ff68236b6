"""One read model's share of a consumer's batch: its stored offsets, its joining of the stream,
and the application of the records it has not yet applied, inside the consumer's transaction.

Guarantees:
- A model's positions live with its rows: `apply` locks the model's position rows, applies the
  records at or after its stored offsets, parks what it refuses and stores its next offsets and
  cut, all in the caller's transaction. Models fed by one consumer may stand at different
  offsets (one was rebuilt meanwhile): each applies only what it has not applied.
- `join_stream` is the model's own: a changed definition is rebuilt and switched in, a
  changed topic stops the consumer (`TopicChanged`), a log that no longer holds what the model
  has not applied builds the model from the event store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog
from kafka import TopicPartition

from consumers import operations, topology
from consumers.dead_letters import mark_changed, park, parked_request_ids
from consumers.kafka_common import KafkaConfig
from consumers.poison import Decoded, apply_isolated
from consumers.store_reader import StoreReader
from consumers.topology import TopicChanged
from projections.base import MARK_SOURCE, ReadModel, insert_ignoring_duplicates

if TYPE_CHECKING:
    from consumers.kafka_consumer import Paused, ReadModelsConsumer

log = structlog.get_logger("consumer")


class StoredOffsets:
    """The read model's stored next offsets, per partition of the configured topic.

    Its two per-batch statements (`lock`, `advance`) are built once per model, not per batch:
    on PostgreSQL as plain SQL over arrays (`= ANY`, `unnest`), sent without SQLAlchemy
    compiling anything; elsewhere as SQLAlchemy statements whose compiled form is cached."""

    def __init__(self, model: ReadModel, config: KafkaConfig) -> None:
        self.model = model
        self.config = config
        t = model.positions
        self._lock = (
            sa.select(t.c.source, t.c.position)
            .where(t.c.source.in_(sa.bindparam("sources", expanding=True)))
            .with_for_update()
        )
        self._sql: dict[str, tuple[str, str]] = {}  # per dialect: (lock, advance) on PostgreSQL

    def read(self, conn: sa.Connection, partitions: Sequence[int]) -> dict[int, int | None]:
        stored = self.model.positions_by_source(conn)
        return {p: stored.get(self.config.source(p)) for p in partitions}

    def lock(self, conn: sa.Connection, partitions: Sequence[int]) -> dict[int, int]:
        """Locks the partitions' position rows (offsets and cuts) for this transaction
        (creating them at 0), so two members briefly owning one partition apply each record
        once. `mark` is then the model's dead-letter mark (0: none recorded)."""
        return self.settle(conn, partitions, self._locked(conn, self.wanted(partitions)))

    def wanted(self, partitions: Sequence[int]) -> list[str]:
        """The position rows `lock` takes: the partitions' offsets and cuts, and the mark."""
        config = self.config
        return [
            *(config.source(p) for p in partitions),
            *(config.cut_source(p) for p in partitions),
            MARK_SOURCE,
        ]

    def settle(
        self, conn: sa.Connection, partitions: Sequence[int], found: Mapping[str, int]
    ) -> dict[int, int]:
        """`lock`'s result from the rows `found` locked (`wanted`): the rows a partition's
        first batch finds missing are made at 0 and locked."""
        t, config = self.model.positions, self.config
        sources = {config.source(p): p for p in partitions}
        rows = [*sources, *(config.cut_source(p) for p in partitions)]
        if any(s not in found for s in rows):  # a partition's first batch: rows made once
            missing = [{"source": s, "position": 0} for s in rows if s not in found]
            insert_ignoring_duplicates(conn, t, missing)
            found = self._locked(conn, self.wanted(partitions))
        self.mark = found.get(MARK_SOURCE, 0)
        return {sources[s]: pos for s, pos in found.items() if s in sources}

    mark = 0

    def advance(self, conn: sa.Connection, positions: Mapping[str, int]) -> None:
        """Moves the (locked) position rows up to `positions`, never down: one statement."""
        if not positions:
            return
        sql = self._postgres_sql(conn)
        if sql is not None:
            conn.exec_driver_sql(
                sql[1], {"sources": list(positions), "positions": list(positions.values())}
            )
            return
        t = self.model.positions
        value = sa.case(dict(positions), value=t.c.source)
        stmt = (
            sa.update(t)
            .where(t.c.source.in_(list(positions)), t.c.position < value)
            .values(position=value)
        )
        conn.execute(stmt)

    def _locked(self, conn: sa.Connection, sources: list[str]) -> dict[str, int]:
        sql = self._postgres_sql(conn)
        if sql is not None:
            rows = conn.exec_driver_sql(sql[0], {"sources": sources})
        else:
            rows = conn.execute(self._lock, {"sources": sources})
        return dict(rows.tuples().all())

    def _postgres_sql(self, conn: sa.Connection) -> tuple[str, str] | None:
        """(lock, advance) as PostgreSQL's own SQL, rendered once (None elsewhere)."""
        dialect = conn.dialect
        if dialect.name != "postgresql":
            return None
        found = self._sql.get(dialect.driver)
        if found is None:
            table = dialect.identifier_preparer.format_table(self.model.positions)
            lock = (
                f"SELECT source, position FROM {table} WHERE source = ANY(%(sources)s) FOR UPDATE"
            )
            advance = (
                f"UPDATE {table} AS t SET position = v.position FROM unnest(%(sources)s::varchar[], "
                "%(positions)s::bigint[]) AS v(source, position) "
                "WHERE t.source = v.source AND t.position < v.position"
            )
            found = self._sql[dialect.driver] = (lock, advance)
        return found


class ModelFeed:
    """One read model fed by a `ReadModelsConsumer`; what the model's own consumer was."""

    def __init__(
        self,
        model: ReadModel,
        engine: sa.Engine,
        config: KafkaConfig,
        reader: StoreReader | None,
        owner: ReadModelsConsumer,
    ) -> None:
        self.model = model
        self.engine = engine
        self.config = config
        self.reader = reader  # to build the model from the store when the log cannot
        self.owner = owner
        self.offsets = StoredOffsets(model, config)
        self.built_from_store = 0  # times the model was built from the event store at start
        # The requests the model holds parked events of, as of a dead-letter mark: while the
        # mark read with the positions is this one, no look-up is needed.
        self._held: tuple[int, frozenset[str]] | None = None

    @property
    def name(self) -> str:
        return self.model.name

    # What the consumer feeding it knows (shared by the models it feeds).
    @property
    def paused(self) -> Paused | None:
        return self.owner.paused

    @property
    def retries(self) -> int:
        return self.owner.retries

    @property
    def deferred_seeks(self) -> int:
        return self.owner.deferred_seeks

    def ensure_tables(self) -> None:
        self.model.create(self.engine)
        operations.ensure_tables(self.engine)

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
        lost = {p: (stored[p], start) for p, start in starts.items() if (stored[p] or 0) < start}
        if lost and self.reader is None:
            raise TopicChanged(
                f"the log of {self.config.topic} no longer holds every event "
                f"{self.model.name} has not applied (partition: (stored, log start) {lost}). "
                f"Run `crm projections rebuild {self.model.name}` to build it from the event "
                "store, then start the consumer again."
            )
        if lost:
            assert self.reader is not None
            log.warning("building_from_store", model=self.model.name, partitions=lost)
            n = operations.rebuild(self.reader, self.engine, self.model.name, config=self.config)
            self.built_from_store += 1
            log.info("built_from_store", model=self.model.name, events=n)
            return
        topology.check(self.engine, self.model.name, self.config, found)

    def check_topology(self, found: topology.Topology) -> None:
        topology.check(self.engine, self.model.name, self.config, found)

    def held(self, conn: sa.Connection) -> frozenset[str]:
        """The requests the model holds parked events of: remembered while the dead-letter
        mark read by `offsets.lock` in this transaction is the one they were read (or parked)
        at; looked up again when it is not (a retry, a rebuild, another consumer parked)."""
        mark = self.offsets.mark
        if mark == 0:  # no mark yet (or a table before marks): look, then record one
            found = frozenset(parked_request_ids(conn, self.model.name))
            self._held = (mark_changed(conn, self.model), found)
            return found
        if self._held is None or self._held[0] != mark:
            self._held = (mark, frozenset(parked_request_ids(conn, self.model.name)))
        return self._held[1]

    def apply(
        self,
        conn: sa.Connection,
        stored: Mapping[int, int],
        batch: Mapping[TopicPartition, Sequence[Decoded]],
        isolate: bool = True,
        moves: dict[str, int] | None = None,
    ) -> dict[TopicPartition, int]:
        """Applies the batch's records at or after the model's `stored` offsets (locked by the
        caller), parks what the model refuses and stores its next offsets and cut; returns the
        next offset per partition it moved. Without `isolate`, a refused message raises
        `MessageRefused` (roll back, and apply again with `isolate`). Given `moves`, the
        positions are put there instead, for the caller to store later in the same
        transaction (`advance_all`)."""
        decoded: list[Decoded] = []
        done: dict[TopicPartition, int] = {}
        cut: dict[int, int] = {}
        for tp, items in batch.items():
            start = stored[tp.partition]
            fresh = [d for d in items if d[0].offset >= start]
            if not fresh:
                continue
            decoded += fresh
            done[tp] = fresh[-1][0].offset + 1
            for _, env, _ in fresh:
                if env is not None and env.position > cut.get(tp.partition, 0):
                    cut[tp.partition] = env.position
        if not done:
            return done
        held = self.held(conn)
        parked = apply_isolated(conn, self.model, decoded, held, isolate=isolate)
        park(conn, self.model.name, parked)
        if parked:
            self._held = (
                mark_changed(conn, self.model),
                held | {p.request_id for p in parked if p.request_id is not None},
            )
        positions = {
            **{self.config.source(tp.partition): offset for tp, offset in done.items()},
            **{self.config.cut_source(p): position for p, position in cut.items()},
        }
        if moves is None:
            self.offsets.advance(conn, positions)
        else:
            moves.update(positions)
        if parked:
            log.warning(
                "messages_parked",
                model=self.model.name,
                count=len(parked),
                first=f"{parked[0].record.partition}@{parked[0].record.offset}",
                reason=parked[0].reason,
            )
        return done


def lock_all(
    conn: sa.Connection, feeds: Sequence[ModelFeed], partitions: Sequence[int]
) -> list[dict[int, int]]:
    """`feed.offsets.lock` for every feed, in order; on PostgreSQL in one statement (each
    model's position rows locked by a `FOR UPDATE` of its own, one round trip for all)."""
    if conn.dialect.name != "postgresql" or len(feeds) < 2:
        return [feed.offsets.lock(conn, partitions) for feed in feeds]
    wanted = feeds[0].offsets.wanted(partitions)  # the same sources in every model's table
    rows = conn.exec_driver_sql(_lock_all_sql(conn, feeds), {"sources": wanted}).tuples().all()
    found: list[dict[str, int]] = [{} for _ in feeds]
    for i, source, position in rows:
        found[i][source] = position
    return [feed.offsets.settle(conn, partitions, f) for feed, f in zip(feeds, found)]


def advance_all(
    conn: sa.Connection, feeds: Sequence[ModelFeed], moves: Sequence[Mapping[str, int]]
) -> None:
    """`feed.offsets.advance(moves[i])` for every feed; on PostgreSQL in one statement."""
    moving = [(feed, m) for feed, m in zip(feeds, moves) if m]
    if conn.dialect.name != "postgresql" or len(moving) < 2:
        for feed, m in moving:
            feed.offsets.advance(conn, m)
        return
    parts: list[str] = []
    params: dict[str, list[str] | list[int]] = {}
    for i, (feed, m) in enumerate(moving):
        table = conn.dialect.identifier_preparer.format_table(feed.model.positions)
        parts.append(
            f"a{i} AS (UPDATE {table} AS t SET position = v.position FROM "
            f"unnest(%(s{i})s::varchar[], %(p{i})s::bigint[]) AS v(source, position) "
            "WHERE t.source = v.source AND t.position < v.position)"
        )
        params[f"s{i}"] = list(m)
        params[f"p{i}"] = list(m.values())
    conn.exec_driver_sql(f"WITH {', '.join(parts)} SELECT 1", params)


_LOCK_ALL: dict[tuple[str, ...], str] = {}


def _lock_all_sql(conn: sa.Connection, feeds: Sequence[ModelFeed]) -> str:
    """One statement locking every feed's position rows among `%(sources)s`, rendered once
    per set of tables: (feed's index, source, position) rows."""
    tables = tuple(
        conn.dialect.identifier_preparer.format_table(feed.model.positions) for feed in feeds
    )
    sql = _LOCK_ALL.get(tables)
    if sql is None:
        ctes = ", ".join(
            f"l{i} AS (SELECT source, position FROM {t} WHERE source = ANY(%(sources)s) FOR UPDATE)"
            for i, t in enumerate(tables)
        )
        union = " UNION ALL ".join(
            f"SELECT {i}, source, position FROM l{i}" for i in range(len(tables))
        )
        sql = _LOCK_ALL[tables] = f"WITH {ctes} {union}"
    return sql
