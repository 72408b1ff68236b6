"""The store read as `crm record verify` reads it, straight from a real table: given a log and
its stored chain, untouched or changed in each of the ways the careful walk must name, when it
is checked in batches read by SQLite's packing or by PostgreSQL's binary `COPY`, then the result
is the careful walk's — the same finding, count, head, pending events and anchored hashes — and
a row not as the store writes it makes its batch not agree."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Protocol

import psycopg
import pytest

from consumers.record_verify import _SQLITE_BATCH, _sqlite_packed, pg_framed
from projections.record_chain import (
    GENESIS,
    Entry,
    Framed,
    Packed,
    PackedEntries,
    chain_framed,
    extend,
)
from projections.record_check import agreeing, check_chain, check_chain_in_batches
from tests.unit.projections.test_record_check import Event, chained, log_of
from tests.unit.projections.test_record_check_batches import CHANGES, Lists, same

TABLE = "stored_events"


class Store(Protocol):
    def fill(self, events: list[Event]) -> None: ...
    def batch(self, after: int, upto: int, limit: int) -> Packed | Framed: ...
    def execute(self, sql: str) -> None: ...


class SQLiteStore:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(
            f"CREATE TABLE {TABLE} (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB)"
        )

    def fill(self, events: list[Event]) -> None:
        self.db.execute(f"DELETE FROM {TABLE}")
        self.db.executemany(
            f"INSERT INTO {TABLE} (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?, ?)",
            [(e.id, e.originator_id.hex, e.originator_version, e.topic, e.state) for e in events],
        )

    def batch(self, after: int, upto: int, limit: int) -> Packed:
        row = self.db.execute(_SQLITE_BATCH.format(table=TABLE), (after, upto, limit)).fetchone()
        return _sqlite_packed(tuple(row))

    def execute(self, sql: str) -> None:
        self.db.execute(sql.format(t=TABLE, id="rowid"))


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            f"CREATE TABLE {TABLE} (notification_id bigint PRIMARY KEY, originator_id uuid, "
            "originator_version bigint, topic text, state bytea)"
        )

    def fill(self, events: list[Event]) -> None:
        self.conn.execute(f"TRUNCATE {TABLE}")
        with self.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s)",
                [(e.id, e.originator_id, e.originator_version, e.topic, e.state) for e in events],
            )

    def batch(self, after: int, upto: int, limit: int) -> Framed:
        return pg_framed(self.conn, TABLE, after, upto, limit)

    def execute(self, sql: str) -> None:
        self.conn.execute(sql.format(t=TABLE, id="notification_id").encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def table(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "sqlite":
        lite = SQLiteStore()
        yield lite
        lite.db.close()
    else:
        pg = PostgresStore(request.getfixturevalue("pg_url"))
        yield pg
        pg.conn.close()


class Read(Lists):
    """A log's store read from `table` as the verification reads it, its stored chain in the
    form the chain's database gives it (PostgreSQL: positions as 8 bytes each)."""

    def __init__(self, table: Store, events: list[Event], entries: list[Entry]) -> None:
        super().__init__(events, entries)
        self.table = table
        table.fill(events)

    def batch(self, after: int, upto: int, limit: int) -> Packed | Framed:  # type: ignore[override]
        return self.table.batch(after, upto, limit)

    def entries(self, after: int, upto: int) -> PackedEntries:
        found = super().entries(after, upto)
        if isinstance(self.table, SQLiteStore):
            return found
        positions = [c.position for c in self.entries_ if after < c.position <= upto]
        links = b"".join(p.to_bytes(8, "big") for p in positions)
        return PackedEntries(
            count=found.count, positions="", links=links, digests=found.digests, hashes=found.hashes
        )


def test_batches_read_from_the_store_find_what_the_careful_walk_finds(table: Store) -> None:
    for change in CHANGES:
        for batch in (1, 3, 7, 1000):
            events = log_of(20)
            head, entries = chained(events[:18])  # two events not chained yet: pending
            change(events, entries)
            anchored = frozenset({4, 12, 18})
            careful = check_chain("requests", iter(events), iter(entries), head, anchored)
            source = Read(table, events, entries)
            fast = check_chain_in_batches("requests", source, head, anchored, batch)
            same(fast, careful)
            assert (careful.finding is None) == (change.__name__ == "untouched")
            if careful.finding is None:
                assert source.walked == 0, "an untouched log is never walked event by event"


def test_a_batch_read_from_the_store_hashes_as_the_chain_does(table: Store) -> None:
    events = log_of(9)
    table.fill(events)
    _, entries = chained(events)
    read = table.batch(0, 2**62, 100)
    assert (read.count, read.last) == (9, 9)
    second = table.batch(4, 2**62, 3)
    assert (second.count, second.last) == (3, 7)
    assert table.batch(9, 2**62, 100).count == 0
    source = Read(table, events, entries)
    hashes = agreeing(GENESIS["requests"], read, source.entries(0, 9))
    assert hashes is not None and hashes.hex() == "".join(e.hash for e in entries)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {t} SET topic = NULL WHERE {id} = 3",
        "UPDATE {t} SET state = NULL WHERE {id} = 3",
        "UPDATE {t} SET originator_version = NULL WHERE {id} = 3",
        "UPDATE {t} SET originator_version = -1 WHERE {id} = 3",
        "UPDATE {t} SET originator_id = NULL WHERE {id} = 3",
    ],
    ids=["no-topic", "no-state", "no-version", "negative-version", "no-id"],
)
def test_a_row_not_as_the_store_writes_it_makes_the_batch_not_agree(table: Store, sql: str) -> None:
    events = log_of(5)
    _, rows = extend(chained([])[0], events)
    table.fill(events)
    table.execute(sql)
    read = table.batch(0, 2**62, 100)
    found = agreeing(
        GENESIS["requests"], read, Read(table, events, chained(events)[1]).entries(0, 5)
    )
    assert found is None or found.hex() != "".join(str(r["hash"]) for r in rows)
    if isinstance(read, Framed):
        assert chain_framed(GENESIS["requests"], read) is None


@pytest.mark.postgres
def test_a_copy_stream_not_as_postgresql_sends_it_is_never_taken_as_agreeing(pg_url: str) -> None:
    pg = PostgresStore(pg_url)
    try:
        events = log_of(4)
        pg.fill(events)
        read = pg.batch(0, 2**62, 100)
        assert chain_framed(b"\0" * 32, read) is not None
        s = read.stream
        for stream, count in [
            (s, 3),  # the count is not the frames'
            (s[:-2], 4),  # no trailer
            (b"X" + s[1:], 4),  # not the signature
            (s[:-12] + s[-2:], 4),  # the last frame cut short
            (s[:-2] + b"\x00\x01\x00\x00\x00\x01x" + s[-2:], 4),  # a frame too short
        ]:
            assert chain_framed(b"\0" * 32, Framed(count=count, last=4, stream=stream)) is None
    finally:
        pg.conn.close()
