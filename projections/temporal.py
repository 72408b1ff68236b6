"""Read models as they stood at any past instant: every state each request's row of a live
model has had, with the interval of recorded time it held, [valid_from, valid_to).

A request's row evolves exactly as the live model's does (the same `evolve`); each event that
reaches the request closes the row in force (its `valid_to` becomes the event's recording
instant) and opens the next one from that instant. "As at T" is then one indexed query — the
rows with valid_from ≤ T < valid_to — never a replay of the log: everything the council had
recorded by T, and nothing after. The work queue's history and the SLA view's history are two
such models (`work_queue_history`, `sla_history`); this module is their one rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

import sqlalchemy as sa

from projections import bulk
from projections.base import CHUNK, ReadModel, Row, RowPerRequest, UtcDateTime
from projections.bulk import Fold, Rows
from projections.envelope import Envelope

TEMPORAL = ("valid_from", "valid_to")


class TemporalHistory(ReadModel):
    """The history of a live one-row-per-request model (`live_model`); its table is named after
    the model (`name`) and carries the live table's columns, keyed by request and version."""

    live_model: ClassVar[type[RowPerRequest]]
    live: RowPerRequest
    table: sa.Table

    def define(self, metadata: sa.MetaData) -> None:
        self.live = self.live_model()
        p = self.prefix
        columns = [
            sa.Column(c.name, c.type, nullable=c.nullable)
            for c in self.live.table.columns
            if c.name not in ("request_id", "version")
        ]
        self.table = sa.Table(
            f"{p}{self.name}",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, primary_key=True),
            *columns,
            sa.Column("valid_from", UtcDateTime, nullable=False),
            sa.Column("valid_to", UtcDateTime),
            *[sa.Index(f"{p}{self.name}_{suffix}", *cols) for suffix, cols in self.indexes()],
            sa.Index(f"{p}{self.name}_open", "request_id", "valid_to"),
        )
        # The rows of open requests (what the as-at questions ask about) indexed by their
        # validity interval: on PostgreSQL a GiST index over the range, so the rows in force at
        # T are found without reading every row that began before T; on SQLite, which has no
        # such index, a partial one by start (the same name, so the model has one set).
        t, name = self.table, f"{p}{self.name}_in_force"
        sa.Index(
            name, _interval(t), postgresql_using="gist", postgresql_where=self.open_rows(t)
        ).ddl_if(dialect="postgresql")
        sa.Index(name, t.c.council, t.c.valid_from, sqlite_where=self.open_rows(t)).ddl_if(
            dialect="sqlite"
        )

    def indexes(self) -> list[tuple[str, tuple[str, ...]]]:
        """(name suffix, columns) of the indexes the model's as-at questions need."""
        return []

    def open_rows(self, t: sa.Table) -> Any:
        """The predicate of the rows the as-at questions ask about (an open request's)."""
        raise NotImplementedError

    def apply(self, conn: sa.Connection, envelopes: Sequence[Envelope]) -> int:
        """Applies each request's events strictly in version order, like `RowPerRequest`: a
        redelivered event, or one whose predecessor is missing, changes nothing."""
        loaded = self._in_force(conn, {e.request_id for e in envelopes})
        current = dict(loaded)
        closed: dict[str, datetime] = {}  # request → when its loaded interval closed
        opened: dict[tuple[str, int], Row] = {}
        applied = 0
        for env in envelopes:
            row = current.get(env.request_id)
            new = self.next_row(row, env)
            if new is None:
                continue
            if row is not None:
                key = (env.request_id, row["version"])
                if key in opened:
                    opened[key]["valid_to"] = new["valid_from"]
                else:
                    closed[env.request_id] = new["valid_from"]
            current[env.request_id] = opened[(env.request_id, env.version)] = new
            applied += 1
        self._write(
            conn,
            {r: {**loaded[r], "valid_to": at} for r, at in closed.items()},
            list(opened.values()),
        )
        return applied

    def next_row(self, row: Row | None, env: Envelope) -> Row | None:
        """The interval `env` opens (it closes `row`'s at its `valid_from`), or None when
        `env` is not applied (a redelivery, or its predecessor is missing)."""
        if row is not None and env.version != row["version"] + 1:
            return None
        if row is None and env.event_type != "Lodged":
            return None
        state = None if row is None else {k: v for k, v in row.items() if k not in TEMPORAL}
        new = self.live.evolve(state, env) or dict(state or {})
        new.update(
            version=env.version, valid_from=datetime.fromisoformat(env.recorded_at), valid_to=None
        )
        return new

    def fold(self) -> Fold:
        return Intervals(self)

    @cached_property
    def _in_force_q(self) -> sa.Select[Any]:
        """The rows in force of some requests, built once per model (a batch then costs no
        statement building)."""
        t = self.table
        return sa.select(t).where(
            t.c.request_id.in_(sa.bindparam("ids", expanding=True)), t.c.valid_to.is_(None)
        )

    def _in_force(self, conn: sa.Connection, ids: Iterable[str]) -> dict[str, Row]:
        ids = list(ids)
        out: dict[str, Row] = {}
        for i in range(0, len(ids), CHUNK):
            rows = conn.execute(self._in_force_q, {"ids": ids[i : i + CHUNK]})
            out.update({r.request_id: dict(r._mapping) for r in rows})
        return out

    def _write(self, conn: sa.Connection, closed: dict[str, Row], opened: list[Row]) -> None:
        """The loaded intervals that closed get their end (`_close`), and the new intervals
        are added: a few statements per batch, never one per row."""
        self._close(conn, closed)
        bulk.write(conn, self.table, opened)

    def _close(self, conn: sa.Connection, closed: dict[str, Row]) -> None:
        """Sets `valid_to` of each request's open interval (the row `_in_force` loaded): on
        PostgreSQL one `UPDATE … FROM unnest(…)` per chunk, which sends three arrays rather than
        every column of every row again; elsewhere the open rows are replaced."""
        t, ids = self.table, list(closed)
        if conn.dialect.name != "postgresql":
            for i in range(0, len(ids), CHUNK):
                conn.execute(
                    sa.delete(t).where(
                        t.c.request_id.in_(ids[i : i + CHUNK]), t.c.valid_to.is_(None)
                    )
                )
            bulk.write(conn, t, list(closed.values()))
            return
        to_db = UtcDateTime().process_bind_param
        sql = sa.text(
            f'UPDATE "{t.name}" AS t SET valid_to = c.valid_to '
            "FROM unnest(CAST(:ids AS text[]), CAST(:versions AS integer[]), "
            "CAST(:ends AS timestamp[])) AS c(request_id, version, valid_to) "
            "WHERE t.request_id = c.request_id AND t.version = c.version AND t.valid_to IS NULL"
        )
        for i in range(0, len(ids), CHUNK):
            part = [closed[r] for r in ids[i : i + CHUNK]]
            conn.execute(
                sql,
                {
                    "ids": [row["request_id"] for row in part],
                    "versions": [row["version"] for row in part],
                    "ends": [to_db(row["valid_to"], conn.dialect) for row in part],
                },
            )


