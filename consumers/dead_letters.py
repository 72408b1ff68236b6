"""Messages a read model could not apply, parked with the reason, and their retry.

Guarantees:
- A message that cannot be decoded or applied is parked (a row of `dead_letters`) in the same
  transaction that moves the model's offset past it; parking one twice keeps one row.
- **Per-request isolation**: once an event of a request is parked for a read model, every later
  event of that request is parked behind it for that model (never silently skipped), until
  `retry` re-applies them in order. Other requests are not held up.
- `retry` takes the model's position rows (the lock its consumer takes per batch), re-applies
  the parked messages in log order, each in its own savepoint, and removes those that applied;
  a message that still fails stays parked with its new reason, and holds the rest of its request.
- A parked message that names no request (it could not be decoded) is reported but blocks nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from kafka.consumer.fetcher import ConsumerRecord

from projections.base import MARK_SOURCE, ReadModel, insert_ignoring_duplicates
from projections.envelope import Envelope
from projections.tables import create_tables

METADATA = sa.MetaData()
DEAD_LETTERS = sa.Table(
    "dead_letters",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("read_model", sa.String(64), nullable=False),
    sa.Column("topic", sa.String(249), nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=True),
    sa.Column("key", sa.LargeBinary, nullable=True),
    sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.UniqueConstraint("read_model", "topic", "partition", "offset", name="dead_letters_once"),
    sa.Index("dead_letters_by_request", "read_model", "request_id"),
)
# Columns added after the first release: `ensure_table` adds them to an older table.
LATER_COLUMNS = ("request_id", "version")


def ensure_table(engine: sa.Engine) -> None:
    """Creates `dead_letters`, or adds to an older one the columns it lacks."""
    create_tables(METADATA, engine)
    present = {c["name"] for c in sa.inspect(engine).get_columns("dead_letters")}
    missing = [c for c in LATER_COLUMNS if c not in present]
    if not missing:
        return
    with engine.begin() as conn:
        for name in missing:
            column = DEAD_LETTERS.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE dead_letters ADD COLUMN {name} {kind}"))
        conn.execute(
            sa.text(
                "CREATE INDEX IF NOT EXISTS dead_letters_by_request "
                "ON dead_letters (read_model, request_id)"
            )
        )


@dataclass(frozen=True)
class Parked:
    """A message refused by a read model: where it was, why, and whose it was (if known)."""

    record: ConsumerRecord
    reason: str
    request_id: str | None = None
    version: int | None = None


def mark_changed(conn: sa.Connection, model: ReadModel) -> int:
    """Records, in the model's (locked) position rows, that its parked messages changed: a
    fresh random mark (never 0), so a consumer that remembers which requests the model holds
    knows to look again (`consumers.model_feed`). Returns the mark."""
    mark = secrets.randbits(62) or 1
    t = model.positions
    done = conn.execute(sa.update(t).where(t.c.source == MARK_SOURCE).values(position=mark))
    if done.rowcount == 0:
        insert_ignoring_duplicates(conn, t, [{"source": MARK_SOURCE, "position": mark}])
        conn.execute(sa.update(t).where(t.c.source == MARK_SOURCE).values(position=mark))
    return mark


def reason_of(error: BaseException) -> str:
    text = " ".join(str(error).split())[:2000]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def park(conn: sa.Connection, model_name: str, parked: Sequence[Parked]) -> None:
    """Records each message with the reason it was refused; parking one twice keeps one row."""
    now = datetime.now(UTC)
    rows = [
        {
            "read_model": model_name,
            "topic": p.record.topic,
            "partition": p.record.partition,
            "offset": p.record.offset,
            "reason": p.reason,
            "raw": p.record.value,
            "key": p.record.key,
            "parked_at": now,
            "request_id": p.request_id,
            "version": p.version,
        }
        for p in parked
    ]
    insert_ignoring_duplicates(conn, DEAD_LETTERS, rows)


def blocked_requests(
    conn: sa.Connection, model_name: str, request_ids: Collection[str]
) -> set[str]:
    """Which of `request_ids` have a parked event for this model (their later events wait)."""
    ids, t = sorted(request_ids), DEAD_LETTERS
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        q = (
            sa.select(t.c.request_id)
            .distinct()
            .where(t.c.read_model == model_name, t.c.request_id.in_(ids[i : i + 500]))
        )
        out.update(conn.execute(q).scalars())
    return out


@dataclass(frozen=True)
class ParkedCount:
    messages: int = 0
    requests: int = 0  # distinct requests held (messages naming no request are not counted)


def counts(conn: sa.Connection, model_names: Sequence[str]) -> dict[str, ParkedCount]:
    """Per read model, how many messages are parked and how many requests they hold."""
    if not sa.inspect(conn).has_table("dead_letters"):
        return {name: ParkedCount() for name in model_names}
    t = DEAD_LETTERS
    q = sa.select(
        t.c.read_model, sa.func.count(), sa.func.count(sa.distinct(t.c.request_id))
    ).group_by(t.c.read_model)
    found = {name: ParkedCount(m, r) for name, m, r in conn.execute(q)}
    return {name: found.get(name, ParkedCount()) for name in model_names}


def parked_request_ids(conn: sa.Connection, model_name: str) -> set[str]:
    """The requests the model holds parked events of."""
    if not sa.inspect(conn).has_table("dead_letters"):
        return set()
    t = DEAD_LETTERS
    q = (
        sa.select(t.c.request_id)
        .distinct()
        .where(t.c.read_model == model_name, t.c.request_id.is_not(None))
    )
    return set(conn.execute(q).scalars())


def _describe(raw: bytes | None) -> dict[str, Any]:
    try:
        env = Envelope.from_json(raw) if raw is not None else None
    except Exception:  # noqa: BLE001 - a parked message may be anything
        env = None
    if env is None:
        return {"reference": None, "event_type": None}
    return {"reference": env.reference, "event_type": env.event_type}


def listing(conn: sa.Connection, model_names: Sequence[str]) -> list[dict[str, Any]]:
    """Every parked message of the named models, in log order, with what it was and why."""
    if not sa.inspect(conn).has_table("dead_letters"):
        return []
    t = DEAD_LETTERS
    q = (
        sa.select(t)
        .where(t.c.read_model.in_(model_names))
        .order_by(t.c.read_model, t.c.partition, t.c.offset)
    )
    out = []
    for row in conn.execute(q).mappings():
        out.append(
            {
                "read_model": row["read_model"],
                "topic": row["topic"],
                "partition": row["partition"],
                "offset": row["offset"],
                "request_id": row["request_id"],
                "version": row["version"],
                **_describe(row["raw"]),
                "reason": row["reason"],
                "parked_at": row["parked_at"].isoformat(),
            }
        )
    return out


@dataclass
class RetryResult:
    name: str
    applied: int = 0
    still_parked: int = 0


Decode = Callable[[bytes | None], Envelope]


def retry(
    engine: sa.Engine,
    model: ReadModel,
    lock: Callable[[sa.Connection], None],
    decode: Decode,
    is_infrastructure: Callable[[BaseException], bool],
) -> RetryResult:
    """Re-applies the model's parked messages in log order (see the module's guarantees);
    `lock` takes the model's consumer lock in the transaction."""
    result = RetryResult(model.name)
    t = DEAD_LETTERS
    with engine.begin() as conn:
        lock(conn)
        rows = (
            conn.execute(
                sa.select(t).where(t.c.read_model == model.name).order_by(t.c.partition, t.c.offset)
            )
            .mappings()
            .all()
        )
        held: set[str] = set()
        for row in rows:
            if row["request_id"] is not None and row["request_id"] in held:
                result.still_parked += 1
                continue
            try:
                env = decode(row["raw"])
                with conn.begin_nested():
                    model.apply(conn, [env])
            except Exception as error:
                if is_infrastructure(error):
                    raise
                result.still_parked += 1
                if row["request_id"] is not None:
                    held.add(row["request_id"])
                conn.execute(
                    sa.update(t).where(t.c.id == row["id"]).values(reason=reason_of(error))
                )
                continue
            conn.execute(sa.delete(t).where(t.c.id == row["id"]))
            result.applied += 1
        if rows:
            mark_changed(conn, model)
    return result
