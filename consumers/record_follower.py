"""Keeps the record chain up to date: follows both event logs from the chain's own heads.

On the embedded default every query catches it up in process (like the read models); on the
Kafka path the worker runs `RecordFollower` on a thread of its own. Either way a round reads
each log's head and what is new after it, then adds the new entries and moves each head only
from where it was read, in one transaction: a concurrent follower that got there first makes
the round write nothing (its entries' positions are taken, or a head moved), and the round is
read again — so concurrent followers never chain an event twice. A chain that has not begun
is started under a lock. The chain only ever grows from its head; a log whose chain has
entries but no head is not touched (and `crm record verify` says so).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import structlog
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from projections.record_chain import Head, RecordChain, StoredEvent, extend, prepared

log = structlog.get_logger("record_chain")
Logs = Mapping[str, Application[UUID]]


CHAIN = RecordChain()  # one set of table objects per process: SQLAlchemy caches its statements
_PREPARED: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # engines whose tables exist


def catch_up(engine: sa.Engine, logs: Logs, batch_size: int = 1000) -> int:
    """Chains every stored event not chained yet, in each log; returns how many. Each round
    chains up to `batch_size` events of every log behind in one transaction; when the chain is
    up to date it only reads (no lock, no write)."""
    _prepare(engine)
    chained = 0
    conflicts = 0
    reconnected = False
    while True:
        try:
            n, more = _round(engine, logs, batch_size)
        except sa.exc.DBAPIError as error:  # a pooled connection found dead (not pinged)
            if not error.connection_invalidated or reconnected:
                raise
            reconnected = True
            continue
        except (_Moved, _NoHead) as why:
            if isinstance(why, _Moved):  # another follower chained meanwhile: read again
                conflicts += 1
                if conflicts <= RETRIES:
                    continue
            try:
                n, more = _careful_round(engine, logs, batch_size)
            except sa.exc.IntegrityError:
                # A follower without the lock chained those positions between this round's
                # reading its heads and its writing: nothing of this round was written (the
                # transaction rolled back); read again from the new heads.
                continue
        chained += n
        if not more:
            return chained


RETRIES = 3  # rounds lost to other followers before one waits for the lock instead


class _Moved(Exception):
    """Another follower moved a head between this round's reading and its writing."""


class _NoHead(Exception):
    """A log's chain has no head row: it has not begun, or its head is gone."""


def _round(engine: sa.Engine, logs: Logs, batch_size: int) -> tuple[int, bool]:
    """One round without the lock: reads the heads and what is new in every log after them in
    one query (when the chain's connection can read the stores; see `_stores_in`), and when
    anything is, chains it from the heads it read. On PostgreSQL one statement, outside any
    transaction block, moves each log's head only if it is still where it was read and adds
    that log's new entries only if its head moved (`RecordChain.extend_at_once`); elsewhere a
    transaction inserts the entries and moves the heads, and rolls back unless every head
    moved. A follower that got there first makes a log's entries collide with its own (the
    statement fails, nothing is written) or its head not move: `_Moved`, read again."""
    with engine.connect() as conn:
        at_once = conn.dialect.name == "postgresql"
        if not at_once:
            return _chain(conn, logs, batch_size, at_once)
        # Each statement its own transaction: no BEGIN and COMMIT round trips. The driver's
        # own switch, set back before the connection returns to the pool (SQLAlchemy's
        # isolation level would cost a round trip each way).
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.autocommit = True
        try:
            return _chain(conn, logs, batch_size, at_once)
        finally:
            driver.autocommit = False


def _chain(conn: sa.Connection, logs: Logs, batch_size: int, at_once: bool) -> tuple[int, bool]:
    """`_round`'s reading and writing on one connection."""
    heads, new = _read_new(conn, logs, batch_size)
    if not any(new.values()):
        return 0, False
    moved: list[Head] = []
    rows: list[dict[str, object]] = []
    for name, events in new.items():
        if events:
            head, added = extend(heads[name], events)
            moved.append(head)
            rows += added
    old = [heads[h.log] for h in moved]
    try:
        if at_once:
            done = CHAIN.extend_at_once(conn, old, moved, rows)
            if done != {h.log for h in moved}:
                raise _Moved
        else:
            conn.execute(CHAIN.insert_entries, rows)
            if CHAIN.move_heads(conn, old, moved) != len(moved):
                conn.rollback()
                raise _Moved
            conn.commit()
    except sa.exc.IntegrityError as taken:
        conn.rollback()
        raise _Moved from taken
    return len(rows), any(len(events) >= batch_size for events in new.values())


