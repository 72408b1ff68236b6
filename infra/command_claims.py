"""Which idempotent attempts stored events: a claim recorded in the events' own transaction.

An HTTP command sent with an `Idempotency-Key` (`infra.http.idempotency`) runs under a claim:
the digest of its council, caller and key. Every transaction that stores events while the
claim is current also records the claim in the same database (`crm_command_claims`), so the
claim is there exactly when the attempt's events are: a commit whose acknowledgement was lost,
or a process that died between its commit and keeping its answer, still shows that the attempt
acted, and a retry with the same key is never run a second time. The table holds digests
only: no key, no caller, no personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

TABLE = "crm_command_claims"

_current: ContextVar[str | None] = ContextVar("command_claim", default=None)


def digest(council: str, caller: str, key: str) -> str:
    """The claim of one caller's key in one council."""
    return hashlib.sha256(f"{council}\0{caller}\0{key}".encode()).hexdigest()


def current() -> str | None:
    """The claim the events stored now are recorded under, if any."""
    return _current.get()


@contextmanager
def claiming(claim: str) -> Iterator[None]:
    """Events stored in this block (on this thread or task) record `claim` with them."""
    token = _current.set(claim)
    try:
        yield
    finally:
        _current.reset(token)
