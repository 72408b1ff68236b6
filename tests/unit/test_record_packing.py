"""SQLite's packing of a batch for the fast verification: given a store table like the event
store's, when a batch is read packed, then it hashes exactly as the events' digests and links
do, with ids as the library's recorder writes them (32 hex digits) or in canonical form — and a
row whose fields are not as the store writes them (an id in neither form or the two forms
mixed, a field missing, a topic that would split) makes the batch unsound, never misread."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from uuid import UUID, uuid5

import pytest

from consumers.record_verify import _SQLITE_BATCH, _sqlite_packed
from projections.record_chain import GENESIS, Packed, chain_packed, extend, pack
from tests.unit.projections.test_record_check import Event, chained, log_of

TABLE = "stored_events"


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        f"CREATE TABLE {TABLE} (originator_id TEXT, originator_version INTEGER, topic TEXT, "
        "state BLOB)"
    )
    yield conn
    conn.close()


def store(db: sqlite3.Connection, events: list[Event], ids: str = "canonical") -> None:
    def text(u: UUID) -> str:
        return u.hex if ids == "hex" else str(u)

    db.executemany(
        f"INSERT INTO {TABLE} (rowid, originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?, ?)",
        [(e.id, text(e.originator_id), e.originator_version, e.topic, e.state) for e in events],
    )


def read(db: sqlite3.Connection, after: int = 0, limit: int = 100) -> Packed:
    row = db.execute(_SQLITE_BATCH.format(table=TABLE), (after, 2**62, limit)).fetchone()
    return _sqlite_packed(tuple(row))


@pytest.mark.parametrize("ids", ["hex", "canonical"])
def test_a_packed_batch_hashes_as_the_chain_does(db: sqlite3.Connection, ids: str) -> None:
    events = log_of(9)
    events[4] = Event(5, uuid5(UUID(int=1), "é"), 1, "councilcrm:Noté", b"\x00\xff\x01 bytes")
    store(db, events, ids)
    _, entries = chained(events)
    found = chain_packed(GENESIS["requests"], read(db))
    assert found is not None
    assert found[0].hex() == "".join(e.digest for e in entries)
    assert found[1].hex() == "".join(e.hash for e in entries)
    second = read(db, after=4, limit=3)
    assert (second.count, second.last, second.positions) == (3, 7, "5,6,7")
    assert read(db, after=9).count == 0


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {t} SET originator_id = replace(originator_id, '-', '') WHERE rowid = 3",
        "UPDATE {t} SET originator_id = '{{' || originator_id || '}}' WHERE rowid = 3",
        (
            "UPDATE {t} SET originator_id = substr(originator_id, 1, 7) || '-' || "
            "substr(originator_id, 8, 1) || substr(originator_id, 10) WHERE rowid = 3"
        ),
        "UPDATE {t} SET originator_id = substr(originator_id, 1, 35) || 'g' WHERE rowid = 3",
        "UPDATE {t} SET topic = NULL WHERE rowid = 3",
        "UPDATE {t} SET state = NULL WHERE rowid = 3",
        "UPDATE {t} SET originator_version = NULL WHERE rowid = 3",
        "UPDATE {t} SET originator_version = -1 WHERE rowid = 3",
        "UPDATE {t} SET topic = topic || char(1) || 'x' WHERE rowid = 3",
    ],
    ids=[
        "id-forms-mixed",
        "id-in-braces",
        "hyphen-moved",
        "not-hex",
        "no-topic",
        "no-state",
        "no-version",
        "negative-version",
        "topic-with-separator",
    ],
)
def test_a_row_not_as_the_store_writes_it_makes_the_batch_not_agree(
    db: sqlite3.Connection, sql: str
) -> None:
    events = log_of(5)
    store(db, events)
    _, rows = extend(chained([])[0], events)
    db.execute(sql.format(t=TABLE))
    found = chain_packed(GENESIS["requests"], read(db))
    assert found is None or found[1].hex() != "".join(str(r["hash"]) for r in rows)


def test_the_pure_packing_and_sqlites_give_the_same_hashes(db: sqlite3.Connection) -> None:
    events = log_of(6)
    store(db, events)
    rows = [(e.id, str(e.originator_id), e.originator_version, e.topic, e.state) for e in events]
    assert chain_packed(b"\0" * 32, read(db)) == chain_packed(b"\0" * 32, pack(rows, True))
