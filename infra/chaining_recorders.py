"""Event stores that chain a command's own events into the tamper-evident record as they store
them, so that the catch-up after a command (the CLI's at exit, a view's, the follower thread)
finds nothing new and stays only the safety net.

On PostgreSQL (the chain and the stores in one database) the store's own insert is replaced
by one statement that inserts the events exactly as the store would and chains them
(`record_chain.chained_insert`, a lighter form for a single event), after the store's table
lock: no statement is added to the transaction. On SQLite (the chain in its own
file) one short transaction on the record file right after the command's commit, with the
stored events in hand. Either way the log's chain is extended only if its head is exactly at
the store's position before the first new event; otherwise the chain is left as it is and the
follower chains the events as before. Chaining never fails a command: the statement is
conditional, and on SQLite any error is logged and left to the catch-up.

A recorder chains while its `chain_log` names the log it stores (`requests`, `directory`);
None turns it off. SQLite's stores chain (`Settings.event_store_env`); PostgreSQL's do not by
default: there the follower chaining in batches beside the commands costs a command less
than this statement (`bench/README.md`, "A follower beside the commands"), and the
PostgreSQL form is kept for `bench.record_bench` to measure against it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

import structlog
from eventsourcing.persistence import (
    ApplicationRecorder,
    Notification,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory
from psycopg import Cursor
from psycopg.rows import DictRow

from infra import command_claims
from infra.pg_recorder import PrerenderedPostgresRecorder
from projections import record_chain

log = structlog.get_logger("record_chain")

CHAIN_LOG = "RECORD_CHAIN_LOG"  # the event store's settings naming its log and (SQLite) file
CHAIN_FILE = "RECORD_CHAIN_FILE"
SQLITE_WAIT_S = 0.5  # the longest a command waits for the record file's write lock
RECHECK_S = 5.0  # how often a store looks again for chain tables it found missing


def positioned(ids: Sequence[int], stored: Sequence[StoredEvent]) -> list[Notification]:
    """The stored events with the positions the store gave them, in position order."""
    found = [
        Notification(
            id=i,
            originator_id=e.originator_id,
            originator_version=e.originator_version,
            topic=e.topic,
            state=e.state,
        )
        for i, e in zip(ids, stored, strict=True)
    ]
    return sorted(found, key=lambda n: n.id)


class ChainingPostgresRecorder(PrerenderedPostgresRecorder):
    """The library's PostgreSQL recorder (its statements rendered once), storing and chaining
    a command's events in one statement (`record_chain.chained_insert`) in place of its own
    insert."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain_log: str | None = None
        schema, store = self.datastore.schema, self.datastore
        names = (
            f'"{schema}"."{self.events_table_name}"',
            f'"{schema}"."{self.stored_event_type_name}"',
            f'"{store.originator_id_type}"',
        )
        self._chained_insert = record_chain.chained_insert(*names)
        self._chained_insert_one = record_chain.chained_insert(*names, one=True)
        self._chain_found = False
        self._looked_at = -RECHECK_S

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        log_name = self.chain_log
        if log_name is None or not self._chain_exists(curs):
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        self._lock_table(curs)
        self._notify_channel(curs)
        params = record_chain.chained_insert_params(log_name, stored_events)
        params["events"] = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        one = len(stored_events) == 1
        curs.execute(
            self._chained_insert_one if one else self._chained_insert, params, prepare=True
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not (curs.statusmessage or "").startswith("SELECT"):  # the store's own insert
            return super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        ids = [row["notification_id"] for row in curs.fetchall()]
        if len(ids) != len(stored_events):
            raise ProgrammingError(f"stored {len(stored_events)} events, got {len(ids)} ids")
        return ids

    def _chain_exists(self, curs: Cursor[DictRow]) -> bool:
        """Whether the chain's tables exist (the follower creates them): looked up once, and
        while they are missing at most every `RECHECK_S`, so the statement cannot fail on a
        table not there."""
        if not self._chain_found and time.monotonic() - self._looked_at >= RECHECK_S:
            self._looked_at = time.monotonic()
            curs.execute(
                "SELECT to_regclass('record_chain') IS NOT NULL "
                "AND to_regclass('record_chain_heads') IS NOT NULL AS found"
            )
            row = curs.fetchone()
            self._chain_found = bool(row and row["found"])
        return self._chain_found


class ChainingSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, chaining what it inserted right after the commit, in the
    record file `chain_file`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain_log: str | None = None
        self.chain_file: str | None = None
        self._chain_lock = threading.Lock()
        self._chain_conn: sqlite3.Connection | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            (
                f"CREATE TABLE IF NOT EXISTS {command_claims.TABLE} (claim TEXT PRIMARY KEY, "
                "recorded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            ),
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, and in the same transaction the claim the events are stored
        under, if any (`infra.command_claims`)."""
        ids = super()._insert_events(c, stored_events, **kwargs)
        claim = command_claims.current()
        if claim is not None and stored_events:
            c.execute(f"INSERT OR IGNORE INTO {command_claims.TABLE} (claim) VALUES (?)", (claim,))
        return ids

    def claim_recorded(self, claim: str) -> bool:
        """Whether events were stored under `claim` (committed)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT 1 FROM {command_claims.TABLE} WHERE claim = ?", (claim,))
            return c.fetchone() is not None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        if ids and self.chain_log is not None and self.chain_file is not None:
            try:
                self.chain(self.chain_log, positioned(ids, stored_events))
            except sqlite3.Error as error:  # the command stands: the catch-up chains them
                log.warning("record_chain_deferred", log=self.chain_log, error=str(error)[:300])
        return ids

    def chain(self, name: str, events: Sequence[Notification]) -> bool:
        """Appends `events` to the log's chain if its head is just before the first of them,
        in one transaction on the record file; True if it did."""
        with self._chain_lock:
            conn = self._record_file()
            if conn is None:
                return False
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = _append(conn, name, events)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT" if done else "ROLLBACK")
            return done

    def _record_file(self) -> sqlite3.Connection | None:
        """The record file, opened once (never created here: its follower creates it)."""
        if self._chain_conn is None:
            try:
                conn = sqlite3.connect(
                    f"file:{self.chain_file}?mode=rw",
                    uri=True,
                    timeout=SQLITE_WAIT_S,
                    isolation_level=None,
                    check_same_thread=False,
                )
            except sqlite3.OperationalError:  # not there yet
                return None
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # as the record file's own engine
            self._chain_conn = conn
        return self._chain_conn

    def close_chain(self) -> None:
        with self._chain_lock:
            if self._chain_conn is not None:
                self._chain_conn.close()
                self._chain_conn = None


_HEAD = "SELECT position, event_count, head_hash FROM record_chain_heads WHERE log = ?"
_INSERT = (
    "INSERT INTO record_chain (log, position, originator_id, version, digest, hash) "
    "VALUES (:log, :position, :originator_id, :version, :digest, :hash)"
)
_MOVE = (
    "UPDATE record_chain_heads SET position = ?, event_count = ?, head_hash = ? "
    "WHERE log = ? AND position = ?"
)


def _append(conn: sqlite3.Connection, name: str, events: Sequence[Notification]) -> bool:
    row = conn.execute(_HEAD, (name,)).fetchone()
    if row is None or row[0] != events[0].id - 1:
        return False  # not begun, or behind: the catch-up's work
    head = record_chain.Head(log=name, position=row[0], event_count=row[1], head_hash=row[2])
    new, rows = record_chain.extend(head, events)
    conn.executemany(_INSERT, rows)
    moved = conn.execute(
        _MOVE, (new.position, new.event_count, new.head_hash, name, head.position)
    ).rowcount
    return moved == 1


class ChainingSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, its application recorder chaining (see the module)."""

    application_recorder_class = ChainingSQLiteRecorder

    def application_recorder(self) -> ApplicationRecorder:
        recorder = super().application_recorder()
        if isinstance(recorder, ChainingSQLiteRecorder):
            recorder.chain_log = self.env.get(CHAIN_LOG) or None
            recorder.chain_file = self.env.get(CHAIN_FILE) or None
            self._chaining = recorder
        return recorder

    def close(self) -> None:
        chaining: ChainingSQLiteRecorder | None = getattr(self, "_chaining", None)
        if chaining is not None:
            chaining.close_chain()
        super().close()


def is_chaining(recorder: object) -> bool:
    return isinstance(recorder, ChainingPostgresRecorder | ChainingSQLiteRecorder)


def set_chaining(recorder: object, log_name: str | None) -> None:
    """Turns a store's chaining on (naming its log) or off (None)."""
    if isinstance(recorder, ChainingPostgresRecorder | ChainingSQLiteRecorder):
        recorder.chain_log = log_name
