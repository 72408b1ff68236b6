"""What every read model shares: its tables, position-keeping, dedup and batch application.

A read model is pure logic (`evolve`: event + current row → new row) plus tables. Applying a
batch reads the current rows once, evolves them in memory and writes the changed rows, in the
caller's transaction, together with the source position — so a batch is applied exactly once
in effect, and an event already applied (same request, version not newer) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from projections import bulk
from projections.envelope import Envelope
from projections.tables import create_tables

if TYPE_CHECKING:
    from projections.bulk import Fold, Rows

Row = dict[str, Any]
CHUNK = 500
# The position row whose value changes whenever the model's parked messages change
# (`consumers.dead_letters.mark_changed`): not a position, so never listed as one.
MARK_SOURCE = "dead-letters-mark"


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An instant stored as UTC and read back tz-aware, on PostgreSQL and SQLite alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | str | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError(f"a stored instant must be tz-aware: {value!r}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        return None if value is None else value.replace(tzinfo=UTC)


def insert_ignoring_duplicates(conn: sa.Connection, table: sa.Table, rows: Sequence[Row]) -> None:
    """INSERT … ON CONFLICT DO NOTHING, on PostgreSQL and SQLite alike.

    The RETURNING clause (its rows are not used) lets SQLAlchemy batch the rows into
    multi-row statements: without it, an ON CONFLICT insert goes one statement per row."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).on_conflict_do_nothing()
    if conn.dialect.insert_executemany_returning:
        stmt = stmt.returning(*table.primary_key.columns)
    conn.execute(stmt, list(rows))


class ReadModel:
    """Base of every read model; `prefix` names a scratch copy (used by verify)."""

    name: ClassVar[str]
    # Raise it whenever the model's tables or its `evolve` change: at start-up a model whose
    # recorded definition is older is rebuilt from the store and switched in (blue/green), so
    # read models need no hand-written migrations.
    schema_version: ClassVar[int] = 1

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.metadata = sa.MetaData()
        self.positions = sa.Table(
            f"{prefix}{self.name}_positions",
            self.metadata,
            sa.Column("source", sa.String(200), primary_key=True),
            sa.Column("position", sa.BigInteger, nullable=False),
        )
        self.define(self.metadata)

    def define(self, metadata: sa.MetaData) -> None:
        raise NotImplementedError

    @property
    def data_tables(self) -> list[sa.Table]:
        return [t for t in self.metadata.sorted_tables if t is not self.positions]

    def create(self, engine: sa.Engine) -> None:
        create_tables(self.metadata, engine)

    def drop(self, engine: sa.Engine) -> None:
        self.metadata.drop_all(engine)

    def apply(self, conn: sa.Connection, envelopes: Sequence[Envelope]) -> int:
        """Applies the batch; returns how many events changed something (duplicates don't)."""
        raise NotImplementedError

    def fold(self) -> Fold:
        """The same rules as `apply`, in memory, for building the tables in bulk
        (`projections.bulk`)."""
        raise NotImplementedError

    # -- positions ---------------------------------------------------------------------------

    def position(self, conn: sa.Connection, source: str) -> int | None:
        q = sa.select(self.positions.c.position).where(self.positions.c.source == source)
        return conn.execute(q).scalar_one_or_none()

    def positions_by_source(self, conn: sa.Connection) -> dict[str, int]:
        t = self.positions
        q = sa.select(t.c.source, t.c.position).where(t.c.source != MARK_SOURCE)
        return {s: p for s, p in conn.execute(q)}

    def set_position(self, conn: sa.Connection, source: str, position: int) -> None:
        done = conn.execute(
            sa.update(self.positions)
            .where(self.positions.c.source == source)
            .values(position=position)
        )
        if done.rowcount == 0:
            conn.execute(sa.insert(self.positions).values(source=source, position=position))

    def lock_positions(self, conn: sa.Connection) -> None:
        """Takes every position row for this transaction (on PostgreSQL): what the model's
        Kafka consumer locks per batch, so nothing else changes the model meanwhile."""
        conn.execute(sa.select(self.positions.c.source).with_for_update()).all()

    def raise_position(self, conn: sa.Connection, source: str, position: int) -> None:
        """Moves the position of `source` up to `position` (never down)."""
        t = self.positions
        done = conn.execute(
            sa.update(t)
            .where(t.c.source == source, t.c.position < position)
            .values(position=position)
        )
        if done.rowcount == 0:
            insert_ignoring_duplicates(conn, t, [{"source": source, "position": position}])

    def snapshot(self, conn: sa.Connection) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
        """Every data row by primary key, per table (named without the prefix): what verify
        compares."""
        out = {}
        for table in self.data_tables:
            keys = [c.name for c in table.primary_key.columns]
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name.removeprefix(self.prefix)] = {
                tuple(r._mapping[k] for k in keys): tuple(r) for r in rows
            }
        return out


