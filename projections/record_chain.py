"""The tamper-evident record: a hash chain over each event log, in store order.

Two logs are chained, each on its own: `requests` (the service requests' event store) and
`directory` (staff users and customers). Each entry covers one event exactly as stored — its
aggregate id, version, topic and the stored bytes (sealed personal fields are ciphertext there,
so erasing a customer, which destroys a key and changes no stored byte, never breaks it):

    digest_i = SHA-256(aggregate id (16 bytes) ‖ version (8 bytes) ‖ topic ‖ 0x00 ‖ state)
    hash_i   = SHA-256(hash_(i-1) ‖ position (8 bytes) ‖ digest_i),   hash_0 = GENESIS[log]

The position is in the link and not in the digest, so an event moved to another position is
still recognised (reordered) rather than taken for a new one.

Each log's head (position, event count, head hash) is kept in `record_chain_heads`, and the
chain is only ever extended from that head: a truncated or altered chain is never refilled.
A log's chain starts (its head row is written at position 0) only while it has no entry at
all; an existing chain whose head row is gone is left alone, and `crm record verify` reports it.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import sqlalchemy as sa

from projections.base import insert_ignoring_duplicates
from projections.tables import create_tables

LOGS: tuple[str, ...] = ("requests", "directory")
GENESIS: dict[str, bytes] = {
    log: hashlib.sha256(f"councilcrm record chain v1: {log}".encode()).digest() for log in LOGS
}
PAGE = 5000


class StoredEventInput(Protocol):
    """An event about to be stored (no position yet)."""

    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


class StoredEvent(StoredEventInput, Protocol):
    """An event as the store holds it (the `eventsourcing` library's notification): the
    same, with its position."""

    @property
    def id(self) -> int: ...


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _id(value: UUID | str) -> bytes:
    """An aggregate id's 16 bytes, from a UUID or its text (text needs no `UUID` made)."""
    return value.bytes if isinstance(value, UUID) else id_bytes(value)


def digest(event: StoredEventInput, raw_id: bytes | None = None) -> bytes:
    """The event's digest (`raw_id`: its aggregate id's 16 bytes, when known already)."""
    h = hashlib.sha256(_id(event.originator_id) if raw_id is None else raw_id)
    h.update(event.originator_version.to_bytes(8, "big"))
    h.update(event.topic.encode())
    h.update(b"\0")
    h.update(event.state)
    return h.digest()


def link(previous: bytes, position: int, event_digest: bytes) -> bytes:
    return hashlib.sha256(previous + position.to_bytes(8, "big") + event_digest).digest()


# A stored event as the fast verification reads it: position, originator id (its 16 bytes, or
# its text as SQLite keeps it), version, topic, the stored bytes.
Row = tuple[int, bytes | memoryview | str, int, str, bytes | memoryview]


@dataclass(frozen=True, kw_only=True)
class Packed:
    """A batch of stored events as the database hands it over, in one row: every field of
    every event concatenated, in position order, with as few Python objects per event as the
    database allows.

    `data` holds each event's piece of the digest's input and `lengths` their lengths
    (decimal, comma-separated). With `heads`, a piece is the topic's end (a zero byte) and the
    stored bytes, after the event's head (aggregate id, version, topic); without, it is the
    digest's whole input. `links` holds each position, 8 bytes big-endian; `positions` the
    positions as text, as the stored chain's are read, so that the two compare as text.
    `sound` is False when some event's fields cannot be packed exactly as `digest` reads
    them (then the careful walk decides)."""

    count: int
    last: int  # the last position in the batch (0 when empty)
    positions: str
    links: bytes
    lengths: str
    data: bytes | memoryview
    heads: Sequence[bytes] | None = None
    sound: bool = True


@dataclass(frozen=True, kw_only=True)
class PackedEntries:
    """A batch of the stored chain in one row: positions as `Packed`, digests and hashes as
    one hex string each, in position order."""

    count: int
    positions: str
    digests: str
    hashes: str


def pack(rows: Sequence[Row], whole: bool = False) -> Packed:
    """`rows` packed as a database packs them (for other stores, and to test the packing)."""
    heads, data, lengths = [], bytearray(), []
    for _, originator, version, topic, state in rows:
        head = id_bytes(originator) + version.to_bytes(8, "big") + topic.encode()
        piece = b"\0" + bytes(state)
        if whole:
            piece = head + piece
        else:
            heads.append(head)
        data += piece
        lengths.append(str(len(piece)))
    return Packed(
        count=len(rows),
        last=rows[-1][0] if rows else 0,
        positions=",".join(str(r[0]) for r in rows),
        links=b"".join(r[0].to_bytes(8, "big") for r in rows),
        lengths=",".join(lengths),
        data=bytes(data),
        heads=None if whole else heads,
    )


def chain_packed(previous: bytes, batch: Packed) -> tuple[bytes, bytes] | None:
    """Each packed event's digest and its hash chained after `previous`, each concatenated
    (32 bytes per event): `digest` and `link` of every event, written out for speed (a
    verification hashes the whole log). None when the batch is not sound or its parts do not
    add up."""
    n, links, data, heads = batch.count, batch.links, memoryview(batch.data), batch.heads
    if not batch.sound or len(links) != 8 * n or (heads is not None and len(heads) != n):
        return None
    try:
        lengths = [int(x) for x in batch.lengths.split(",")] if n else []
    except ValueError:
        return None
    if len(lengths) != n or sum(lengths) != len(data):
        return None
    sha = hashlib.sha256
    digests, hashes = [], []
    at = end = 0
    if heads is None:
        for length in lengths:
            start, end = end, end + length
            d = sha(data[start:end]).digest()
            previous = sha(previous + links[at : at + 8] + d).digest()
            digests.append(d)
            hashes.append(previous)
            at += 8
    else:
        for head, length in zip(heads, lengths, strict=True):
            start, end = end, end + length
            h = sha(head)
            h.update(data[start:end])
            d = h.digest()
            previous = sha(previous + links[at : at + 8] + d).digest()
            digests.append(d)
            hashes.append(previous)
            at += 8
    return b"".join(digests), b"".join(hashes)


def id_bytes(text: bytes | memoryview | str) -> bytes:
    """A UUID's 16 bytes from its text (with or without hyphens), as `UUID(text).bytes`."""
    if not isinstance(text, str):
        return bytes(text)  # a driver's buffer of the 16 bytes
    digits = text.replace("-", "")
    try:
        found = bytes.fromhex(digits)
    except ValueError:
        found = b""
    # 32 characters making 16 bytes are 32 hex digits (`fromhex` skips only whitespace)
    return found if len(digits) == 32 and len(found) == 16 else _uuid(text).bytes


@dataclass(frozen=True, kw_only=True)
class Head:
    """Where a log's chain ends: its last chained position, how many entries, the last hash."""

    log: str
    position: int
    event_count: int
    head_hash: str


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One stored chain entry (hex digests)."""

    position: int
    originator_id: str
    version: int
    digest: str
    hash: str

    @property
    def identity(self) -> tuple[str, int]:
        return (self.originator_id, self.version)


def identity(event: StoredEvent) -> tuple[str, int]:
    return (_uuid(event.originator_id).hex, event.originator_version)


def extend(head: Head, events: Iterable[StoredEvent]) -> tuple[Head, list[dict[str, object]]]:
    """The new head and the entry rows for `events` (those after the head, in order)."""
    previous, count, position = bytes.fromhex(head.head_hash), head.event_count, head.position
    rows: list[dict[str, object]] = []
    for event in events:
        if event.id <= position:
            continue
        raw_id = _id(event.originator_id)
        d = digest(event, raw_id)
        previous = link(previous, event.id, d)
        position, count = event.id, count + 1
        rows.append(
            {
                "log": head.log,
                "position": position,
                "originator_id": raw_id.hex(),
                "version": event.originator_version,
                "digest": d.hex(),
                "hash": previous.hex(),
            }
        )
    new = Head(log=head.log, position=position, event_count=count, head_hash=previous.hex())
    return new, rows


def chained_insert(events_table: str, event_type: str, id_type: str, one: bool = False) -> str:
    """PostgreSQL: the one statement that stores a command's events and chains them in the
    same statement, run where the event store would run its own insert (after its table
    lock), in psycopg's placeholders: `events` (the store's composite rows, as its own insert
    takes them), `log`, `count`, then per event in the order given `ids` (the originator ids,
    as the store keeps them), `hexes` (their hex, as the chain keeps them), `versions` and
    `digests` (`digest`, 32 bytes). It returns the events' positions in the order given, as
    the store's own insert does. `one`: the lighter statement for a single event, with no
    recursion and scalar parameters (`log`, `digest`, `hex`, `version`, `digest_hex`).

    The events are inserted exactly as the store inserts them. Their entries are appended and
    the log's head moved only if the head is exactly at the store's last position before the
    first of them, no entry is at that position or past it (one probe of the key), and the
    head is not being moved by another transaction (`SKIP LOCKED`: it never waits for a
    follower); otherwise only the events are stored and the follower chains them as before.
    The chain's part cannot fail on a head that moved, so it never fails the command. The
    links are `link`'s, computed by the server from the head's hash; `crm record verify`
    recomputes every one of them from the store itself. `events_table`, `event_type` (the
    store's composite type) and `id_type` are quoted identifiers."""
    insert = (
        "WITH RECURSIVE ins AS (INSERT INTO "
        f"{events_table} AS t (originator_id, originator_version, topic, state) "
        "SELECT originator_id, originator_version, topic, state "
        f"FROM unnest(%(events)s::{event_type}[]) "
        "RETURNING t.notification_id, t.originator_id, t.originator_version), "
    )
    # the head, if the events follow it: scalar subqueries, so each probe is one index lookup
    head = (
        "h AS (SELECT x.log, x.position, x.event_count, x.head_hash "
        "FROM record_chain_heads AS x WHERE x.log = %(log)s "
        "AND x.position = (SELECT coalesce(max(s.notification_id), 0) "
        f"FROM {events_table} AS s WHERE s.notification_id < (SELECT first FROM f)) "
        "AND NOT EXISTS (SELECT 1 FROM record_chain AS r WHERE r.log = %(log)s "
        "AND r.position >= (SELECT first FROM f)) FOR UPDATE SKIP LOCKED), "
    )
    if one:  # the position is the one inserted row's: no recursion, no matching
        return (
            insert + "h AS (SELECT x.log, x.position, x.head_hash FROM record_chain_heads AS x "
            "WHERE x.log = %(log)s AND x.position = (SELECT coalesce(max(s.notification_id), 0) "
            f"FROM {events_table} AS s WHERE s.notification_id < "
            "(SELECT notification_id FROM ins)) AND NOT EXISTS (SELECT 1 FROM record_chain AS r "
            "WHERE r.log = %(log)s AND r.position >= (SELECT notification_id FROM ins)) "
            "FOR UPDATE SKIP LOCKED), "
            "moved AS (UPDATE record_chain_heads AS m SET position = i.notification_id, "
            "event_count = m.event_count + 1, head_hash = encode(sha256(decode(h.head_hash, "
            "'hex') || int8send(i.notification_id) || %(digest)s::bytea), 'hex') FROM h, ins AS i "
            "WHERE m.log = h.log AND m.position = h.position AND m.head_hash = h.head_hash "
            "RETURNING m.position, m.head_hash), "
            "added AS (INSERT INTO record_chain (log, position, originator_id, version, digest, "
            "hash) SELECT %(log)s, position, %(hex)s::text, %(version)s::bigint, "
            "%(digest_hex)s::text, head_hash "
            "FROM moved RETURNING 1) "
            "SELECT notification_id FROM ins"
        )
    return (
        insert + "e(position, originator_id, version, digest, i) AS (SELECT ins.notification_id, "
        "d.hex, d.version, d.digest, row_number() OVER (ORDER BY ins.notification_id) "
        f"FROM ins JOIN unnest(%(ids)s::{id_type}[], %(hexes)s::text[], "
        "%(versions)s::bigint[], %(digests)s::bytea[]) AS d(id, hex, version, digest) "
        "ON ins.originator_id = d.id AND ins.originator_version = d.version), "
        "f AS (SELECT min(position) AS first, max(position) AS last, count(*) AS n FROM e), "
        + head
        + "c(i, hash) AS (SELECT 0::bigint, decode(h.head_hash, 'hex') FROM h "
        "WHERE (SELECT n FROM f) = %(count)s UNION ALL "
        "SELECT e.i, sha256(c.hash || int8send(e.position) || e.digest) FROM c "
        "JOIN e ON e.i = c.i + 1), "
        "moved AS (UPDATE record_chain_heads AS m SET position = (SELECT last FROM f), "
        "event_count = h.event_count + %(count)s, head_hash = (SELECT encode(c.hash, 'hex') "
        "FROM c WHERE c.i = %(count)s) FROM h WHERE m.log = h.log AND m.position = h.position "
        "AND m.head_hash = h.head_hash AND EXISTS (SELECT 1 FROM c WHERE c.i = %(count)s) "
        "RETURNING m.log), "
        "added AS (INSERT INTO record_chain (log, position, originator_id, version, digest, "
        "hash) SELECT %(log)s, e.position, e.originator_id, e.version, "
        "encode(e.digest, 'hex'), encode(c.hash, 'hex') FROM e JOIN c ON c.i = e.i "
        "WHERE EXISTS (SELECT 1 FROM moved) RETURNING 1) "
        "SELECT notification_id FROM ins ORDER BY notification_id"
    )


def chained_insert_params(log: str, events: Sequence[StoredEventInput]) -> dict[str, object]:
    """`chained_insert`'s chain parameters for `events` (in the order given, at least one; for
    one event, those of its form for one); the caller adds `events`, the store's own rows."""
    if len(events) == 1:
        (event,) = events
        found = digest(event)
        return {
            "log": log,
            "digest": found,
            "hex": _uuid(event.originator_id).hex,
            "version": event.originator_version,
            "digest_hex": found.hex(),
        }
    return {
        "log": log,
        "count": len(events),
        "ids": [e.originator_id for e in events],
        "hexes": [_uuid(e.originator_id).hex for e in events],
        "versions": [e.originator_version for e in events],
        "digests": [digest(e) for e in events],
    }


_BIND = re.compile(r"(?<!:):(\w+)")  # SQLAlchemy's `:name` in a text, not a `::type` cast


def prepared(conn: sa.Connection, name: str, text: str, names: Sequence[str]) -> str:
    """PostgreSQL: `text` (SQLAlchemy's `:name` parameters, `names` in order) prepared on this
    connection under `name` the first time (the server then plans it once, not per run), and
    the driver's statement that executes it with those parameters by name. A connection that
    is replaced (the pool drops a broken one) prepares it again."""
    done: set[str] = conn.connection.info.setdefault("record_chain_prepared", set())
    if name not in done:
        at = {n: i for i, n in enumerate(names, 1)}
        body = _BIND.sub(lambda m: f"${at[m[1]]}" if m[1] in at else m[0], text)
        conn.exec_driver_sql(f"PREPARE {name} AS {body}")
        done.add(name)
    return f"EXECUTE {name}(" + ", ".join(f"%({n})s" for n in names) + ")"


_EXTEND_NAMES = (
    "m_log",
    "m_old",
    "m_position",
    "m_count",
    "m_hash",
    "e_log",
    "e_position",
    "e_originator_id",
    "e_version",
    "e_digest",
    "e_hash",
)


class RecordChain:
    """The chain's tables (in the read-model database) and the operations on them."""

    name = "record_chain"

    def __init__(self) -> None:
        self.metadata = sa.MetaData()
        self.entries = sa.Table(
            "record_chain",
            self.metadata,
            sa.Column("log", sa.String(16), primary_key=True),
            sa.Column("position", sa.BigInteger, primary_key=True),
            sa.Column("originator_id", sa.String(32), nullable=False),
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
        )
        self.heads = sa.Table(
            "record_chain_heads",
            self.metadata,
            sa.Column("log", sa.String(16), primary_key=True),
            sa.Column("position", sa.BigInteger, nullable=False),
            sa.Column("event_count", sa.BigInteger, nullable=False),
            sa.Column("head_hash", sa.String(64), nullable=False),
        )

        # The statements a catch-up runs after every command, built once: SQLAlchemy then
        # reuses each one's cache key instead of working it out again per call.
        h, e = self.heads, self.entries
        self._lock_sqlite = sa.update(h).where(sa.false()).values(position=0)
        self._lock_pg = sa.text("SELECT pg_advisory_xact_lock(:k)")
        self._head = sa.select(h).where(h.c.log == sa.bindparam("log"))
        self._heads = sa.select(h)
        self._insert = self.insert_entries = sa.insert(e)
        self._moves: dict[tuple[str, ...], sa.Update] = {}  # by the logs moved, built once
        self._move_head = (
            sa.update(h)
            .where(h.c.log == sa.bindparam("head_log"))
            .values(
                position=sa.bindparam("new_position"),
                event_count=sa.bindparam("new_count"),
                head_hash=sa.bindparam("new_hash"),
            )
        )

        # Heads moved and entries added in one statement: an entry is inserted only if its
        # log's head moved (from where it was read); the logs moved are returned.
        self._extend_at_once = sa.text(
            "WITH moved AS (UPDATE record_chain_heads AS h SET position = m.position, "
            "event_count = m.event_count, head_hash = m.head_hash FROM unnest("
            "CAST(:m_log AS text[]), CAST(:m_old AS bigint[]), CAST(:m_position AS bigint[]), "
            "CAST(:m_count AS bigint[]), CAST(:m_hash AS text[])) "
            "AS m(log, old, position, event_count, head_hash) "
            "WHERE h.log = m.log AND h.position = m.old RETURNING h.log), "
            "added AS (INSERT INTO record_chain (log, position, originator_id, version, digest, "
            "hash) SELECT * FROM unnest(CAST(:e_log AS text[]), CAST(:e_position AS bigint[]), "
            "CAST(:e_originator_id AS text[]), CAST(:e_version AS bigint[]), "
            "CAST(:e_digest AS text[]), CAST(:e_hash AS text[])) AS e(log, position, "
            "originator_id, version, digest, hash) WHERE e.log IN (SELECT log FROM moved) "
            "AND set_config('synchronous_commit', 'off', true) = 'off' RETURNING 1) "
            "SELECT log FROM moved WHERE (SELECT count(*) FROM added) >= 0"
        )

    def create(self, engine: sa.Engine) -> None:
        create_tables(self.metadata, engine)

    def lock(self, conn: sa.Connection) -> None:
        """Serialises extensions of the chain across processes until the transaction ends."""
        if conn.dialect.name == "postgresql":
            conn.execute(self._lock_pg, {"k": zlib.crc32(b"councilcrm.record-chain")})
        else:
            conn.execute(self._lock_sqlite)

    def head(self, conn: sa.Connection, log: str) -> Head | None:
        row = conn.execute(self._head, {"log": log}).first()
        return (
            None
            if row is None
            else Head(
                log=log, position=row.position, event_count=row.event_count, head_hash=row.head_hash
            )
        )

    def heads_by_log(self, conn: sa.Connection) -> dict[str, Head]:
        return {
            r.log: Head(
                log=r.log, position=r.position, event_count=r.event_count, head_hash=r.head_hash
            )
            for r in conn.execute(self._heads)
        }

    def has_entries(self, conn: sa.Connection, log: str) -> bool:
        q = sa.select(self.entries.c.position).where(self.entries.c.log == log).limit(1)
        return conn.execute(q).first() is not None

    def start(self, conn: sa.Connection, log: str) -> Head:
        """Writes the head of a chain that has not begun (call under `lock`)."""
        head = Head(log=log, position=0, event_count=0, head_hash=GENESIS[log].hex())
        insert_ignoring_duplicates(
            conn,
            self.heads,
            [{"log": log, "position": 0, "event_count": 0, "head_hash": head.head_hash}],
        )
        return head

    def append(self, conn: sa.Connection, head: Head, events: Sequence[StoredEvent]) -> Head:
        """Chains `events` after `head` (call under `lock`, with the head read under it)."""
        new, rows = extend(head, events)
        if rows:
            conn.execute(self._insert, rows)
            conn.execute(
                self._move_head,
                {
                    "head_log": head.log,
                    "new_position": new.position,
                    "new_count": new.event_count,
                    "new_hash": new.head_hash,
                },
            )
        return new

    def move_heads(self, conn: sa.Connection, old: Sequence[Head], new: Sequence[Head]) -> int:
        """Moves each log's head from `old` to `new` in one statement, each only if it is still
        where `old` says; returns how many moved (fewer than given: another follower moved one,
        and the caller must roll back)."""
        key = tuple(h.log for h in new)
        statement = self._moves.get(key)
        if statement is None:
            h = self.heads

            def case(column: str) -> sa.Case[object]:
                return sa.case(
                    *((h.c.log == log, sa.bindparam(f"{column}_{i}")) for i, log in enumerate(key))
                )

            statement = self._moves[key] = (
                sa.update(h)
                .where(
                    sa.or_(
                        *(
                            sa.and_(h.c.log == log, h.c.position == sa.bindparam(f"old_{i}"))
                            for i, log in enumerate(key)
                        )
                    )
                )
                .values(position=case("p"), event_count=case("n"), head_hash=case("h"))
            )
        params: dict[str, object] = {}
        for i, (was, head) in enumerate(zip(old, new, strict=True)):
            params |= {
                f"old_{i}": was.position,
                f"p_{i}": head.position,
                f"n_{i}": head.event_count,
                f"h_{i}": head.head_hash,
            }
        return conn.execute(statement, params).rowcount

    def extend_at_once(
        self,
        conn: sa.Connection,
        old: Sequence[Head],
        new: Sequence[Head],
        rows: Sequence[Mapping[str, object]],
    ) -> set[str]:
        """PostgreSQL: moves each log's head from `old` to `new` if it is still where `old`
        says, and inserts the entry `rows` of the logs whose head moved, in one statement (so
        in one transaction, even outside a transaction block); returns the logs moved. An
        entry's position already taken fails the whole statement (`IntegrityError`). It is
        prepared on the connection (`prepared`) and run through the driver as it is: planned
        once per connection, and none of SQLAlchemy's work per run.

        The statement's transaction does not wait for the WAL flush at commit: the chain is
        derived from events already durable in the store, so a crash can only lose its newest
        entries, which the next catch-up chains again, identically, from the durable head."""
        columns = ("log", "position", "originator_id", "version", "digest", "hash")
        statement = prepared(conn, "record_chain_extend", self._extend_at_once.text, _EXTEND_NAMES)
        found = conn.exec_driver_sql(
            statement,
            {
                "m_log": [h.log for h in new],
                "m_old": [h.position for h in old],
                "m_position": [h.position for h in new],
                "m_count": [h.event_count for h in new],
                "m_hash": [h.head_hash for h in new],
                **{f"e_{c}": [r[c] for r in rows] for c in columns},
            },
        )
        return {r[0] for r in found}

    def packed(self, conn: sa.Connection, log: str, after: int, upto: int) -> PackedEntries:
        """The log's entries after `after` up to `upto` in one row (see `PackedEntries`)."""
        if conn.dialect.name == "postgresql":
            q = (  # the aggregates take the rows in the order the inner query sorts them
                "SELECT count(*), string_agg(position::text, ','), string_agg(digest, ''), "
                "string_agg(hash, '') FROM (SELECT position, digest, hash FROM record_chain "
                "WHERE log = :log AND position > :a AND position <= :u ORDER BY position) AS s"
            )
        else:  # SQLite: likewise
            q = (
                "SELECT count(*), group_concat(position), group_concat(digest, ''), "
                "group_concat(hash, '') FROM (SELECT position, digest, hash FROM record_chain "
                "WHERE log = :log AND position > :a AND position <= :u ORDER BY position)"
            )
        row = conn.execute(sa.text(q), {"log": log, "a": after, "u": upto}).one()
        return PackedEntries(
            count=int(row[0]), positions=row[1] or "", digests=row[2] or "", hashes=row[3] or ""
        )

    def read(self, conn: sa.Connection, log: str, after: int = 0) -> Iterator[Entry]:
        """The log's entries in position order, page by page."""
        t = self.entries
        while True:
            q = (
                sa.select(t)
                .where(t.c.log == log, t.c.position > after)
                .order_by(t.c.position)
                .limit(PAGE)
            )
            page = [
                Entry(
                    position=r.position,
                    originator_id=r.originator_id,
                    version=r.version,
                    digest=r.digest,
                    hash=r.hash,
                )
                for r in conn.execute(q)
            ]
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].position
