"""Work queues as they stood at any past instant: every state each request's queue row has had,
with the interval of recorded time it held, [valid_from, valid_to).

A request's row evolves exactly as the live work queue's does (the same `WorkQueue.evolve`);
each event that reaches the request closes the row in force (its `valid_to` becomes the event's
recording instant) and opens the next one from that instant. "As at T" is then one indexed
query — the rows with valid_from ≤ T < valid_to — never a replay of the log: everything the
council had recorded by T, and nothing after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from projections import bulk
from projections.base import CHUNK, ReadModel, Row, UtcDateTime
from projections.bulk import Fold, Rows
from projections.envelope import Envelope
from projections.work_queue import QueueFilter, WorkQueue, queue_order

TEMPORAL = ("valid_from", "valid_to")


class WorkQueueHistory(ReadModel):
    name = "work_queue_history"
    schema_version = 2  # 2: `priority`, as the live queue

    def define(self, metadata: sa.MetaData) -> None:
        self.live = WorkQueue()
        p = self.prefix
        columns = [sa.Column(c.name, c.type, nullable=c.nullable)
                   for c in self.live.table.columns if c.name not in ("request_id", "version")]
        self.table = sa.Table(
            f"{p}work_queue_history", metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, primary_key=True),
            *columns,
            sa.Column("valid_from", UtcDateTime, nullable=False),
            sa.Column("valid_to", UtcDateTime),
            sa.Index(f"{p}work_queue_history_by_team", "council", "team", "valid_from"),
            sa.Index(f"{p}work_queue_history_by_officer", "council", "officer", "valid_from"),
            sa.Index(f"{p}work_queue_history_open", "request_id", "valid_to"),
        )

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
        self._write(conn, {r: {**loaded[r], "valid_to": at} for r, at in closed.items()},
                    list(opened.values()))
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
        new.update(version=env.version, valid_from=datetime.fromisoformat(env.recorded_at),
                   valid_to=None)
        return new

    def fold(self) -> Fold:
        return Intervals(self)

    def _in_force(self, conn: sa.Connection, ids: Iterable[str]) -> dict[str, Row]:
        t, ids = self.table, list(ids)
        out: dict[str, Row] = {}
        for i in range(0, len(ids), CHUNK):
            q = sa.select(t).where(t.c.request_id.in_(ids[i: i + CHUNK]), t.c.valid_to.is_(None))
            out.update({r.request_id: dict(r._mapping) for r in conn.execute(q)})
        return out

    def _write(self, conn: sa.Connection, closed: dict[str, Row], opened: list[Row]) -> None:
        """The closed intervals (each request's loaded one, now with its end) replace their
        open rows, and the new intervals are added: a few statements per batch, never one
        per row."""
        t, ids = self.table, list(closed)
        for i in range(0, len(ids), CHUNK):
            conn.execute(sa.delete(t).where(t.c.request_id.in_(ids[i : i + CHUNK]),
                                            t.c.valid_to.is_(None)))
        bulk.write(conn, t, [*closed.values(), *opened])


class Intervals:
    """The history's fold: each request's open interval in memory; an interval is final once
    the next version closes it, and the open ones at the end."""

    def __init__(self, model: WorkQueueHistory) -> None:
        self.model = model
        self.open: dict[str, Row] = {}
        self.closed: list[Row] = []

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


def query_as_at(
    conn: sa.Connection, model: WorkQueueHistory, f: QueueFilter, at: datetime
) -> list[dict[str, Any]]:
    """The queue as it stood at `at`: the same rows, in the same order, as the live queue
    showed then."""
    t = model.table
    q = sa.select(*[c for c in t.columns if c.name not in TEMPORAL]).where(
        t.c.council == f.council, t.c.status != "closed", t.c.valid_from <= at,
        sa.or_(t.c.valid_to.is_(None), t.c.valid_to > at))
    if f.team:
        q = q.where(t.c.team == f.team)
    if f.officer:
        q = q.where(t.c.officer == f.officer)
    return [dict(r._mapping) for r in conn.execute(q.order_by(*queue_order(t)))]
