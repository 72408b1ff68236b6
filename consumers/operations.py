"""Rebuild and verify read models from the event store, the source of truth.

Guarantees:
- **Rebuild is blue/green.** `rebuild` builds the model into `next_` tables from the store
  while the live model keeps serving, then switches in one transaction: it takes the live
  model's locks (its Kafka consumer's position rows and the embedded follower's lock, so no
  batch is applied meanwhile), drops the live tables and renames the new ones (with their
  indexes) in their place, clears the model's parked messages (the store holds every event)
  and, on the Kafka path, joins the topic: per partition the end offset read before the store's
  head, and the topic's identity. A rebuild that fails at any point leaves the live model as it
  was. A consumer running meanwhile waits for the switch, then rewinds to the new offsets and
  skips what the rebuild already holds.
- **Definitions change without migrations.** Each model's `schema_version` is recorded when
  it is built (`read_model_schemas`); `ensure_current` rebuilds and switches in a model whose
  recorded version differs from its code's, at start-up.
- **Verify at a consistent cut.** On the Kafka path `verify_at_cut` reads the live rows and
  what they cover (per partition, the highest store position applied) in one snapshot, rebuilds
  into scratch tables exactly those events, and compares: it holds while traffic flows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog

from consumers import dead_letters, topology
from consumers.follower import SOURCE, Progress, lock_model
from consumers.kafka_common import KafkaConfig, end_offsets, partition_for
from consumers.store_reader import StoreReader
from projections import bulk, registry
from projections.base import ReadModel
from projections.envelope import Envelope
from projections.tables import create_tables

log = structlog.get_logger("operations")

SCRATCH_PREFIX = "scratch_"
NEXT_PREFIX = "next_"
SWITCH_ATTEMPTS = 10
READ_BATCH = 5000  # events read from the store at a time while building in bulk


SCHEMAS = sa.Table(
    "read_model_schemas",
    sa.MetaData(),
    sa.Column("read_model", sa.String(64), primary_key=True),
    sa.Column("schema_version", sa.Integer, nullable=False),
)


def _record_schema(conn: sa.Connection, model: ReadModel) -> None:
    conn.execute(sa.delete(SCHEMAS).where(SCHEMAS.c.read_model == model.name))
    conn.execute(
        sa.insert(SCHEMAS).values(read_model=model.name, schema_version=model.schema_version)
    )


def ensure_tables(engine: sa.Engine) -> None:
    """The operations' own tables: recorded definitions, parked messages, topics."""
    create_tables(SCHEMAS.metadata, engine)
    dead_letters.ensure_table(engine)
    topology.ensure_table(engine)


def ensure_current(
    reader: StoreReader,
    engine: sa.Engine,
    name: str,
    config: KafkaConfig | None = None,
) -> bool:
    """Rebuilds the model (blue/green) when the definition it was built with is not its code's;
    returns True if it did. A model with no recorded definition is taken as current. Call
    `ensure_tables` first."""
    model = registry.build(name)
    with engine.begin() as conn:
        recorded = conn.execute(
            sa.select(SCHEMAS.c.schema_version).where(SCHEMAS.c.read_model == name)
        ).scalar_one_or_none()
        if recorded is None:
            _record_schema(conn, model)
    if recorded is None or recorded == model.schema_version:
        return False
    log.warning(
        "read_model_definition_changed", model=name, recorded=recorded, current=model.schema_version
    )
    n = rebuild(reader, engine, name, config=config)
    log.info("read_model_rebuilt", model=name, events=n, schema_version=model.schema_version)
    return True


def rebuild(
    reader: StoreReader,
    engine: sa.Engine,
    name: str,
    progress: Progress | None = None,
    config: KafkaConfig | None = None,
) -> int:
    """Builds the model anew from the store and switches it in (see the module's guarantees);
    returns how many events were read. On the Kafka path pass the stream's `config`."""
    nxt = registry.build(name, NEXT_PREFIX)
    nxt.drop(engine)
    nxt.create(engine)
    try:
        found = topology.describe(config) if config is not None else None
        ends = end_offsets(config) if config is not None else {}
        head = reader.head()
        n = build_bulk(reader, engine, nxt, until=head, progress=progress)
        with engine.begin() as conn:
            for partition, offset in ends.items():
                assert config is not None
                nxt.set_position(conn, config.source(partition), offset)
                nxt.set_position(conn, config.cut_source(partition), head)
            if config is None:
                nxt.set_position(conn, SOURCE, head)
        _switch(engine, registry.build(name), nxt, config, found)
    except BaseException:
        nxt.drop(engine)
        raise
    return n


def _switch(
    engine: sa.Engine,
    live: ReadModel,
    nxt: ReadModel,
    config: KafkaConfig | None,
    found: topology.Topology | None,
) -> None:
    """Puts `nxt` in the place of `live` in one transaction; retried when a lock is not
    granted in time (a long query on the live model)."""
    live.create(engine)  # the first build of a model has no live tables yet
    ensure_tables(engine)
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                lock_model(conn, live)
                if conn.dialect.name == "postgresql":
                    live.lock_positions(conn)
                for table in reversed(live.metadata.sorted_tables):
                    table.drop(conn)
                for table in nxt.metadata.sorted_tables:
                    _rename(conn, table.name, table.name.removeprefix(nxt.prefix), nxt.prefix)
                _restore_indexes(conn, live)
                t = dead_letters.DEAD_LETTERS
                conn.execute(sa.delete(t).where(t.c.read_model == live.name))
                dead_letters.mark_changed(conn, live)
                if config is not None and found is not None:
                    topology.record(conn, live.name, config.topic, found)
                _record_schema(conn, live)
            return
        except sa.exc.OperationalError as error:
            if attempt == SWITCH_ATTEMPTS:
                raise
            log.warning("switch_retry", model=live.name, attempt=attempt, error=str(error)[:200])
            time.sleep(0.5 * attempt)


