"""The store read as `crm record verify` reads it, straight from a real table: given a log and
its stored chain, untouched or changed in each of the ways the careful walk must name, when it
is checked in batches packed by SQLite or by PostgreSQL as the verification reads them, then the
result is the careful walk's — the same finding, count, head, pending events and anchored hashes — and
a row not as the store writes it makes its batch unsound, never agreeing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Protocol

import psycopg
import pytest

from consumers.record_verify import _SQLITE_BATCH, _sqlite_packed, pg_packed
from projections.record_chain import GENESIS, Entry, Packed, chain_packed
from projections.record_check import agreeing, check_chain, check_chain_in_batches
from tests.unit.projections.test_record_check import Event, chained, log_of
from tests.unit.projections.test_record_check_batches import CHANGES, Lists, same

TABLE = "stored_events"


class Store(Protocol):
    def fill(self, events: list[Event]) -> None: ...
    def batch(self, after: int, upto: int, limit: int) -> Packed: ...
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

    def batch(self, after: int, upto: int, limit: int) -> Packed:
        return pg_packed(self.conn, TABLE, after, upto, limit)

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
    """A log's store read from `table` as the verification reads it."""

    def __init__(self, table: Store, events: list[Event], entries: list[Entry]) -> None:
        super().__init__(events, entries)
        self.table = table
        table.fill(events)

    def batch(self, after: int, upto: int, limit: int) -> Packed:
        return self.table.batch(after, upto, limit)


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
    assert (second.positions, table.batch(9, 2**62, 100).count) == ("5,6,7", 0)
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
    source = Read(table, events, chained(events)[1])
    table.execute(sql)
    read = table.batch(0, 2**62, 100)
    assert not read.sound and chain_packed(GENESIS["requests"], read) is None
    assert agreeing(GENESIS["requests"], read, source.entries(0, 5)) is None
