"""Sign-in secrets: staff passwords, bearer tokens, Open311 API keys, residents' request tokens
and idempotency records.

Kept in the key store's database (beside the data keys, apart from the event log and the read
models), and only ever as a hash: a password as Argon2id (`argon2-cffi`, salted and slow on
purpose); a token or an API key — 256 random bits (a resident's request token 144), so a
fast hash is enough — as its SHA-256. A token or key is shown once, when it is made, and never
again. No row holds personal data: an idempotency record keeps the response of the first attempt
(a reference, a version) and a hash of its body.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from infra.held import NotHeld
from projections.base import UtcDateTime
from projections.tables import create_tables

METADATA = sa.MetaData()

PASSWORDS = sa.Table(
    "crm_passwords",
    METADATA,
    sa.Column("council", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("hash", sa.String(200), nullable=False),
    sa.Column("set_at", UtcDateTime, nullable=False),
    sa.Column("set_by", sa.String(128), nullable=False),
)

TOKENS = sa.Table(
    "crm_tokens",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("issued_by", sa.String(128), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index("crm_tokens_by_user", "council", "user_id"),
)

API_KEYS = sa.Table(
    "crm_api_keys",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index("crm_api_keys_by_name", "council", "name", unique=True),
)

IDEMPOTENCY = sa.Table(
    "crm_idempotency",
    METADATA,
    sa.Column("council", sa.String(64), primary_key=True),
    sa.Column("caller", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

REQUEST_TOKENS = sa.Table(
    "crm_request_tokens",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
)

TOKEN_PREFIX = "crm_"
API_KEY_PREFIX = "crmk_"
REQUEST_TOKEN_PREFIX = "crmr_"
MIN_PASSWORD = 12
BEARER_CACHE_SECONDS = 5.0  # how long this process trusts a valid token's check
_hasher = PasswordHasher()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Bearer:
    """Whose a valid token is."""

    council: str
    user_id: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    council: str
    name: str
    channel: str


class Credentials:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        create_tables(METADATA, engine)
        # a hash to verify against when the user has no password: as slow as a real one, so
        # the time taken does not tell who has an account
        self._decoy = _hasher.hash(secrets.token_urlsafe(16))
        self._bearers: dict[str, tuple[Bearer, float]] = {}
        self._bearer_lock = threading.Lock()

    # -- passwords ---------------------------------------------------------------------------

    def set_password(
        self, council: str, user_id: str, password: str, by: str, at: datetime
    ) -> None:
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
        row = {
            "council": council,
            "user_id": user_id,
            "hash": _hasher.hash(password),
            "set_at": at,
            "set_by": by,
        }
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(PASSWORDS).where(
                    PASSWORDS.c.council == council, PASSWORDS.c.user_id == user_id
                )
            )
            conn.execute(sa.insert(PASSWORDS), row)

    def check_password(self, council: str, user_id: str, password: str) -> bool:
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(PASSWORDS.c.hash).where(
                    PASSWORDS.c.council == council, PASSWORDS.c.user_id == user_id
                )
            ).scalar()
        try:
            return _hasher.verify(stored or self._decoy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    # -- bearer tokens -------------------------------------------------------------------------

    def issue_token(
        self, council: str, user_id: str, by: str, at: datetime, lifetime: timedelta
    ) -> tuple[str, datetime]:
        """A new token for the user (shown to the caller once) and when it expires."""
        if lifetime <= timedelta(0):
            raise ValueError("a token's lifetime must be positive")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = at + lifetime
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(TOKENS),
                {
                    "digest": digest(token),
                    "council": council,
                    "user_id": user_id,
                    "issued_at": at,
                    "issued_by": by,
                    "expires_at": expires,
                    "revoked_at": None,
                },
            )
        return token, expires

    def bearer(self, token: str, at: datetime) -> Bearer | None:
        """Whose `token` is, if it is one of ours, unexpired and not revoked. A valid token's
        check is kept for `BEARER_CACHE_SECONDS` in this process (a revocation made through
        this process takes effect at once; one made by another process within that time,
        except where the token's row is read with the rest: `bearer_as_read`)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        key = digest(token)
        with self._bearer_lock:
            held = self._bearers.get(key)
        if held is not None and time.monotonic() - held[1] < BEARER_CACHE_SECONDS:
            return held[0] if held[0].expires_at > at else None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(TOKENS).where(TOKENS.c.digest == key)).first()
        if row is None or row.revoked_at is not None or row.expires_at <= at:
            return None
        found = Bearer(council=row.council, user_id=row.user_id, expires_at=row.expires_at)
        with self._bearer_lock:
            if len(self._bearers) >= 10_000:
                self._bearers.clear()
            self._bearers[key] = (found, time.monotonic())
        return found

    def held_bearer(self, token: str) -> Bearer:
        """Whose `token` is, as a check in this process found it however long ago (a token's
        owner never changes): what a look at its row (`bearer_as_read`) is keyed by. `NotHeld`
        when no check of it is held."""
        with self._bearer_lock:
            held = self._bearers.get(digest(token))
        if held is None:
            raise NotHeld("this token was not checked here: read it")
        return held[0]

    def bearer_as_read(
        self, token: str, expires_at: datetime | None, at: datetime
    ) -> Bearer | None:
        """Whose `token` is given its row just read with the rest of a look (`expires_at`:
        None when the row is missing or revoked), so a revocation made anywhere takes effect
        at once; its check is held anew. `NotHeld` when no check of it is held."""
        key = digest(token)
        with self._bearer_lock:
            held = self._bearers.get(key)
        if held is None:
            raise NotHeld("this token was not checked here: read it")
        if expires_at is None or expires_at <= at:
            self._forget_bearers(key)
            return None
        found = Bearer(council=held[0].council, user_id=held[0].user_id, expires_at=expires_at)
        with self._bearer_lock:
            self._bearers[key] = (found, time.monotonic())
        return found

    def _forget_bearers(
        self, digest_of: str | None = None, user: tuple[str, str] | None = None
    ) -> None:
        with self._bearer_lock:
            if digest_of is not None:
                self._bearers.pop(digest_of, None)
            if user is not None:
                for key, (b, _) in list(self._bearers.items()):
                    if (b.council, b.user_id) == user:
                        del self._bearers[key]

    def revoke_token(self, token: str, at: datetime) -> bool:
        self._forget_bearers(digest(token))
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(TOKENS)
                .where(TOKENS.c.digest == digest(token), TOKENS.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        self._forget_bearers(digest(token))  # again: a check that ran meanwhile kept it
        return bool(done.rowcount)

    def revoke_tokens(self, council: str, user_id: str, at: datetime) -> int:
        """Revokes every live token of the user; how many."""
        self._forget_bearers(user=(council, user_id))
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(TOKENS)
                .where(
                    TOKENS.c.council == council,
                    TOKENS.c.user_id == user_id,
                    TOKENS.c.revoked_at.is_(None),
                    TOKENS.c.expires_at > at,
                )
                .values(revoked_at=at)
            )
        self._forget_bearers(user=(council, user_id))  # again: a check that ran meanwhile
        return int(done.rowcount)

    # -- API keys (Open311) ----------------------------------------------------------------------

    def add_api_key(self, council: str, name: str, channel: str, by: str, at: datetime) -> str:
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.select(API_KEYS.c.name).where(
                    API_KEYS.c.council == council, API_KEYS.c.name == name
                )
            ).first()
            if taken:
                raise ValueError(
                    f"an API key named {name!r} exists already (revoke it first, "
                    "or choose another name)"
                )
            conn.execute(
                sa.insert(API_KEYS),
                {
                    "digest": digest(key),
                    "council": council,
                    "name": name,
                    "channel": channel,
                    "created_at": at,
                    "created_by": by,
                    "revoked_at": None,
                },
            )
        return key

    def api_key(self, key: str) -> ApiKey | None:
        if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(API_KEYS).where(
                    API_KEYS.c.digest == digest(key), API_KEYS.c.revoked_at.is_(None)
                )
            ).first()
        return (
            None if row is None else ApiKey(council=row.council, name=row.name, channel=row.channel)
        )

    def api_keys(self, council: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    API_KEYS.c.name,
                    API_KEYS.c.channel,
                    API_KEYS.c.created_at,
                    API_KEYS.c.created_by,
                    API_KEYS.c.revoked_at,
                )
                .where(API_KEYS.c.council == council)
                .order_by(API_KEYS.c.created_at)
            )
            return [dict(r._mapping) for r in rows]

    def revoke_api_key(self, council: str, name: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(API_KEYS)
                .where(
                    API_KEYS.c.council == council,
                    API_KEYS.c.name == name,
                    API_KEYS.c.revoked_at.is_(None),
                )
                .values(revoked_at=at)
            )
        if not done.rowcount:
            raise KeyError(f"no live API key named {name!r} in council {council}")

    # -- residents' request tokens (Open311 `token`, the portal's tracking) -------------------

    def issue_request_token(self, council: str, reference: str, at: datetime) -> str:
        """A token for the resident who lodged `reference`, shown to them once."""
        token = REQUEST_TOKEN_PREFIX + secrets.token_urlsafe(18)
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(REQUEST_TOKENS),
                {
                    "digest": digest(token),
                    "council": council,
                    "reference": reference,
                    "issued_at": at,
                },
            )
        return token

    def request_of_token(self, council: str, token: str) -> str | None:
        """The reference `token` was issued for in `council`, if it is one of ours."""
        if not token.startswith(REQUEST_TOKEN_PREFIX) or len(token) > 100:
            return None
        with self.engine.connect() as conn:
            ref: str | None = conn.execute(
                sa.select(REQUEST_TOKENS.c.reference).where(
                    REQUEST_TOKENS.c.digest == digest(token), REQUEST_TOKENS.c.council == council
                )
            ).scalar()
        return ref

    # -- idempotency ---------------------------------------------------------------------------

    def begin(
        self, council: str, caller: str, key: str, body: bytes, at: datetime
    ) -> tuple[int, Any] | None:
        """Claims this caller's `key` for a new attempt (None: go ahead, then `finish` or
        `abandon`), or the first attempt's response to replay. `ValueError` if the key was used
        with a different body; `InProgress` while the first attempt is still running."""
        body_hash = hashlib.sha256(body).hexdigest()
        where = (
            IDEMPOTENCY.c.council == council,
            IDEMPOTENCY.c.caller == caller,
            IDEMPOTENCY.c.key == key,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(IDEMPOTENCY),
                    {
                        "council": council,
                        "caller": caller,
                        "key": key,
                        "body_hash": body_hash,
                        "status": 0,
                        "response": "null",
                        "created_at": at,
                    },
                )
            return None
        except sa.exc.IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(IDEMPOTENCY).where(*where)).first()
        if row is None:  # the first attempt failed and let go of the key meanwhile
            return self.begin(council, caller, key, body, at)
        if row.body_hash != body_hash:
            raise ValueError("this Idempotency-Key was used with a different request body")
        if row.status == 0:
            raise InProgress(
                "a request with this Idempotency-Key is still being handled",
                started_at=row.created_at,
            )
        return int(row.status), json.loads(row.response)

    def take_over(
        self, council: str, caller: str, key: str, started_at: datetime, at: datetime
    ) -> bool:
        """Claims a key whose attempt began at `started_at` and never finished, for a new
        attempt; False if another caller's retry took it first (or it finished meanwhile)."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    sa.update(IDEMPOTENCY)
                    .where(
                        IDEMPOTENCY.c.council == council,
                        IDEMPOTENCY.c.caller == caller,
                        IDEMPOTENCY.c.key == key,
                        IDEMPOTENCY.c.status == 0,
                        IDEMPOTENCY.c.created_at == started_at,
                    )
                    .values(created_at=at)
                ).rowcount
                == 1
            )

    def finish(self, council: str, caller: str, key: str, status: int, response: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(IDEMPOTENCY)
                .where(
                    IDEMPOTENCY.c.council == council,
                    IDEMPOTENCY.c.caller == caller,
                    IDEMPOTENCY.c.key == key,
                )
                .values(status=status, response=json.dumps(response, default=str))
            )

    def abandon(self, council: str, caller: str, key: str) -> None:
        """Lets go of a claimed key whose attempt failed: the caller may try again."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(IDEMPOTENCY).where(
                    IDEMPOTENCY.c.council == council,
                    IDEMPOTENCY.c.caller == caller,
                    IDEMPOTENCY.c.key == key,
                    IDEMPOTENCY.c.status == 0,
                )
            )


class InProgress(RuntimeError):
    """The first attempt with this idempotency key has not finished yet."""

    def __init__(self, message: str, started_at: datetime | None = None) -> None:
        super().__init__(message)
        self.started_at = started_at


class AnswerLost(InProgress):
    """The first attempt with this idempotency key stored its events, and its answer is not
    kept (not yet, or never: its process ended, or its commit's acknowledgement was lost): it
    is not run again."""
