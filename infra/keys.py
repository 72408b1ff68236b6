"""Data keys kept apart from the events: sealing personal data, blind indexes, erasure.

- **Sealing.** Each customer (and each anonymous request) has its own 256-bit data key. A
  personal field is sealed with AES-256-GCM (`cryptography`), a fresh 96-bit nonce per value
  and the key id as associated data, into a token `sealed:v1:<key id>:<nonce+ciphertext>`
  (`domain.personal`). Only tokens reach the event store, Kafka, the read models and the
  notice outbox.
- **Erasure** destroys the key row: every token sealed with it, wherever it was copied, is
  unreadable for good (crypto-shredding). On SQLite the keys live in their own file,
  `keys.sqlite3`, with `secure_delete` on (a deleted key's bytes are overwritten, not left in
  free pages) and a rollback journal that is removed after each transaction; on PostgreSQL the
  key table is vacuumed after an erasure so no dead row keeps the key.
- **Blind indexes** let staff find a customer by phone, e-mail or name without decrypting the
  table: HMAC-SHA256 of the normalised value under the council's index key. An erasure drops
  the customer's index rows too. A new customer's key and index rows are written in one
  transaction, before the record; both are found from the customer's number, so an erasure
  reaches them even if the record is never saved.
- **Connections** are not pinged before each use: a read that meets a connection the server
  dropped runs once more on a fresh one; a write fails with one line (`KeyStoreUnavailable`).
- **Pseudonyms**: a stable, keyed id for a customer, for readers who may not see who they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.personal import PREFIX, is_sealed, key_of
from projections.base import UtcDateTime
from projections.tables import create_tables

T = TypeVar("T")


class KeyExists(ValueError):
    """A key that must be new exists already; it is left as it was."""


class KeyStoreUnavailable(ConnectionError):
    """The key store's connection was found dead mid-command (the command can be run again:
    anything a half-done registration left is reached by erasure, see `new_customer`)."""


def _lost(error: sa.exc.DBAPIError) -> str:
    cause = " ".join(str(error.orig).split()) or type(error.orig).__name__
    return f"the key store's connection was lost ({cause}): try again"


INDEX_NAMESPACE = uuid.UUID("9d3f4a3e-2a51-4f0f-8f39-0f3b0b2d6c11")

METADATA = sa.MetaData()
DATA_KEYS = sa.Table(
    "crm_data_keys",
    METADATA,
    sa.Column("key_id", sa.String(36), primary_key=True),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("key", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
BLIND_INDEX = sa.Table(
    "crm_customer_index",
    METADATA,
    sa.Column("council", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(16), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("customer", sa.String(32), primary_key=True),
)
ACCESS_LOG = sa.Table(
    "crm_access_log",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("via", sa.String(200), nullable=False),
    sa.Index("crm_access_log_by_customer", "council", "customer", "at"),
)


# `find`'s query, built once (every lodgement from a new customer runs it)
_FIND = (
    sa.select(BLIND_INDEX.c.customer)
    .where(
        BLIND_INDEX.c.council == sa.bindparam("council"),
        BLIND_INDEX.c.field == sa.bindparam("field"),
        BLIND_INDEX.c.digest == sa.bindparam("digest"),
    )
    .order_by(BLIND_INDEX.c.customer)
)


def normalise(field: str, value: str) -> str:
    """What a blind index compares: digits of a phone number, e-mail and names casefolded
    with their spaces collapsed."""
    if field == "phone":
        digits = re.sub(r"\D", "", value)
        return "0" + digits[2:] if digits.startswith("61") and len(digits) == 11 else digits
    return " ".join(value.split()).casefold()


_ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "
_INSERT_KEY = (
    "INSERT INTO crm_data_keys (key_id, council, key, created_at) "
    "VALUES (%(key_id)s, %(council)s, %(key)s, %(created_at)s)"
)


class KeyVault:
    """The data keys of one deployment, and what is done with them.

    On PostgreSQL, reads and the creation of a new key (with a new customer's index rows) each
    take one round trip: one statement sent on its own, outside any explicit transaction.
    With `lazy_new_keys`, a new key's commit does not wait for its WAL flush: only for a key
    table in the same PostgreSQL server as the event stores, where whatever is sealed under
    the new key is recorded afterwards by a commit that does wait, and so flushes the key's
    commit record first (the WAL is one sequence). A crash before that can lose only a key
    that nothing recorded uses. Destroying a key always waits for its flush."""

    def __init__(self, engine: sa.Engine, *, lazy_new_keys: bool = False) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self.lazy_new_keys = lazy_new_keys and self.is_postgres
        self._index_keys: dict[str, bytes] = {}
        create_tables(METADATA, engine)

    # -- keys --------------------------------------------------------------------------------

    def _key(self, key_id: uuid.UUID) -> bytes | None:
        q = sa.select(DATA_KEYS.c.key).where(DATA_KEYS.c.key_id == str(key_id))

        def read(conn: sa.Connection) -> bytes | None:
            found: bytes | None = conn.execute(q).scalar_one_or_none()
            return found

        return self._read(read)

    def _read(self, read: Callable[[sa.Connection], T]) -> T:
        """Runs a read; if the pooled connection turns out to be dead (the engine runs without
        a ping per checkout), once more on a fresh one, then a one-line `KeyStoreUnavailable`."""
        for attempt in (1, 2):
            try:
                with self.engine.connect() as conn:
                    if self.is_postgres:  # no BEGIN, so no ROLLBACK to send back afterwards
                        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    return read(conn)
            except sa.exc.DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                if attempt == 2:
                    raise KeyStoreUnavailable(_lost(error)) from None
        raise AssertionError("unreachable")

    @contextmanager
    def _writing(self, autocommit: bool = False) -> Iterator[sa.Connection]:
        """A key-store transaction (with `autocommit`, each statement sent is one); a dead
        connection is a one-line `KeyStoreUnavailable`."""
        try:
            if autocommit:
                with self.engine.connect() as conn:
                    yield conn.execution_options(isolation_level="AUTOCOMMIT")
                return
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.DBAPIError as error:
            if error.connection_invalidated:
                raise KeyStoreUnavailable(_lost(error)) from None
            raise

    def _insert_key(
        self, key_id: uuid.UUID, council: str, at: datetime, index_rows: list[dict[str, str]]
    ) -> bytes:
        """Inserts a new key, and `index_rows`, in one transaction; `KeyExists` (and nothing
        written) if the key exists already."""
        new = AESGCM.generate_key(bit_length=256)
        row = {"key_id": str(key_id), "council": council, "key": new, "created_at": at}
        try:
            if self.is_postgres:
                self._insert_key_in_one_trip(row, index_rows)
            else:
                with self._writing() as conn:
                    conn.execute(sa.insert(DATA_KEYS), row)
                    if index_rows:
                        conn.execute(self._insert_index(), index_rows)
        except sa.exc.IntegrityError:
            raise KeyExists(
                f"a data key {key_id} exists already: it is never overwritten"
            ) from None
        return new

    def _insert_key_in_one_trip(
        self, row: dict[str, Any], index_rows: list[dict[str, str]]
    ) -> None:
        """One statement (a data-modifying `WITH` when there are index rows), sent alone: its
        own transaction, and one round trip."""
        params = {**row, "created_at": row["created_at"].astimezone(UTC).replace(tzinfo=None)}
        sql = _INSERT_KEY
        if index_rows:
            values = ", ".join(
                f"(%(c{i})s, %(f{i})s, %(d{i})s, %(n{i})s)" for i in range(len(index_rows))
            )
            for i, r in enumerate(index_rows):
                params.update(
                    {
                        f"c{i}": r["council"],
                        f"f{i}": r["field"],
                        f"d{i}": r["digest"],
                        f"n{i}": r["customer"],
                    }
                )
            sql = (
                f"WITH new_key AS ({_INSERT_KEY}) "
                "INSERT INTO crm_customer_index (council, field, digest, customer) "
                f"VALUES {values} ON CONFLICT DO NOTHING"
            )
        if self.lazy_new_keys:
            sql = _ASYNC_COMMIT + sql  # one implicit transaction with the statement
        with self._writing(autocommit=True) as conn:
            conn.exec_driver_sql(sql, params)

    def ensure_key(
        self, key_id: uuid.UUID, council: str, at: datetime, *, new: bool = False
    ) -> bytes:
        """The key `key_id`, created if it does not exist yet. With `new`, the key must not
        exist (its id comes from a number never issued before): it is created without looking
        first, and `KeyExists` is raised — the existing key untouched — if it does."""
        if new:
            return self._insert_key(key_id, council, at, [])
        key = self._key(key_id)
        if key is not None:
            return key
        created = AESGCM.generate_key(bit_length=256)
        with self._writing() as conn:
            if self.is_postgres:
                stmt: Any = sa.dialects.postgresql.insert(DATA_KEYS).on_conflict_do_nothing()
            else:
                stmt = sa.dialects.sqlite.insert(DATA_KEYS).on_conflict_do_nothing()
            inserted = conn.execute(
                stmt, {"key_id": str(key_id), "council": council, "key": created, "created_at": at}
            ).rowcount
        if inserted == 1:
            return created  # ours: no need to read it back
        theirs = self._key(key_id)  # another process created it meanwhile: theirs
        assert theirs is not None
        return theirs

    def new_customer(
        self,
        key_id: uuid.UUID,
        council: str,
        customer: str,
        details: Mapping[str, str | None],
        at: datetime,
    ) -> Sealer:
        """A new customer's data key and their blind-index rows, in one transaction; the
        sealer of the key. `KeyExists` if the key exists already (nothing is written). The
        rows are keyed by the customer's number, so if the customer record is then never
        saved, `erase_unsaved` (and `unsaved`) still reach them."""
        key = self._insert_key(key_id, council, at, self._index_rows(council, customer, details))
        return Sealer(key_id, key)

    def destroy(self, key_id: uuid.UUID) -> bool:
        """Destroys the key for good; True if there was one. Idempotent."""
        with self._writing() as conn:
            gone = conn.execute(sa.delete(DATA_KEYS).where(DATA_KEYS.c.key_id == str(key_id)))
        self._index_keys.clear()  # an index key is never destroyed; if one were, forget it
        self._purge(DATA_KEYS)
        return bool(gone.rowcount)

    def _purge(self, table: sa.Table) -> None:
        """Leaves no copy of deleted rows in the database files."""
        if self.is_postgres:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text(f"VACUUM {table.name}"))

    # -- sealing -----------------------------------------------------------------------------

    def sealer(self, key_id: uuid.UUID, council: str, at: datetime, *, new: bool = False) -> Sealer:
        """Seals under the key `key_id`, created if needed; with `new`, a key that must not
        exist yet (no look first; `KeyExists` if it does)."""
        return Sealer(key_id, self.ensure_key(key_id, council, at, new=new))

    def opener(self) -> Opener:
        return Opener(self)

    # -- blind indexes -----------------------------------------------------------------------

    def _index_key(self, council: str) -> bytes:
        """The council's index key, read once per process: unlike a customer's data key it
        is never destroyed (an erasure drops the customer's index rows, not this key)."""
        key = self._index_keys.get(council)
        if key is None:
            key_id = uuid.uuid5(INDEX_NAMESPACE, council)
            key = self.ensure_key(key_id, council, datetime.now().astimezone())
            self._index_keys[council] = key
        return key

    def digest(self, council: str, field: str, value: str) -> str:
        mac = hmac.new(
            self._index_key(council), f"{field}:{normalise(field, value)}".encode(), hashlib.sha256
        )
        return mac.hexdigest()

    def _index_rows(
        self, council: str, customer: str, details: Mapping[str, str | None]
    ) -> list[dict[str, str]]:
        return [
            {
                "council": council,
                "field": f,
                "digest": self.digest(council, f, v),
                "customer": customer,
            }
            for f, v in details.items()
            if v and f in ("name", "phone", "email")
        ]

    def _insert_index(self) -> Any:
        dialect: Any = sa.dialects.postgresql if self.is_postgres else sa.dialects.sqlite
        return dialect.insert(BLIND_INDEX).on_conflict_do_nothing()

    def index(self, council: str, customer: str, details: Mapping[str, str | None]) -> None:
        """Indexes the customer's corrected details (name, phone, e-mail) for `find`, in place
        of what the index held for those fields: a replaced phone number no longer finds them."""
        rows = self._index_rows(council, customer, details)
        if rows:
            with self._writing() as conn:
                conn.execute(
                    sa.delete(BLIND_INDEX).where(
                        BLIND_INDEX.c.council == council,
                        BLIND_INDEX.c.customer == customer,
                        BLIND_INDEX.c.field.in_({r["field"] for r in rows}),
                    )
                )
                conn.execute(self._insert_index(), rows)

    def find(self, council: str, field: str, value: str) -> list[str]:
        """The numbers of the customers whose `field` equals `value` (normalised)."""
        params = {"council": council, "field": field, "digest": self.digest(council, field, value)}
        return self._read(lambda conn: [r for (r,) in conn.execute(_FIND, params)])

    def unindex(self, council: str, customer: str) -> None:
        with self._writing() as conn:
            conn.execute(
                sa.delete(BLIND_INDEX).where(
                    BLIND_INDEX.c.council == council, BLIND_INDEX.c.customer == customer
                )
            )
        self._purge(BLIND_INDEX)

    def holds(self, key_id: uuid.UUID, council: str, customer: str) -> bool:
        """True if the key `key_id` or any index row of the customer numbered `customer`
        exists."""
        q = sa.select(
            sa.or_(
                sa.exists().where(DATA_KEYS.c.key_id == str(key_id)),
                sa.exists().where(
                    BLIND_INDEX.c.council == council, BLIND_INDEX.c.customer == customer
                ),
            )
        )
        return bool(self._read(lambda conn: conn.execute(q).scalar_one()))

    def indexed(self, council: str) -> list[str]:
        """The numbers of the council's customers with rows in the blind index."""
        q = (
            sa.select(BLIND_INDEX.c.customer)
            .where(BLIND_INDEX.c.council == council)
            .distinct()
            .order_by(BLIND_INDEX.c.customer)
        )
        return self._read(lambda conn: [r for (r,) in conn.execute(q)])

    def created_at(self, key_id: uuid.UUID) -> datetime | None:
        """When the key `key_id` was created; None if there is none (never, or destroyed)."""
        q = sa.select(DATA_KEYS.c.created_at).where(DATA_KEYS.c.key_id == str(key_id))
        found: datetime | None = self._read(lambda conn: conn.execute(q).scalar_one_or_none())
        return found

    def pseudonym(self, council: str, customer: str) -> str:
        """A stable id for the customer that says nothing of who they are."""
        return "anon-" + self.digest(council, "pseudonym", customer)[:16]

    # -- the access log ----------------------------------------------------------------------

    def log_access(self, entries: Iterable[Mapping[str, Any]]) -> None:
        rows = list(entries)
        if rows:
            with self._writing() as conn:
                conn.execute(sa.insert(ACCESS_LOG), rows)

    def access_log(self, council: str, customer: str) -> list[dict[str, Any]]:
        q = (
            sa.select(ACCESS_LOG)
            .where(ACCESS_LOG.c.council == council, ACCESS_LOG.c.customer == customer)
            .order_by(ACCESS_LOG.c.at, ACCESS_LOG.c.id)
        )
        return self._read(lambda conn: [dict(r._mapping) for r in conn.execute(q)])


BYTES_PREFIX = b"crm-sealed-v1:"


def key_of_bytes(blob: bytes) -> uuid.UUID:
    """The id of the data key sealed bytes were sealed with; ValueError if not sealed."""
    if not blob.startswith(BYTES_PREFIX) or len(blob) < len(BYTES_PREFIX) + 36 + 12 + 16:
        raise ValueError("not sealed bytes")
    return uuid.UUID(blob[len(BYTES_PREFIX) : len(BYTES_PREFIX) + 36].decode("ascii"))


class Sealer:
    """Seals values under one data key."""

    def __init__(self, key_id: uuid.UUID, key: bytes) -> None:
        self.key_id = key_id
        self._aead = AESGCM(key)
        self._aad = str(key_id).encode()

    def seal(self, text: str | None) -> str | None:
        if text is None:
            return None
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode(), self._aad)
        return f"{PREFIX}{self.key_id}:{base64.urlsafe_b64encode(sealed).decode()}"

    def seal_bytes(self, data: bytes) -> bytes:
        """A file's content sealed like a field: `BYTES_PREFIX`, the key id, then the nonce
        and the authenticated ciphertext (the key id is its associated data)."""
        nonce = os.urandom(12)
        return (
            BYTES_PREFIX
            + str(self.key_id).encode()
            + nonce
            + self._aead.encrypt(nonce, data, self._aad)
        )


class Opener:
    """Opens tokens; remembers the keys it read, for one view (never longer: a key destroyed
    by an erasure must not live on in a long-running process)."""

    def __init__(self, vault: KeyVault) -> None:
        self.vault = vault
        self._keys: dict[uuid.UUID, AESGCM | None] = {}

    def _aead(self, key_id: uuid.UUID) -> AESGCM | None:
        if key_id not in self._keys:
            key = self.vault._key(key_id)
            self._keys[key_id] = AESGCM(key) if key is not None else None
        return self._keys[key_id]

    def open_bytes(self, blob: bytes) -> bytes | None:
        """The content `Sealer.seal_bytes` sealed, or None if its key was destroyed (erased);
        ValueError if the bytes were changed since (authentication fails)."""
        key_id = key_of_bytes(blob)
        aead = self._aead(key_id)
        if aead is None:
            return None
        start = len(BYTES_PREFIX) + 36
        try:
            return aead.decrypt(blob[start : start + 12], blob[start + 12 :], str(key_id).encode())
        except InvalidTag:
            raise ValueError(f"sealed bytes under key {key_id} fail authentication") from None

    def open(self, token: str) -> str | None:
        """The plain text, or None if the key was destroyed (the data is erased)."""
        if not is_sealed(token):
            raise ValueError("not a sealed token")
        key_id = key_of(token)
        aead = self._aead(key_id)
        if aead is None:
            return None
        raw = base64.urlsafe_b64decode(token[len(PREFIX) + 37 :])
        try:
            return aead.decrypt(raw[:12], raw[12:], str(key_id).encode()).decode()
        except InvalidTag:
            raise ValueError(f"a sealed value under key {key_id} fails authentication") from None
