"""Fakes in one place: a clock the tests move by hand."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.personal import is_sealed
from domain.values import PERSONAL_FIELDS, Customer
from infra.keys import Sealer


class FakeClock:
    """A clock that stands still until a test moves it; never reads the wall clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a fake clock's instant must be tz-aware")
        self.current = instant


TEST_KEY_ID = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
TEST_KEY = AESGCM.generate_key(bit_length=256)
TEST_SEALER = Sealer(TEST_KEY_ID, TEST_KEY)


def open_sealed(token: str) -> str:
    """The plain text of a token `sealed` made (the vault's own format)."""
    assert is_sealed(token), f"not sealed: {token[:20]!r}"
    raw = base64.urlsafe_b64decode(token.rsplit(":", 1)[1])
    return AESGCM(TEST_KEY).decrypt(raw[:12], raw[12:], str(TEST_KEY_ID).encode()).decode()


def sealed(fields: dict[str, Any]) -> dict[str, Any]:
    """`Lodged` fields as the lodge handler records them: the customer's details and the
    description sealed (real AES-GCM, under a key of this test run)."""
    customer: Customer | None = fields.get("customer")
    out = dict(fields, description=TEST_SEALER.seal(fields["description"]))
    if customer is not None:
        out["customer"] = dataclasses.replace(
            customer, **{f: TEST_SEALER.seal(getattr(customer, f)) for f in PERSONAL_FIELDS}
        )
    return out