def _read_new(
    conn: sa.Connection, logs: Logs, batch_size: int
) -> tuple[dict[str, Head], dict[str, list[StoredEvent]]]:
    """Every log's head and up to `batch_size` stored events after it (see `_stores_in`)."""
    together = _stores_in(conn, logs)
    if together is not None:
        if conn.dialect.name == "postgresql":  # planned once per connection (`prepared`)
            statement = prepared(conn, _NAMES[together], together.text, ("limit",))
            found = conn.exec_driver_sql(statement, {"limit": batch_size}).all()
        else:
            found = conn.execute(together, {"limit": batch_size}).all()
        heads = {r.log: _head(r) for r in found if r.kind == 0}
        if any(name not in heads for name in logs):
            raise _NoHead
        new: dict[str, list[StoredEvent]] = {name: [] for name in logs}
        for r in found:
            if r.kind == 1:
                new[r.log].append(r)
        for events in new.values():
            events.sort(key=_position)
        return heads, new
    heads = CHAIN.heads_by_log(conn)
    if any(name not in heads for name in logs):
        raise _NoHead
    return heads, {
        name: list(
            app.recorder.select_notifications(
                start=heads[name].position, limit=batch_size, inclusive_of_start=False
            )
        )
        for name, app in logs.items()
    }


def _position(event: StoredEvent) -> int:
    return event.id


def _head(row: sa.Row[Any]) -> Head:
    return Head(log=row.log, position=row.id, event_count=row.event_count, head_hash=row.head_hash)


_TOGETHER: dict[tuple[object, ...], sa.TextClause] = {}
_NAMES: dict[sa.TextClause, str] = {}  # each query's name as a prepared statement


def _stores_in(conn: sa.Connection, logs: Logs) -> sa.TextClause | None:
    """The query reading the chain's heads and what is new in every log at once (built once
    per set of stores), when the chain's connection can read every log's store: PostgreSQL
    tables in the chain's own database, or SQLite files, attached to the connection once;
    None otherwise (then each store is read through its recorder)."""
    dialect = conn.dialect.name
    tables = []
    for name, app in logs.items():
        recorder = app.recorder
        if dialect == "postgresql" and isinstance(recorder, PostgresApplicationRecorder):
            if not _same_database(recorder, conn.engine.url):
                return None
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            tables.append((name, table, "notification_id"))
        elif dialect == "sqlite" and isinstance(recorder, SQLiteApplicationRecorder):
            schema = _attached(conn, name, recorder)
            if schema is None:
                return None
            tables.append((name, f'{schema}."{recorder.events_table_name}"', "rowid"))
        else:
            return None
    key = (dialect, *tables)
    query = _TOGETHER.get(key)
    if query is None:
        typed = dialect == "postgresql"
        parts = [
            "SELECT 0 AS kind, log, position AS id, event_count, head_hash, "
            + (
                "NULL::text AS originator_id, NULL::bigint AS originator_version, "
                "NULL::text AS topic, NULL::bytea AS state FROM record_chain_heads"
                if typed
                else "NULL AS originator_id, NULL AS originator_version, NULL AS topic, "
                "NULL AS state FROM main.record_chain_heads"
            )
        ]
        heads = "record_chain_heads" if typed else "main.record_chain_heads"
        blanks = "NULL::bigint, NULL::text" if typed else "NULL, NULL"
        # the aggregate id as text (as SQLite keeps it): the digest takes its bytes from the
        # text, with no `UUID` made per event by the driver
        as_text = "originator_id::text" if typed else "originator_id"
        for name, table, column in tables:
            parts.append(
                f"SELECT * FROM (SELECT 1, '{name}', {column}, {blanks}, {as_text}, "
                f"originator_version, topic, state FROM {table} WHERE {column} > "
                f"(SELECT position FROM {heads} WHERE log = '{name}') "
                f"ORDER BY {column} LIMIT :limit) AS {name}_new"
            )
        query = _TOGETHER[key] = sa.text(" UNION ALL ".join(parts))
        _NAMES[query] = f"record_chain_new_{len(_NAMES)}"
    return query


