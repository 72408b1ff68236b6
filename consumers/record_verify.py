"""`crm record verify`'s reading: recomputes each log's chain from the event store and checks
it against the stored chain, the audit record and any anchors (already signature-checked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row

from consumers.follower import SOURCE
from consumers.record_follower import Logs
from consumers.store_reader import StoreReader
from projections.audit_record import AuditRecord
from projections.envelope import Envelope
from projections.record_chain import PAGE, Entry, Packed, PackedEntries, RecordChain, pack
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

PackReader = Callable[[int, int, int], Packed]  # (after, upto, limit) → stored events, packed
Counter = Callable[[int], int]  # position → how many stored events after it


class _Source:
    """One log's store and stored chain, as the fast verification reads them."""

    def __init__(
        self,
        app: Application[UUID],
        reading: tuple[PackReader, Counter],
        chain: RecordChain,
        conn: sa.Connection,
        log: str,
    ) -> None:
        self.app, (self.read_batch, self.count) = app, reading
        self.chain, self.conn, self.log = chain, conn, log

    def batch(self, after: int, upto: int, limit: int) -> Packed:
        return self.read_batch(after, upto, limit)

    def count_after(self, position: int) -> int:
        return self.count(position)

    def entries(self, after: int, upto: int) -> PackedEntries:
        return self.chain.packed(self.conn, self.log, after, upto)

    def store(self, after: int) -> Iterator[Notification]:
        return stored_events(self.app, after)

    def chain_from(self, after: int) -> Iterator[Entry]:
        return self.chain.read(self.conn, self.log, after)


# SQLite hands over each column of the batch concatenated; the heads are made here, with a
# Python object per event (SQLite 3.40 cannot turn an aggregate id's text into its bytes). A
# field missing (NULL) leaves its column short, which makes the batch not add up.
_SQLITE_BATCH = """
SELECT count(*), max(rowid), group_concat(rowid), group_concat(originator_id, ''),
  group_concat(originator_version), group_concat(topic, char(1)),
  group_concat(1 + length(state)), CAST(group_concat(x'00' || state, '') AS BLOB),
  count(originator_id) + count(originator_version) + count(topic) + count(state)
FROM (SELECT rowid, originator_id, originator_version, topic, state FROM {table}
      WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?)
"""


def _sqlite_packed(row: tuple[Any, ...]) -> Packed:
    """A batch as `_SQLITE_BATCH` reads it. Every aggregate id must be a UUID as 32 hex digits
    (as the library's recorder writes it) or as its canonical text (36 characters, hyphens in
    their places), else the batch is not sound."""
    n, last, positions, ids, versions, topics, lengths, data, fields = row
    if not n:
        return Packed(count=0, last=0, positions="", links=b"", lengths="", data=b"", heads=[])
    try:
        sound = fields == 4 * n
        if len(ids) == 32 * n:  # the library's SQLite recorder writes a UUID's 32 hex digits
            raw_ids = bytes.fromhex(ids) if sound else b""
        else:  # or its canonical text, hyphens in their places
            sound = sound and len(ids) == 36 * n
            sound = sound and all(ids[k::36] == "-" * n for k in (8, 13, 18, 23))
            raw_ids = bytes.fromhex(ids.replace("-", "")) if sound else b""
        by_version: dict[str, bytes] = {}
        by_topic: dict[str, bytes] = {}
        heads = []
        split_topics = topics.split("\x01")
        split_versions = versions.split(",")
        sound = sound and len(raw_ids) == 16 * n and len(split_topics) == len(split_versions) == n
        if sound:
            at = 0
            for v, t in zip(split_versions, split_topics, strict=True):
                vb = by_version.get(v)
                if vb is None:
                    vb = by_version[v] = int(v).to_bytes(8, "big")
                tb = by_topic.get(t)
                if tb is None:
                    tb = by_topic[t] = t.encode()
                heads.append(raw_ids[at : at + 16] + vb + tb)
                at += 16
        links = b"".join(int(p).to_bytes(8, "big") for p in positions.split(","))
    except (ValueError, OverflowError, TypeError):  # not as the store writes them
        sound, heads, links = False, [], b""
    return Packed(
        count=n,
        last=last,
        positions=positions,
        links=links,
        lengths=lengths,
        data=data,
        heads=heads,
        sound=sound,
    )


