"""`crm record verify`'s reading: recomputes each log's chain from the event store and checks
it against the stored chain, the audit record and any anchors (already signature-checked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from consumers.follower import SOURCE
from consumers.record_follower import Logs
from consumers.store_reader import StoreReader
from projections.audit_record import AuditRecord
from projections.envelope import Envelope
from projections.record_chain import PAGE, Entry, RecordChain, Row
from projections.record_check import (
    AUDIT,
    Finding,
    LogCheck,
    check_anchor,
    check_audit,
    check_chain_in_batches,
)

Anchor = tuple[str, Mapping[str, Any]]  # (file name, verified manifest)


@dataclass(frozen=True)
class Verification:
    checks: dict[str, LogCheck]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def stored_events(app: Application[UUID], after: int = 0) -> Iterator[Notification]:
    """Every event of the store in position order, exactly as stored, page by page."""
    while True:
        page = app.recorder.select_notifications(start=after, limit=PAGE, inclusive_of_start=False)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


def verify(
    engine: sa.Engine,
    logs: Logs,
    anchors: Sequence[Anchor] = (),
    audit: tuple[sa.Engine, str] | None = None,
) -> Verification:
    """Checks every log's chain (in `engine`); with `audit` (the read-model database and the
    log the audit record is fed from), also that log's events against the audit record."""
    chain = RecordChain()
    chain.create(engine)
    checks: dict[str, LogCheck] = {}
    with engine.connect() as conn:
        for name, app in logs.items():
            wanted = frozenset(int(m["position"].get(name, 0)) for _, m in anchors)
            with store_reading(app, engine) as rows:
                checks[name] = check_chain_in_batches(
                    name, _Source(app, rows, chain, conn, name), chain.head(conn, name), wanted
                )
    findings = [c.finding for c in checks.values() if c.finding is not None]
    if audit is not None:
        found = _check_audit(audit[0], logs[audit[1]])
        findings += [found] if found else []
    for name, manifest in anchors:
        found = check_anchor(name, manifest, checks)
        findings += [found] if found else []
    return Verification(checks, findings)


# -- reading both in batches -----------------------------------------------------------------------

RowReader = Callable[[int, int, int], Sequence[Row]]  # (after, upto, limit) → stored events
Counter = Callable[[int], int]  # position → how many stored events after it


class _Source:
    """One log's store and stored chain, as the fast verification reads them."""

    def __init__(
        self,
        app: Application[UUID],
        reading: tuple[RowReader, Counter],
        chain: RecordChain,
        conn: sa.Connection,
        log: str,
    ) -> None:
        self.app, (self.read_rows, self.count) = app, reading
        self.chain, self.conn, self.log = chain, conn, log

    def rows(self, after: int, upto: int, limit: int) -> Sequence[Row]:
        return self.read_rows(after, upto, limit)

    def count_after(self, position: int) -> int:
        return self.count(position)

    def entries(self, after: int, upto: int) -> Sequence[tuple[int, str, str]]:
        return self.chain.between(self.conn, self.log, after, upto)

    def store(self, after: int) -> Iterator[Notification]:
        return stored_events(self.app, after)

    def chain_from(self, after: int) -> Iterator[Entry]:
        return self.chain.read(self.conn, self.log, after)


@contextmanager
def store_reading(app: Application[UUID], engine: sa.Engine) -> Iterator[tuple[RowReader, Counter]]:
    """Reads the store's rows exactly as stored, a position range at a time, straight from
    its table: SQLite through the store's own connection; PostgreSQL through `engine` when the
    store is in its database (psycopg2 reads faster than the store's psycopg), else through
    the store's own. Another kind of store is read through its recorder."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        table = recorder.events_table_name
        select = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        count = f"SELECT count(*) FROM {table} WHERE rowid > ?"

        def sqlite_rows(after: int, upto: int, limit: int) -> Sequence[Row]:
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(select, (after, upto, limit))
                return c.fetchall()  # type: ignore[no-any-return]

        def sqlite_count(after: int) -> int:
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(count, (after,))
                return int(c.fetchone()[0])

        yield sqlite_rows, sqlite_count
    elif isinstance(recorder, PostgresApplicationRecorder) and _same_database(recorder, engine):
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        select = (
            "SELECT notification_id, uuid_send(originator_id), originator_version, "
            f"topic, state FROM {table} WHERE notification_id > %(a)s "
            "AND notification_id <= %(u)s ORDER BY notification_id LIMIT %(n)s"
        )
        count = f"SELECT count(*) FROM {table} WHERE notification_id > %(a)s"
        with engine.connect() as conn:
            cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

            def pg_rows(after: int, upto: int, limit: int) -> Sequence[Row]:
                cursor.execute(select, {"a": after, "u": upto, "n": limit})
                found: Sequence[Row] = cursor.fetchall()
                return found

            def pg_count(after: int) -> int:
                cursor.execute(count, {"a": after})
                return int(cursor.fetchone()[0])

            try:
                yield pg_rows, pg_count
            finally:
                cursor.close()
                conn.rollback()
    else:

        def any_rows(after: int, upto: int, limit: int) -> Sequence[Row]:
            return [
                (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in recorder.select_notifications(
                    start=after, stop=upto, limit=limit, inclusive_of_start=False
                )
            ]

        def any_count(after: int) -> int:
            return sum(1 for _ in stored_events(app, after))

        yield any_rows, any_count


def _same_database(recorder: PostgresApplicationRecorder, engine: sa.Engine) -> bool:
    if engine.dialect.name != "postgresql":
        return False
    given: Any = recorder.datastore.pool.kwargs or {}
    url = engine.url
    return (given.get("dbname"), str(given.get("host")), str(given.get("port"))) == (
        url.database,
        str(url.host),
        str(url.port or 5432),
    )


def _check_audit(engine: sa.Engine, app: Application[UUID]) -> Finding | None:
    model = AuditRecord()
    model.create(engine)
    with engine.connect() as conn:
        t = model.table
        latest: dict[str, int] = {
            r[0]: r[1]
            for r in conn.execute(
                sa.select(t.c.request_id, sa.func.max(t.c.version)).group_by(t.c.request_id)
            )
        }
        try:
            return check_audit(
                _envelopes(StoreReader(app)),
                _audit_rows(conn, t),
                model.position(conn, SOURCE) or 0,
                latest,
            )
        except _Undecodable as bad:
            return Finding(
                log="requests",
                position=bad.position,
                kind="altered",
                source=AUDIT,
                detail="the stored event no longer decodes, so it cannot be what "
                "the audit record holds",
            )


class _Undecodable(Exception):
    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


def _envelopes(reader: StoreReader) -> Iterator[Envelope]:
    for n in stored_events(reader.app):
        try:
            yield reader.envelope(n)
        except Exception as error:
            raise _Undecodable(n.id) from error


def _audit_rows(conn: sa.Connection, t: sa.Table) -> Iterator[Mapping[str, Any]]:
    after = -1
    while True:
        q = sa.select(t).where(t.c.position > after).order_by(t.c.position).limit(PAGE)
        page = [dict(r._mapping) for r in conn.execute(q)]
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["position"]