def _attached(conn: sa.Connection, name: str, recorder: SQLiteApplicationRecorder) -> str | None:
    """The schema name under which the SQLite store of log `name` is attached to this
    connection (attached on first use; None for a store in memory)."""
    pool = recorder.datastore.pool
    if pool.is_sqlite_memory_mode:
        return None
    schema = f"store_{name}"
    attached = conn.connection.info.setdefault("record_chain_stores", {})
    if attached.get(schema) != pool.db_name:
        if schema in attached:
            conn.exec_driver_sql(f"DETACH DATABASE {schema}")
        conn.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (pool.db_name,))
        attached[schema] = pool.db_name
    return schema


def _same_database(recorder: PostgresApplicationRecorder, url: sa.URL) -> bool:
    where = getattr(recorder.datastore.pool, "kwargs", None) or {}
    return (where.get("dbname"), str(where.get("host")), str(where.get("port"))) == (
        url.database,
        str(url.host),
        str(url.port or 5432),
    )


def _careful_round(engine: sa.Engine, logs: Logs, batch_size: int) -> tuple[int, bool]:
    """One round under the lock, each log from its head read under it: starts a chain that has
    not begun, and leaves alone a log whose chain has entries but no head."""
    chained, more = 0, False
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))  # see `RecordChain`
        CHAIN.lock(conn)
        for name, app in logs.items():
            store_head = app.recorder.max_notification_id() or 0
            n, done = _extend(conn, name, app, store_head, batch_size)
            chained += n
            more = more or not done
    return chained, more


def _prepare(engine: sa.Engine) -> None:
    """Creates the chain's tables the first time an engine finds them missing (asking first
    spares each new process the catalogue queries of a `create_all`)."""
    if engine not in _PREPARED:
        try:
            with engine.connect() as conn:
                CHAIN.heads_by_log(conn)
        except sa.exc.DBAPIError:
            for attempt in range(3):
                try:
                    CHAIN.create(engine)  # only the tables still missing
                    break
                except sa.exc.DBAPIError:  # another thread or process creating them meanwhile
                    if attempt == 2:
                        raise
        _PREPARED.add(engine)


def _extend(
    conn: sa.Connection, name: str, app: Application[UUID], store_head: int, batch_size: int
) -> tuple[int, bool]:
    """Chains one batch of the log (under the lock); returns how many, and whether the chain
    reached `store_head` (or cannot go on: its head is gone)."""
    head = CHAIN.head(conn, name)
    if head is None:
        if CHAIN.has_entries(conn, name):
            log.error("record_chain_head_missing", log=name)
            return 0, True
        head = CHAIN.start(conn, name)
        log.info("record_chain_started", log=name, store_head=store_head)
    if head.position >= store_head:
        return 0, True
    batch = app.recorder.select_notifications(
        start=head.position, limit=batch_size, inclusive_of_start=False
    )
    if batch:
        CHAIN.append(conn, head, batch)
    return len(batch), not batch or batch[-1].id >= store_head or len(batch) < batch_size


class RecordFollower:
    """The follower of both logs on a thread of its own (`crm serve`'s, the Kafka path's
    worker), until `stop` is set.

    A round's cost is mostly fixed (one read, one write, the server's planning and commit,
    about 4 ms of CPU on PostgreSQL) and its events add little (about 0.1 ms each), so rounds
    are spaced: a round begins at most every `gather_s` while commands keep coming (a round
    that found a full batch is followed at once, inside `catch_up`), and `idle_sleep_s` after
    a round that found nothing. Beside saturating commands a round then chains what a fifth
    of a second brings, not the few events committed since the previous round. An event is
    chained at most about `gather_s` (or `idle_sleep_s`) plus a round after it is stored; a
    stop ends a wait at once."""

    def __init__(
        self, engine: sa.Engine, logs: Logs, idle_sleep_s: float = 0.2, gather_s: float = 0.2
    ) -> None:
        self.engine, self.logs = engine, logs
        self.idle_sleep_s, self.gather_s = idle_sleep_s, gather_s
        self.rounds = 0  # rounds that chained something, and the events they chained
        self.chained = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                done = catch_up(self.engine, self.logs)
            except sa.exc.OperationalError as error:  # the database is away: try again
                log.warning("record_chain_unavailable", error=str(error)[:300])
                done = 0
            if done:
                self.rounds += 1
                self.chained += done
                stop.wait(max(0.0, self.gather_s - (time.monotonic() - began)))
            else:
                stop.wait(self.idle_sleep_s)