class Intervals:
    """A history's fold (bulk rebuilds): each request's open interval in memory; an interval
    is final once the next version closes it, and the open ones at the end."""

    def __init__(self, model: TemporalHistory) -> None:
        self.model = model
        self.open: dict[str, Row] = {}
        self.closed: list[Row] = []

    def needs(self, event_type: str, request_id: str) -> bool:
        return event_type == "Lodged" or request_id in self.open  # as `CurrentRows`

    def add(self, env: Envelope) -> None:
        row = self.open.get(env.request_id)
        new = self.model.next_row(row, env)
        if new is None:
            return
        if row is not None:
            row["valid_to"] = new["valid_from"]
            self.closed.append(row)
        self.open[env.request_id] = new

    def take(self) -> Rows:
        rows, self.closed = self.closed, []
        return [(self.model.table, rows)]

    def finish(self) -> Rows:
        rows, self.open = list(self.open.values()), {}
        return [*self.take(), (self.model.table, rows)]


def _interval(t: sa.Table) -> Any:
    """[valid_from, valid_to) as a PostgreSQL range (no valid_to: unbounded)."""
    return sa.func.tsrange(t.c.valid_from, t.c.valid_to)


def in_force(t: sa.Table, at: datetime, dialect: str) -> list[Any]:
    """The predicate of the rows that held at `at`: valid_from ≤ at < valid_to. On PostgreSQL
    written as the range containment the GiST index answers (the same rows)."""
    if dialect == "postgresql":
        return [_interval(t).op("@>")(sa.cast(sa.literal(at, UtcDateTime()), sa.DateTime()))]
    return [t.c.valid_from <= at, sa.or_(t.c.valid_to.is_(None), t.c.valid_to > at)]


def live_columns(t: sa.Table) -> list[sa.Column[Any]]:
    """The history table's columns that are the live model's (not its validity interval)."""
    return [c for c in t.columns if c.name not in TEMPORAL]
