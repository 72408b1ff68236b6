"""Residents' personal data as the event store holds it: sealed, never in plain text.

A personal field (a name, an address, a phone number, an e-mail address, the free text a
customer gave) reaches an event only as a *sealed token*: `sealed:v1:<key id>:<ciphertext>`,
authenticated encryption under a data key that lives apart from the events (`infra/keys.py`).
The key id says whose data it is — a customer's, or for an anonymous request the request's
own — so destroying that one key erases every copy at once (crypto-shredding) while the
events, their order and everything else they record stay intact.

The domain never decrypts: it only checks that what it records is sealed.
"""

from __future__ import annotations

from uuid import UUID

from domain.errors import InvalidCommand

PREFIX = "sealed:v1:"
REDACTED = "[redacted]"
ERASED = "[erased]"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_of(token: str) -> UUID:
    """The id of the data key a token was sealed with."""
    if not is_sealed(token):
        raise ValueError("not a sealed token")
    return UUID(token[len(PREFIX) : len(PREFIX) + 36])


def require_sealed(value: str | None, what: str) -> str | None:
    """`value` unchanged if it is sealed (or absent); a refusal if it is plain text."""
    if value is not None and not is_sealed(value):
        raise InvalidCommand(f"{what} is personal data and must be sealed before it is recorded")
    return value
