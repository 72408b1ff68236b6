"""Work queues as they stood at any past instant: every state each request's queue row has had,
with the interval of recorded time it held (`projections/temporal.py`). "As at T" is one
indexed query, never a replay of the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from projections.temporal import TemporalHistory, in_force, live_columns
from projections.work_queue import QueueFilter, WorkQueue, queue_order


class WorkQueueHistory(TemporalHistory):
    name = "work_queue_history"
    live_model = WorkQueue
    # 2: `priority`, as the live queue; 3: the work queue's corrections; 4: the validity
    # intervals of open requests' rows indexed
    schema_version = 4

    def indexes(self) -> list[tuple[str, tuple[str, ...]]]:
        return [
            ("by_team", ("council", "team", "valid_from")),
            ("by_officer", ("council", "officer", "valid_from")),
        ]

    def open_rows(self, t: sa.Table) -> Any:
        return t.c.status != "closed"


def query_as_at(
    conn: sa.Connection, model: WorkQueueHistory, f: QueueFilter, at: datetime
) -> list[dict[str, Any]]:
    """The queue as it stood at `at`: the same rows, in the same order, as the live queue
    showed then."""
    q = as_at_select(model, f, at, conn.dialect.name)
    return [dict(r._mapping) for r in conn.execute(q)]


def as_at_select(
    model: WorkQueueHistory, f: QueueFilter, at: datetime, dialect: str
) -> sa.Select[Any]:
    t = model.table
    q = sa.select(*live_columns(t)).where(
        t.c.council == f.council, model.open_rows(t), *in_force(t, at, dialect)
    )
    if f.team:
        q = q.where(t.c.team == f.team)
    if f.officer:
        q = q.where(t.c.officer == f.officer)
    return q.order_by(*queue_order(t))
