"""Disclosure: what a reader sees of residents' personal data — the one place that decides it.

Every view (the CLI's and the HTTP interface's: a request, its history, the audit record,
notices, a customer record) passes what it read through a `Disclosure` before showing it.
Sealed tokens (`domain.personal`) are opened for a reader the permission rules allow
(`domain.permissions.sees_personal`, `sees_customer_record`) and replaced by `[redacted]` for
anyone else; a token whose key was destroyed reads `[erased]` for everyone. A customer's
number is shown to those who may see the customer and replaced by a stable pseudonym for the
others (analysts can still count repeat callers). Each view that opened a customer's data is
written to the access log — who, whose, when, through what; never the values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from commands.ports import Opener, Vault
from domain.permissions import Viewer, sees_customer_record, sees_personal
from domain.personal import ERASED, REDACTED, is_sealed


class Disclosure:
    """One reader's view of one council's data, through one command or endpoint (`via`).
    `chain` is the council's escalation chain, lowest first: who may see a request's personal
    fields depends on how far up it the request has gone."""

    def __init__(
        self,
        vault: Vault,
        council: str,
        reader: Viewer,
        via: str,
        at: datetime,
        chain: Sequence[str] = (),
    ) -> None:
        self.vault, self.council, self.reader, self.via, self.at = vault, council, reader, via, at
        self.chain = tuple(chain)
        self._opener: Opener | None = None
        self._logged: set[str] = set()

    def sees_request(self, *, team: str | None, level: str | None) -> bool:
        return sees_personal(self.reader, team=team, level=level, chain=self.chain)

    @property
    def sees_customers(self) -> bool:
        return sees_customer_record(self.reader)

    def reveal_request(
        self, value: Any, *, team: str | None, level: str | None, customer: str | None
    ) -> Any:
        """`value`, read from one request (team `team`, at escalation level `level`, lodged
        for customer number `customer`), as this reader may see it."""
        return self.reveal(
            value, allowed=self.sees_request(team=team, level=level), customer=customer
        )

    def reveal(self, value: Any, *, allowed: bool, customer: str | None) -> Any:
        """`value` (any JSON-like structure) with every sealed token opened when `allowed`,
        else redacted; customer numbers (a `customer.number`, a `customer_id`) pseudonymised
        when not allowed. Opening logs the access against `customer` (None: an anonymous
        request's own data, which identifies no one on record)."""
        opened = [False]
        shown = self._walk(value, allowed, opened)
        if opened[0] and customer is not None:
            self._log(customer)
        return shown

    def customer_label(self, number: str | None, *, allowed: bool) -> str | None:
        if number is None or allowed:
            return number
        return self.vault.pseudonym(self.council, number)

    def _walk(self, value: Any, allowed: bool, opened: list[bool]) -> Any:
        if isinstance(value, str):
            return self._token(value, allowed, opened) if is_sealed(value) else value
        if isinstance(value, list | tuple):
            return [self._walk(v, allowed, opened) for v in value]
        if isinstance(value, dict):
            out = {k: self._walk(v, allowed, opened) for k, v in value.items()}
            for key in _number_keys(value):
                out[key] = self.customer_label(value[key], allowed=allowed)
            return out
        return value

    def _token(self, token: str, allowed: bool, opened: list[bool]) -> str:
        if not allowed:
            return REDACTED
        if self._opener is None:
            self._opener = self.vault.opener()
        text = self._opener.open(token)
        if text is None:
            return ERASED
        opened[0] = True
        return text

    def _log(self, customer: str) -> None:
        if customer in self._logged:
            return
        self._logged.add(customer)
        self.vault.log_access(
            [
                {
                    "at": self.at,
                    "council": self.council,
                    "customer": customer,
                    "user_id": self.reader.user_id,
                    "role": self.reader.role,
                    "via": self.via[:200],
                }
            ]
        )


def _number_keys(value: dict[str, Any]) -> Iterator[str]:
    """The keys under which a dict names a customer record by number: `customer_id` (a view's
    own field), and `number` in a customer's details as a request records them."""
    if "customer_id" in value:
        yield "customer_id"
    if "number" in value and "preferred_contact" in value:
        yield "number"
