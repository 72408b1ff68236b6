"""An optional `Idempotency-Key` on every POST that acts (the staff API's commands, Open311's
`POST requests`, the portal's report form): the first attempt with a key runs, and its answer
is kept; a retry with the same key and the same body gets that answer back (never acting
twice); the same key with another body is refused; a retry while the first attempt still runs
is a conflict (`InProgress`, 409).

An attempt's events record its claim in their own transaction (`infra.command_claims`), so
what a crash hides is still known: a first attempt that stored its events but never kept its
answer is never run again (`AnswerLost`, 409), and one that stored nothing and began over
`STALE_AFTER` ago has ended: a retry takes its key over.

Keys are scoped by council and caller (a staff user, an API key's client, one browser of the
portal). The key store keeps the answer and a hash of the body, never the body. A secret in an
answer (a resident's tracking token) is kept encrypted under a key derived from the
idempotency key and the body together, which the store does not hold: only the caller who
sends both again can read it back."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra import command_claims
from infra.credentials import AnswerLost, InProgress
from infra.runtime import Runtime

HEADER = "Idempotency-Key"
# an attempt unfinished this long ago that stored nothing has ended (a command takes well
# under a second; a server's request timeout is far below this): its key is taken over
STALE_AFTER = timedelta(minutes=10)
MAX_KEY = 200
_SEALED = "replay:v1:"


def valid_key(key: str | None) -> str | None:
    """`key` stripped, or None when absent; a `ValueError` when it is not a usable key."""
    if key is None:
        return None
    key = key.strip()
    if not 0 < len(key) <= MAX_KEY or not key.isprintable():
        raise ValueError(f"an {HEADER} has 1 to {MAX_KEY} printable characters")
    return key


def fingerprint(method: str, path: str, query: str, body: bytes) -> bytes:
    """What a key is held to: the route it was sent to (method, path, query) and the body."""
    return f"{method} {path}?{query}\n".encode() + body


def once(
    rt: Runtime,
    council: str,
    caller: str,
    key: str | None,
    body: bytes,
    act: Callable[[], tuple[int, dict[str, Any]]],
    secrets: Collection[str] = (),
) -> tuple[int, dict[str, Any], bool]:
    """`act()`'s (status, answer), run at most once per (council, caller, key); the third
    item says whether this is the first attempt's answer replayed. `secrets` names the
    answer's fields to keep encrypted. Without a key, `act()` simply runs."""
    key = valid_key(key)
    if key is None:
        status, answer = act()
        return status, answer, False
    claim = command_claims.digest(council, caller, key)
    first = _begin(rt, council, caller, key, body, claim)
    if first is not None:
        return first[0], _opened(first[1], key, body), True
    try:
        with command_claims.claiming(claim):
            status, answer = act()
    except BaseException:
        if not _acted(rt, claim):  # nothing stored: the caller may try again
            rt.credentials.abandon(council, caller, key)
        raise
    if status >= 300:  # a refusal is not kept: the caller may correct and retry
        rt.credentials.abandon(council, caller, key)
    else:
        rt.credentials.finish(council, caller, key, status, _sealed(answer, secrets, key, body))
    return status, answer, False


def _begin(
    rt: Runtime, council: str, caller: str, key: str, body: bytes, claim: str
) -> tuple[int, Any] | None:
    """`Credentials.begin`, and what an unfinished first attempt left: if it stored events,
    `AnswerLost` (never run twice); if it stored nothing and began over `STALE_AFTER` ago (its
    process ended), the key is taken over for this attempt."""
    now = rt.clock()
    try:
        return rt.credentials.begin(council, caller, key, body, now)
    except InProgress as running:
        if _acted(rt, claim):
            raise AnswerLost(
                "the first request with this Idempotency-Key was carried out, and its answer "
                "is not kept (not yet, or lost with its process): it is not done again; retry "
                "in a moment, or look the result up"
            ) from None
        started = running.started_at
        if started is None or now - started < STALE_AFTER:
            raise
        if not rt.credentials.take_over(council, caller, key, started, now):
            raise
        return None


def _acted(rt: Runtime, claim: str) -> bool:
    """Whether events were stored under `claim`, in any of the event stores."""
    return any(
        store.recorder.claim_recorded(claim)
        for store in (rt.app, rt.directory)
        if hasattr(store.recorder, "claim_recorded")
    )


def _cipher(key: str, body: bytes) -> AESGCM:
    material = hashlib.sha256(b"councilcrm idempotent replay\0" + key.encode() + b"\0" + body)
    return AESGCM(material.digest())


def _sealed(
    answer: dict[str, Any], secrets: Collection[str], key: str, body: bytes
) -> dict[str, Any]:
    kept = dict(answer)
    for name in secrets:
        value = kept.get(name)
        if isinstance(value, str):
            nonce = os.urandom(12)
            data = nonce + _cipher(key, body).encrypt(nonce, value.encode(), name.encode())
            kept[name] = _SEALED + base64.urlsafe_b64encode(data).decode()
    return kept


def _opened(kept: dict[str, Any], key: str, body: bytes) -> dict[str, Any]:
    answer = dict(kept)
    for name, value in kept.items():
        if isinstance(value, str) and value.startswith(_SEALED):
            data = base64.urlsafe_b64decode(value[len(_SEALED) :])
            try:
                answer[name] = (
                    _cipher(key, body).decrypt(data[:12], data[12:], name.encode()).decode()
                )
            except InvalidTag:  # cannot happen with the same key and body
                answer[name] = None
    return answer