# PostgreSQL hands over each event's whole digest input, read in binary. The aggregates take
# the rows in the order the inner query sorts them (an ORDER BY in each aggregate would sort
# the batch once per aggregate): all of them in the same order, whatever it is, so a batch
# out of position order only fails to agree with the stored chain and is walked carefully.
_PG_BATCH = """
SELECT count(*), max(n), string_agg(n::text, ','), string_agg(int8send(n), ''::bytea),
  string_agg(octet_length(piece)::text, ','), string_agg(piece, ''::bytea),
  coalesce(bool_and(piece IS NOT NULL AND v >= 0), true)
FROM (SELECT notification_id AS n, originator_version AS v,
             uuid_send(originator_id) || int8send(originator_version)
             || convert_to(topic, 'UTF8') || '\\x00'::bytea || state AS piece
      FROM {table} WHERE notification_id > %(a)s AND notification_id <= %(u)s
      ORDER BY notification_id LIMIT %(n)s) AS s
"""


def pg_packed(
    conn: psycopg.Connection[Any], table: str, after: int, upto: int, limit: int
) -> Packed:
    """At most `limit` events of the store's `table` (a quoted name) after `after` up to
    `upto`, packed by PostgreSQL in one row (`_PG_BATCH`), read in binary."""
    with conn.cursor(row_factory=tuple_row) as c:
        c.execute(_PG_BATCH.format(table=table), {"a": after, "u": upto, "n": limit}, binary=True)
        found = c.fetchone()
    assert found is not None
    n, last, positions, links, lengths, data, sound = found
    return Packed(
        count=n,
        last=last or 0,
        positions=positions or "",
        links=links or b"",
        lengths=lengths or "",
        data=data or b"",
        sound=sound,
    )


@contextmanager
def store_reading(
    app: Application[UUID], engine: sa.Engine
) -> Iterator[tuple[PackReader, Counter]]:
    """Reads the store exactly as stored, a position range at a time, straight from its table
    and packed by the database in one row per batch (`Packed`): SQLite and PostgreSQL through
    the store's own connections (PostgreSQL in binary). Another kind of store is read through
    its recorder and packed here."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        table = recorder.events_table_name
        select = _SQLITE_BATCH.format(table=table)
        count = f"SELECT count(*) FROM {table} WHERE rowid > ?"

        def sqlite_batch(after: int, upto: int, limit: int) -> Packed:
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(select, (after, upto, limit))
                row = tuple(c.fetchone())
            return _sqlite_packed(row)

        def sqlite_count(after: int) -> int:
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(count, (after,))
                return int(c.fetchone()[0])

        yield sqlite_batch, sqlite_count
    elif isinstance(recorder, PostgresApplicationRecorder):
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        count = f"SELECT count(*) AS n FROM {table} WHERE notification_id > %(a)s"
        datastore = recorder.datastore

        def pg_batch(after: int, upto: int, limit: int) -> Packed:
            with datastore.get_connection() as conn:
                return pg_packed(conn, table, after, upto, limit)

        def pg_count(after: int) -> int:
            with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
                c.execute(count, {"a": after})
                found = c.fetchone()
            return int(found[0]) if found else 0

        yield pg_batch, pg_count
    else:

        def any_batch(after: int, upto: int, limit: int) -> Packed:
            return pack(
                [
                    (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                    for n in recorder.select_notifications(
                        start=after, stop=upto, limit=limit, inclusive_of_start=False
                    )
                ]
            )

        def any_count(after: int) -> int:
            return sum(1 for _ in stored_events(app, after))

        yield any_batch, any_count


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
    """The audit record's rows in position order, a page at a time, each a dict made from the
    row's values at once (the statement built once)."""
    q = sa.select(t).where(t.c.position > sa.bindparam("after")).order_by(t.c.position)
    q = q.limit(AUDIT_PAGE)
    names = tuple(c.name for c in t.columns)
    after = -1
    while True:
        page = [dict(zip(names, row, strict=True)) for row in conn.execute(q, {"after": after})]
        yield from page
        if len(page) < AUDIT_PAGE:
            return
        after = page[-1]["position"]


AUDIT_PAGE = 20_000
