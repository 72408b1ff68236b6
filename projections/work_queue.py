"""Work queues: which open requests each team and officer has, most urgent and soonest due first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from projections.base import Row, RowPerRequest, UtcDateTime
from projections.envelope import Envelope

STATUS_AFTER = {
    "Acknowledged": "acknowledged",
    "Assigned": "assigned",
    "Delayed": "delayed",
    "Escalated": "escalated",
    "Closed": "closed",
}


class WorkQueue(RowPerRequest):
    name = "work_queue"
    schema_version = 2  # 2: `priority`

    def define(self, metadata: sa.MetaData) -> None:
        self.table = sa.Table(
            f"{self.prefix}work_queue",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("team", sa.String(64), nullable=False),
            sa.Column("officer", sa.String(128)),
            sa.Column("category", sa.String(200), nullable=False),
            sa.Column("urgent", sa.Boolean, nullable=False),
            # handled with priority (its kind's rule, e.g. complaints): after urgent, before others
            sa.Column("priority", sa.Boolean, nullable=False),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("level", sa.String(64), nullable=False),
            sa.Column("acknowledge_by", UtcDateTime),
            sa.Column("complete_by", UtcDateTime),
            sa.Column("lodged_at", UtcDateTime, nullable=False),
            sa.Column("last_action", sa.String(32), nullable=False),
            sa.Column("last_action_at", UtcDateTime, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Index(f"{self.prefix}work_queue_by_team", "council", "team", "status"),
            sa.Index(f"{self.prefix}work_queue_by_officer", "council", "officer", "status"),
        )

    def evolve(self, row: Row | None, env: Envelope) -> Row | None:
        d = env.data
        if env.event_type == "Lodged":
            standard = d.get("standard") or {}
            return {
                "request_id": env.request_id, "council": env.council,
                "reference": env.reference, "team": d["team"], "officer": None,
                "category": d["category"], "urgent": bool(d["urgent"]), "status": "lodged",
                "priority": bool(standard.get("priority")),
                "level": (standard.get("escalation_roles") or [""])[0],
                "acknowledge_by": d.get("acknowledge_by"), "complete_by": d.get("complete_by"),
                "lodged_at": env.occurred_at, "last_action": "Lodged",
                "last_action_at": env.occurred_at,
            }
        assert row is not None
        new = dict(row, last_action=env.event_type, last_action_at=env.occurred_at)
        if env.event_type in STATUS_AFTER and row["status"] != "closed":
            new["status"] = STATUS_AFTER[env.event_type]
        if env.event_type == "Assigned":
            new.update(team=d["team"], officer=d.get("officer"))
        elif env.event_type == "Delayed":
            new["complete_by"] = d.get("complete_by")
        elif env.event_type == "Escalated":
            new["level"] = d["level"]
        return new


@dataclass(frozen=True, kw_only=True)
class QueueFilter:
    council: str
    team: str | None = None
    officer: str | None = None


def query(conn: sa.Connection, model: WorkQueue, f: QueueFilter) -> list[dict[str, Any]]:
    """Open requests in the queue: urgent first, then by completion due (none due: last)."""
    t = model.table
    q = sa.select(t).where(t.c.council == f.council, t.c.status != "closed")
    if f.team:
        q = q.where(t.c.team == f.team)
    if f.officer:
        q = q.where(t.c.officer == f.officer)
    return [dict(r._mapping) for r in conn.execute(q.order_by(*queue_order(t)))]


def queue_order(t: sa.Table) -> list[Any]:
    """Urgent first, then those handled with priority (complaints), then by completion due
    (none due: last), then oldest, then reference."""
    return [t.c.urgent.desc(), t.c.priority.desc(), t.c.complete_by.is_(None), t.c.complete_by, t.c.lodged_at,
            t.c.reference]
