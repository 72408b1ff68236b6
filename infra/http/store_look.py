"""One round trip on the event loop, for a held answer on PostgreSQL.

A held work queue (`queue_front`) is answered after the route's caller check and a look at the
change mark. On PostgreSQL each of those reads is a round trip to the database server; made on
a worker thread, a read also waits for the hop there and back, and behind the other threads.
Here all are read by ONE statement — the caller's token as it stands (its expiry, unless revoked),
the acting user's last stored version (their directory events) and the request store's head
(`views.change_mark` on the embedded default) — through a
few psycopg `AsyncConnection`s of this module's own, awaited on the event loop, so a held read
needs no worker thread. The check itself is the route's own (`auth.api_caller` given what was
read, `HeldUsers.as_read`); whatever it does not hold as read (`NotHeld`), and a failed read, is
asked again the ordinary way.

Every connection carries the statement timeout and TCP keepalives of every other connection
(`pg_connections.guarded`); when one fails, it and those idle are closed, and the next read
opens a fresh one. Only on PostgreSQL with the embedded default (on the Kafka path the change
mark is the read models' positions: the ordinary way there).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg import sql

from infra.credentials import TOKENS, digest
from infra.pg_connections import guarded
from infra.runtime import Runtime

CONNECTIONS = 8  # at most this many statements at once; more readers wait their turn (async)
CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "councilcrm-store-look"  # as the database server lists its connections
log = structlog.get_logger("councilcrm.http")


@dataclass(frozen=True)
class Looked:
    """What one round trip read, all as of one instant: the caller's token's expiry (None: no
    such token, or revoked), the last stored version of `user` (None: no events, no such
    user) and the change mark (`views.change_mark`)."""

    token_expires_at: datetime | None
    user: UUID
    user_version: int | None
    mark: int


def _table(recorder: object) -> sql.Composed:
    if not isinstance(recorder, PostgresAggregateRecorder):
        raise TypeError(f"not a PostgreSQL event store: {type(recorder).__name__}")
    schema = recorder.datastore.schema
    return sql.SQL("{}.{}").format(
        sql.Identifier(schema), sql.Identifier(recorder.events_table_name)
    )


class StoreLook:
    """A few async connections reading `Looked` in one statement each."""

    def __init__(
        self,
        conninfo: str,
        users_table: sql.Composed,
        requests_table: sql.Composed,
        connections: int = CONNECTIONS,
    ) -> None:
        self._conninfo, self._size = conninfo, connections
        self._statement = sql.SQL(
            "SELECT (SELECT expires_at FROM {tokens} WHERE digest = %s AND revoked_at IS NULL),"
            " (SELECT originator_version FROM {users} WHERE originator_id = %s"
            " ORDER BY originator_version DESC LIMIT 1),"
            " COALESCE((SELECT MAX(notification_id) FROM {requests}), 0)"
        ).format(tokens=sql.Identifier(TOKENS.name), users=users_table, requests=requests_table)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._turns = asyncio.Semaphore(connections)
        self.opened = 0  # connections opened so far (a lost one is replaced by a new one)

    @classmethod
    def of(cls, rt: Runtime) -> StoreLook | None:
        """For `rt`'s stores, when on PostgreSQL with the embedded default; else None."""
        url = rt.settings.database_url
        if url is None or rt.settings.kafka_bootstrap is not None:
            return None
        conninfo = "postgresql://" + url.split("://", 1)[1]
        return cls(conninfo, _table(rt.directory.recorder), _table(rt.app.recorder))

    async def open(self) -> None:
        """Opens the connections now, so that no reader waits for one; one that cannot be
        opened now is opened by the first read that needs it."""
        opened = await asyncio.gather(
            *(self._connect() for _ in range(self._size - len(self._idle))),
            return_exceptions=True,
        )
        for conn in opened:
            if isinstance(conn, psycopg.AsyncConnection):
                self._idle.append(conn)
            else:
                log.warning("store_look_unavailable", error=type(conn).__name__)

    async def read(self, token: str, user: UUID) -> Looked:
        """The token's expiry, `user`'s last stored version and the change mark, in one round
        trip; a psycopg error if the database cannot be reached (the connection is dropped)."""
        async with self._turns:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                cursor = await conn.execute(self._statement, (digest(token), user), prepare=True)
                row = await cursor.fetchone()
            except BaseException:  # lost, timed out or cancelled mid-statement: never reused,
                await conn.close()  # nor those idle meanwhile (most likely lost too: opened
                await self.close()  # again as reads need them)
                raise
            self._idle.append(conn)
        assert row is not None
        expires = None if row[0] is None else row[0].replace(tzinfo=UTC)  # stored as UTC
        return Looked(token_expires_at=expires, user=user, user_version=row[1], mark=int(row[2]))

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        options: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
        }
        guarded(options)  # the statement timeout and TCP keepalives
        conn = await psycopg.AsyncConnection.connect(self._conninfo, **options)
        self.opened += 1
        return conn

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


@asynccontextmanager
async def store_look(rt: Runtime) -> AsyncIterator[StoreLook | None]:
    """`StoreLook.of(rt)` while the app serves, its connections closed afterwards."""
    look = StoreLook.of(rt)
    if look is not None:
        await look.open()
    try:
        yield look
    finally:
        if look is not None:
            await look.close()