def _rename(conn: sa.Connection, old: str, new: str, prefix: str) -> None:
    conn.execute(sa.text(f'ALTER TABLE "{old}" RENAME TO "{new}"'))
    if conn.dialect.name != "postgresql":
        return
    q = sa.text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = CAST(:t AS regclass)"
    )
    for (index,) in conn.execute(q, {"t": new}).all():
        if index.startswith(prefix):
            conn.execute(sa.text(f'ALTER INDEX "{index}" RENAME TO "{index.removeprefix(prefix)}"'))


def _restore_indexes(conn: sa.Connection, live: ReadModel) -> None:
    """SQLite cannot rename an index: the renamed tables' indexes are made again."""
    if conn.dialect.name == "postgresql":
        return
    for table in live.metadata.sorted_tables:
        for index in table.indexes:
            conn.execute(sa.text(f'DROP INDEX IF EXISTS "{NEXT_PREFIX}{index.name}"'))
            index.create(conn)


def build_bulk(
    reader: StoreReader,
    engine: sa.Engine,
    model: ReadModel,
    until: int,
    keep: Callable[[Envelope], bool] | None = None,
    progress: Progress | None = None,
) -> int:
    """Fills the model's (empty, private) tables from the store up to position `until`,
    applying only the events `keep` accepts (all by default): the log is streamed through the
    model's fold and each row written once, final, in bulk (`projections.bulk`), in one
    transaction; the events the fold says it would pass over (`Fold.needs`) are not decoded.
    Returns how many events were read."""
    fold = model.fold()
    start = read = 0
    with engine.begin() as conn:
        while start < until:
            batch = reader.notifications(start, READ_BATCH)
            if not batch:
                break
            for n in batch:
                if n.id > until:
                    break
                read += 1
                # An event the fold would pass over is not decoded at all.
                if not fold.needs(reader.event_type(n), str(n.originator_id)):
                    continue
                env = reader.envelope(n)
                if keep is None or keep(env):
                    fold.add(env)
            bulk.write_all(conn, fold.take())
            start = batch[-1].id
            if progress:
                progress(min(start, until), until)
        bulk.write_all(conn, fold.finish())
    return read


def build_into(
    reader: StoreReader,
    engine: sa.Engine,
    name: str,
    prefix: str,
    until: int,
    keep: Callable[[Envelope], bool] | None = None,
) -> ReadModel:
    """The model rebuilt into `prefix` tables from the store up to position `until`, applying
    only the events `keep` accepts (all by default)."""
    model = registry.build(name, prefix)
    model.drop(engine)
    model.create(engine)
    build_bulk(reader, engine, model, until, keep)
    return model


@dataclass
class Drift:
    """How a live read model differs from one rebuilt from the store."""

    name: str
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


Snapshot = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


def compare(name: str, live: Snapshot, rebuilt: Snapshot, limit: int = 5) -> Drift:
    """The first `limit` rows that differ, missing or extra, table by table."""
    drift = Drift(name)
    for table, want in rebuilt.items():
        got = live.get(table, {})
        for key in sorted(set(got) | set(want), key=str):
            if got.get(key) != want.get(key):
                drift.differences.append(
                    f"{table} {key}: live {got.get(key)!r} != rebuilt {want.get(key)!r}"
                )
                if len(drift.differences) >= limit:
                    return drift
    return drift


def verify(
    reader: StoreReader,
    engine: sa.Engine,
    names: Sequence[str],
    until: int | None = None,
) -> list[Drift]:
    """Rebuilds each read model into scratch tables up to `until` (default: the store's head)
    and compares it row by row with the live one."""
    head = reader.head() if until is None else until
    out = []
    for name in names:
        scratch = build_into(reader, engine, name, SCRATCH_PREFIX, head)
        with engine.connect() as conn:
            drift = compare(name, registry.build(name).snapshot(conn), scratch.snapshot(conn))
        scratch.drop(engine)
        out.append(drift)
    return out


@dataclass(frozen=True)
class Cut:
    """What a live model covers: per partition, the highest store position applied."""

    partitions: int
    positions: dict[int, int]

    def covers(self, env: Envelope) -> bool:
        return env.position <= self.positions.get(partition_for(env.request_id, self.partitions), 0)


def read_cut(
    conn: sa.Connection, model: ReadModel, config: KafkaConfig, partitions: int
) -> Cut | None:
    """The model's cut, or None when it has applied messages without recording one (a model
    last fed by an older release)."""
    stored = model.positions_by_source(conn)
    cut: dict[int, int] = {}
    for p in range(partitions):
        offset, position = stored.get(config.source(p)), stored.get(config.cut_source(p))
        if offset and position is None:
            return None
        cut[p] = position or 0
    return Cut(partitions, cut)


def verify_at_cut(
    reader: StoreReader,
    engine: sa.Engine,
    names: Sequence[str],
    config: KafkaConfig,
) -> list[Drift] | None:
    """Compares each live model with a rebuild of exactly the events it has applied, read in
    one snapshot with its rows (see the module's guarantees); None when a model has no cut
    recorded (then verify waits for the pipeline to drain instead)."""
    found = topology.describe(config)
    if found is None:
        return None
    out = []
    for name in names:
        live = registry.build(name)
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                cut = read_cut(conn, live, config, found.partitions)
                rows = live.snapshot(conn)
        if cut is None:
            return None
        scratch = build_into(
            reader, engine, name, SCRATCH_PREFIX, max(cut.positions.values(), default=0), cut.covers
        )
        with engine.connect() as conn:
            out.append(compare(name, rows, scratch.snapshot(conn)))
        scratch.drop(engine)
    return out
