"""The library's PostgreSQL application recorder with its statements rendered once.

`eventsourcing`'s recorder keeps its statements as psycopg `Composed` objects (identifiers
quoted at run time) and builds the select statements anew on every call, so each command paid
for rendering the same SQL text again (the table lock, the `NOTIFY`, the insert, the read of
the request's newer events) before psycopg could look up its prepared statement. Here every
statement is rendered to bytes once — the same text the library sends — and the variants of
the two selects are kept by their shape; what is sent, its parameters and its preparation are
the library's, so behaviour is unchanged (a test holds the texts equal to the library's).

One statement fewer per insert: the library sends `SET LOCAL lock_timeout`, `LOCK TABLE` and
`NOTIFY` one by one before its insert; here the lock's timeout and the notification go in one
`SELECT set_config('lock_timeout', …, true), pg_notify(channel, '')` — what `SET LOCAL` and a
`NOTIFY` without payload do — then the same `LOCK TABLE`. A notification is delivered at the
commit, wherever in the transaction it was asked for, so every inserting transaction still
notifies exactly when it commits (a test listens for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier, Literal

from infra import command_claims
from projections import tables


def rendered(statement: object) -> bytes:
    """The statement's text as psycopg sends it (identifiers quoted without a connection, as
    the library's are: plain names, UTF-8)."""
    if isinstance(statement, bytes):
        return statement
    if isinstance(statement, str):
        return statement.encode()
    if isinstance(statement, Composable):
        return statement.as_bytes(None)
    raise TypeError(f"not a statement to render: {statement!r}")


class PrerenderedPostgresRecorder(PostgresApplicationRecorder):
    """`PostgresApplicationRecorder`, sending the same statements rendered once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        # The library's attributes, their text in place of their `Composed` (psycopg sends
        # either; the library only executes them).
        this: Any = self
        this.insert_events_statement = rendered(self.insert_events_statement)
        this.lock_table_statements = [rendered(s) for s in self.lock_table_statements]
        this.max_notification_id_statement = rendered(self.max_notification_id_statement)
        # the library's `SET LOCAL lock_timeout` and `NOTIFY` in one statement (see above)
        self.timeout_and_notify_statement = rendered(
            SQL("SELECT set_config('lock_timeout', {0}, true), pg_notify({1}, '')").format(
                Literal(f"{self.datastore.lock_timeout}s"), Literal(self.channel_name)
            )
        )
        self.lock_statement = rendered(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(self._table))
        self._selects: dict[tuple[bool, bool, bool, bool], bytes] = {}
        self._notification_selects: dict[tuple[bool, bool, bool, bool], bytes] = {}
        claims = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(command_claims.TABLE)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (claim text PRIMARY KEY, "
                "recorded_at timestamptz NOT NULL DEFAULT now())"
            ).format(claims)
        )
        self.record_claim_statement = rendered(
            SQL("INSERT INTO {0} (claim) VALUES (%s) ON CONFLICT DO NOTHING").format(claims)
        )
        self.claim_recorded_statement = rendered(
            SQL("SELECT 1 FROM {0} WHERE claim = %s").format(claims)
        )

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        """The library's tables, created under the lock every creation of our tables takes
        (`projections.tables`): stores starting together on a fresh database never fail on
        each other's `CREATE TABLE IF NOT EXISTS`, which is not safe against a concurrent one."""
        curs.execute(tables.LOCK_STATEMENT.encode())
        super()._create_table(curs)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """In the events' own transaction, before them: the claim they are stored under, if
        any (`infra.command_claims`)."""
        claim = command_claims.current()
        if claim is not None and stored_events:
            curs.execute(self.record_claim_statement, (claim,), prepare=True)

    def claim_recorded(self, claim: str) -> bool:
        """Whether events were stored under `claim` (committed)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.claim_recorded_statement, (claim,))
            return curs.fetchone() is not None

    def _lock_table(self, curs: Cursor[DictRow]) -> None:
        """The library's table lock with its timeout, and the store's notification (see the
        module's note): two statements where the library sends three."""
        curs.execute(self.timeout_and_notify_statement, prepare=True)
        curs.execute(self.lock_statement, prepare=True)

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        """Nothing more: `_lock_table`, which every insert runs first, asked for it."""

    def select_events_statement_for(self, *, gt: bool, lte: bool, desc: bool, limit: bool) -> bytes:
        """The library's `select_events` statement for this shape of call, rendered once."""
        shape = (gt, lte, desc, limit)
        found = self._selects.get(shape)
        if found is None:
            statement = SQL("SELECT * FROM {0} WHERE originator_id = %s").format(self._table)
            if gt:
                statement += SQL(" AND originator_version > %s")
            if lte:
                statement += SQL(" AND originator_version <= %s")
            statement += SQL(" ORDER BY originator_version")
            statement += SQL(" DESC") if desc else SQL(" ASC")
            if limit:
                statement += SQL(" LIMIT %s")
            found = self._selects[shape] = rendered(statement)
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        statement = self.select_events_statement_for(
            gt=gt is not None, lte=lte is not None, desc=desc, limit=limit is not None
        )
        params = [p for p in (originator_id, gt, lte, limit) if p is not None]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def select_notifications_statement_for(
        self, *, start: bool, inclusive: bool, stop: bool, topics: bool
    ) -> bytes:
        """The library's `select_notifications` statement for this shape of call, rendered
        once."""
        shape = (start, inclusive, stop, topics)
        found = self._notification_selects.get(shape)
        if found is None:
            statement = SQL("SELECT * FROM {0}").format(self._table)
            conditions = []
            if start:
                conditions.append(" notification_id>=%s" if inclusive else " notification_id>%s")
            if stop:
                conditions.append(" notification_id <= %s")
            if topics:
                conditions.append(" topic = ANY(%s)")
            if conditions:
                statement += SQL(" WHERE" + " AND".join(conditions))
            statement += SQL(" ORDER BY notification_id LIMIT %s")
            found = self._notification_selects[shape] = rendered(statement)
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        params: list[int | str | Sequence[str]] = []
        if start is not None:
            params.append(start)
        if stop is not None:
            params.append(stop)
        if topics:
            assert isinstance(topics, tuple | list), topics
            topics = list(topics)
            assert all(isinstance(t, str) for t in topics), topics
            params.append(topics)
        params.append(limit)
        statement = self.select_notifications_statement_for(
            start=start is not None,
            inclusive=inclusive_of_start,
            stop=stop is not None,
            topics=bool(topics),
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]
