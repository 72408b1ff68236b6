"""One holder at a time, across processes and hosts: the relay's leader lock.

On PostgreSQL the lock is a session advisory lock held on a connection of its own (autocommit,
so it never sits idle in a transaction). The server releases it when that session ends: at once
for a process that dies, and for a host that vanishes once the connection's TCP keepalives give
up (`infra.runtime.make_engine` sets them). The holder checks its connection before each batch
(`held`), and steps down when it is gone. On SQLite (one host) it is an exclusive `flock` on a
file beside the database, which the kernel releases when the process dies.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
import structlog

log = structlog.get_logger("leader")


def send_raw(conn: sa.Connection, sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Sends one statement on `conn`'s driver connection itself, its result unread: no
    SQLAlchemy execution around it (no context, no result object; ~50 µs of Python fewer than
    `exec_driver_sql`, and it runs once or twice per relayed batch). A driver error is raised
    as SQLAlchemy's `DBAPIError`, as `exec_driver_sql` would."""
    driver = conn.connection.dbapi_connection
    if driver is None:
        raise sa.exc.ResourceClosedError("the connection was invalidated")
    try:
        cursor = driver.cursor()
        try:
            cursor.execute(sql, params)
        finally:
            cursor.close()
    except conn.dialect.loaded_dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(
            sql, params, error, conn.dialect.loaded_dbapi.Error
        ) from error


class LeaderLock:
    """`try_acquire()` → True when this process now holds the lock named `name`."""

    def __init__(self, engine: sa.Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.key = zlib.crc32(f"councilcrm.leader.{name}".encode())
        self._conn: sa.Connection | None = None
        self._file: IO[bytes] | None = None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if self.held():
            return True
        if not self.is_postgres:
            return self._try_flock()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    @property
    def session(self) -> sa.Connection | None:
        """The lock's own connection while held on PostgreSQL (autocommit; None otherwise): a
        holder may send its own single statements on it (the relay its checkpoint)."""
        return self._conn

    def held(self) -> bool:
        """True while the lock is still this process's (its session answers)."""
        if not self.is_postgres:
            return self._file is not None
        if self._conn is None:
            return False
        try:
            send_raw(self._conn, "SELECT 1")  # on the driver itself: the cheapest answer
            return True
        except sa.exc.SQLAlchemyError as error:
            log.warning("leader_lock_lost", name=self.name, error=str(error)[:300])
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except sa.exc.SQLAlchemyError:
                pass  # the session is gone: so is the lock
            self._drop()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except sa.exc.SQLAlchemyError:
                pass

    def _try_flock(self) -> bool:
        database = self.engine.url.database or "memory"
        path = Path(f"{database}.{self.name.replace('/', '_')}.leader")
        handle = open(path, "ab")  # noqa: SIM115 - held open while leading
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        os.set_inheritable(handle.fileno(), False)
        self._file = handle
        return True
