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

    def indexes(self) -> list[tuple[str, tuple[str, ...]]]:
        return [
            ("by_team", ("council", "team", "valid_from")),
            ("by_officer", ("council", "officer", "valid_from")),
        ]


def query_as_at(
    conn: sa.Connection, model: WorkQueueHistory, f: QueueFilter, at: datetime
) -> list[dict[str, Any]]:
    """The queue as it stood at `at`: the same rows, in the same order, as the live queue
    showed then."""
    t = model.table
    q = sa.select(*live_columns(t)).where(
        t.c.council == f.council, t.c.status != "closed", *in_force(t, at)
    )
    if f.team:
        q = q.where(t.c.team == f.team)
    if f.officer:
        q = q.where(t.c.officer == f.officer)
    return [dict(r._mapping) for r in conn.execute(q.order_by(*queue_order(t)))]