class RowPerRequest(ReadModel):
    """A read model with one row per request, keyed by `request_id`, carrying `version`."""

    table: sa.Table

    def evolve(self, row: Row | None, env: Envelope) -> Row | None:
        raise NotImplementedError

    def step(self, row: Row | None, env: Envelope) -> Row | None:
        """`evolve` without the columns `derive` fills in from the rest of the row: what a
        batch or a rebuild folds event by event, deriving each row once, when it is written."""
        return self.evolve(row, env)

    def derive(self, row: Row) -> Row:
        """The row with its derived columns (a function of its other columns alone; none by
        default). `evolve` is `derive` after `step`."""
        return row

    def next_row(self, row: Row | None, env: Envelope) -> Row | None:
        """The request's row after `env`, or None when `env` is not applied: an event already
        applied (a redelivery) is skipped, and so is one that arrives before its predecessor (a
        gap: a relay re-send brings the predecessor, then this event again). Its derived
        columns are not yet filled in (`derive`)."""
        if row is not None and env.version != row["version"] + 1:
            return None  # already applied (a redelivery), or its predecessor is missing
        if row is None and env.event_type != "Lodged":
            return None  # its request's lodgement was never seen: nothing to evolve
        new = self.step(row, env)
        if new is None:
            if row is None:
                return None
            new = dict(row)  # no visible change, but the version moves on
        new["version"] = env.version
        return new

    def apply(self, conn: sa.Connection, envelopes: Sequence[Envelope]) -> int:
        """Applies each request's events strictly in version order (`next_row`)."""
        current = self._load(conn, {e.request_id for e in envelopes})
        changed: dict[str, Row] = {}
        applied = 0
        for env in envelopes:
            new = self.next_row(current.get(env.request_id), env)
            if new is None:
                continue
            current[env.request_id] = changed[env.request_id] = new
            applied += 1
        self._write(conn, {rid: self.derive(row) for rid, row in changed.items()})
        return applied

    def fold(self) -> Fold:
        return CurrentRows(self)

    def _load(self, conn: sa.Connection, ids: Iterable[str]) -> dict[str, Row]:
        ids = list(ids)
        out: dict[str, Row] = {}
        select = self._statements(conn)[0]
        for i in range(0, len(ids), CHUNK):
            rows = conn.execute(select, {"ids": ids[i : i + CHUNK]})
            out.update({r.request_id: dict(r._mapping) for r in rows})
        return out

    def _write(self, conn: sa.Connection, changed: dict[str, Row]) -> None:
        ids = list(changed)
        delete = self._statements(conn)[1]
        for i in range(0, len(ids), CHUNK):
            conn.execute(delete, {"ids": ids[i : i + CHUNK]})
        bulk.write(conn, self.table, list(changed.values()))

    def _statements(self, conn: sa.Connection) -> tuple[sa.Executable, sa.Executable]:
        """The select and delete of some requests' rows (`ids`) for this connection's database:
        on PostgreSQL as plain SQL over an array (`= ANY`), which SQLAlchemy neither compiles
        nor expands per batch (the select still reads each column through its type); elsewhere
        `_by_ids`."""
        if conn.dialect.name == "postgresql":
            return self._by_ids_postgres
        return self._by_ids

    @cached_property
    def _by_ids_postgres(self) -> tuple[sa.TextualSelect, sa.TextClause]:
        table = f'"{self.table.name}"'
        select = sa.text(f"SELECT * FROM {table} WHERE request_id = ANY(:ids)")
        return (
            select.columns(*self.table.c),
            sa.text(f"DELETE FROM {table} WHERE request_id = ANY(:ids)"),
        )

    @cached_property
    def _by_ids(self) -> tuple[sa.Select[Any], sa.Delete]:
        """The select and delete of some requests' rows, built once per model (a batch then
        costs no statement building, and their compiled forms are found in SQLAlchemy's
        cache at once)."""
        ids = self.table.c.request_id.in_(sa.bindparam("ids", expanding=True))
        return sa.select(self.table).where(ids), sa.delete(self.table).where(ids)


class CurrentRows:
    """`RowPerRequest`'s fold: each request's row in memory, all final at the end."""

    def __init__(self, model: RowPerRequest) -> None:
        self.model = model
        self.rows: dict[str, Row] = {}

    def needs(self, event_type: str, request_id: str) -> bool:
        # A request without a row gains one from its lodgement alone (`next_row`): its other
        # events change nothing (a model keeping some kinds only, say complaints).
        return event_type == "Lodged" or request_id in self.rows

    def add(self, env: Envelope) -> None:
        new = self.model.next_row(self.rows.get(env.request_id), env)
        if new is not None:
            self.rows[env.request_id] = new

    def take(self) -> Rows:
        return []

    def finish(self) -> Rows:
        rows, self.rows = self.rows, {}
        return [(self.model.table, [self.model.derive(row) for row in rows.values()])]
