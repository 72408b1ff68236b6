"""Work queues: which open requests each team and officer has, most urgent and soonest due first."""

from __future__ import annotations

from collections.abc import Callable
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
    # corrections: a link or a referral closes the request; reopening puts it back in queue
    "LinkedAsDuplicate": "closed",
    "Referred": "closed",
}


class WorkQueue(RowPerRequest):
    name = "work_queue"
    schema_version = 3  # 2: `priority`; 3: the corrections (reopen, recategorise, link, refer)

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
                "request_id": env.request_id,
                "council": env.council,
                "reference": env.reference,
                "team": d["team"],
                "officer": None,
                "category": d["category"],
                "urgent": bool(d["urgent"]),
                "status": "lodged",
                "priority": bool(standard.get("priority")),
                "level": (standard.get("escalation_roles") or [""])[0],
                "acknowledge_by": d.get("acknowledge_by"),
                "complete_by": d.get("complete_by"),
                "lodged_at": env.occurred_at,
                "last_action": "Lodged",
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
        elif env.event_type == "Reopened":
            new.update(status="reopened", complete_by=d.get("complete_by"))
        elif env.event_type == "Recategorised":
            new.update(
                category=d["category"],
                team=d["team"],
                officer=d.get("officer"),
                acknowledge_by=d.get("acknowledge_by"),
                complete_by=d.get("complete_by"),
            )
        return new


@dataclass(frozen=True, kw_only=True)
class QueueFilter:
    council: str
    team: str | None = None
    officer: str | None = None


# Every status `evolve` writes but "closed": named in full, so that the queue's query looks up
# the open rows in the (council, team, status) index instead of reading a team's closed rows too.
OPEN_STATUSES = tuple(sorted({"lodged", "reopened", *STATUS_AFTER.values()} - {"closed"}))


def _open(t: sa.Table, f: QueueFilter) -> sa.Select[Any]:
    q = sa.select(t).where(t.c.council == f.council, t.c.status.in_(OPEN_STATUSES))
    if f.team:
        q = q.where(t.c.team == f.team)
    if f.officer:
        q = q.where(t.c.officer == f.officer)
    return q.order_by(*queue_order(t))


def query(conn: sa.Connection, model: WorkQueue, f: QueueFilter) -> list[dict[str, Any]]:
    """Open requests in the queue: urgent first, then by completion due (none due: last)."""
    return [dict(r._mapping) for r in conn.execute(_open(model.table, f))]


@dataclass(frozen=True)
class PlainRows:
    """A queue as the database driver hands it over: the column names, and each row's values
    in that order, the rows in the queue's order. Instants are as the driver gives them (naive
    UTC: a `datetime`, or SQLite's text); booleans may be 0 and 1."""

    columns: tuple[str, ...]
    instants: frozenset[str]
    booleans: frozenset[str]
    rows: list[tuple[Any, ...]]


def query_plain(conn: sa.Connection, model: WorkQueue, f: QueueFilter) -> PlainRows:
    """`query`'s rows, read with one plain DB-API query on the driver's own cursor: no
    SQLAlchemy row object and no type conversion per value (a queue is read whole, 1,000 rows
    and more, each time it changes)."""
    t = model.table
    compiled = _open(t, f).compile(
        dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
    )
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup or ())
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return PlainRows(
        columns=tuple(c.name for c in t.columns),
        instants=frozenset(c.name for c in t.columns if isinstance(c.type, UtcDateTime)),
        booleans=frozenset(c.name for c in t.columns if isinstance(c.type, sa.Boolean)),
        rows=[tuple(r) for r in rows],
    )


# The queue's order, defined once: each column in turn, and how it sorts. The SQL order of the
# read model (`queue_order`) and the sort key of a row already read (`queue_key`, e.g. a page
# cursor over HTTP) are both made from it.
TRUE_FIRST = "true first"
SOONEST_NONE_LAST = "soonest first, none last"
ASCENDING = "ascending"
QUEUE_ORDER: tuple[tuple[str, str], ...] = (
    ("urgent", TRUE_FIRST),
    ("priority", TRUE_FIRST),  # handled with priority (complaints)
    ("complete_by", SOONEST_NONE_LAST),
    ("lodged_at", ASCENDING),  # oldest first
    ("reference", ASCENDING),
)
INSTANTS = frozenset({"complete_by", "lodged_at"})


def queue_order(t: sa.Table) -> list[Any]:
    """`QUEUE_ORDER` as SQL: urgent first, then those handled with priority (complaints), then
    by completion due (none due: last), then oldest, then reference."""
    order: list[Any] = []
    for name, how in QUEUE_ORDER:
        column = t.c[name]
        if how == TRUE_FIRST:
            order.append(column.desc())
        elif how == SOONEST_NONE_LAST:
            order += [column.is_(None), column]
        else:
            order.append(column)
    return order


def queue_key(row: dict[str, Any], instant: Callable[[Any], str]) -> tuple[bool | str, ...]:
    """`QUEUE_ORDER` as a sort key of a row: sorting rows by it gives `queue_order`'s order.
    `instant` turns an instant's value (a datetime, or its ISO text in a row made plain) into
    a string that sorts as the instant does; it is given None for an instant not set."""
    key: list[bool | str] = []
    for name, how in QUEUE_ORDER:
        value = row.get(name)
        if how == TRUE_FIRST:
            key.append(not value)
        elif how == SOONEST_NONE_LAST:
            key += [value is None, instant(value)]
        else:
            key.append(instant(value) if name in INSTANTS else str(value))
    return tuple(key)


def queue_key_types() -> tuple[type, ...]:
    """The type of each part of `queue_key`, in turn."""
    parts = {TRUE_FIRST: (bool,), SOONEST_NONE_LAST: (bool, str), ASCENDING: (str,)}
    return tuple(t for _, how in QUEUE_ORDER for t in parts[how])
