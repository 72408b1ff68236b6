"""Waking the relay when the event store commits, instead of only on a timer.

On PostgreSQL the store's recorder sends `NOTIFY <its table>` in every transaction that inserts
events (the `eventsourcing` library does this itself); the server delivers it at the commit.
`StoreWakeup` listens on a connection of its own (autocommit, the store's connection settings:
statement timeout, keepalives), so a relay with nothing to publish waits until the next commit
rather than up to its whole idle interval: the wait a published event saw at low rates.

A notification is only a hint: the relay still reads from its checkpoint, and still looks
after `timeout_s` when none came (a missed or late notification delays, never loses). If the
connection fails, the wait falls back to the timer and the next wait connects again. On SQLite
(no NOTIFY) there is nothing to listen to: `for_recorder` returns None.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import structlog
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

log = structlog.get_logger("relay")

RECONNECT_S = 5.0  # after a failed connection, the timer alone for this long


class StoreWakeup:
    """`wait(stop, timeout_s)` returns when the store committed events since the last wait
    (or at once if it did meanwhile), when `timeout_s` passed, or when `stop` is set."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any], channel: str) -> None:
        self.conninfo = conninfo
        self.connect_kwargs = connect_kwargs
        self.channel = channel
        self._conn: psycopg.Connection[Any] | None = None
        self._failed_at = -RECONNECT_S
        self.wakeups = 0  # waits ended by a notification

    @classmethod
    def for_recorder(cls, recorder: object) -> StoreWakeup | None:
        """The wake-up of a PostgreSQL store's recorder; None for any other store."""
        if not isinstance(recorder, PostgresApplicationRecorder):
            return None
        pool = recorder.datastore.pool
        conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
        kwargs = dict((pool.kwargs() if callable(pool.kwargs) else pool.kwargs) or {})
        kwargs.setdefault("connect_timeout", 5)
        return cls(conninfo, kwargs, recorder.channel_name)

    def wait(self, stop: threading.Event, timeout_s: float) -> bool:
        """True if a notification ended the wait."""
        conn = self._listening()
        if conn is None:
            stop.wait(timeout_s)
            return False
        try:
            woken = any(True for _ in conn.notifies(timeout=timeout_s, stop_after=1))
            if woken:
                # the rest already queued: one read covers every commit they announce
                for _ in conn.notifies(timeout=0):
                    pass
                self.wakeups += 1
            return woken
        except psycopg.Error as error:
            log.warning("store_wakeup_lost", channel=self.channel, error=str(error)[:300])
            self.close()
            self._failed_at = time.monotonic()
            return False

    def _listening(self) -> psycopg.Connection[Any] | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if time.monotonic() - self._failed_at < RECONNECT_S:
            return None
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, **self.connect_kwargs)
            conn.execute(SQL("LISTEN {0}").format(Identifier(self.channel)))
        except psycopg.Error as error:
            log.warning("store_wakeup_unavailable", channel=self.channel, error=str(error)[:300])
            self._failed_at = time.monotonic()
            return None
        self._conn = conn
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass
