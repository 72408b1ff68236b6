"""Disposal of requests past their retention: the personal data erased, a certificate recorded.

A request's personal data is sealed under its customer's data key (or, for an anonymous
request, a key of its own), so erasure is per customer: disposing of one request of a customer
erases the personal data of all their requests. It is therefore refused while any other
request of theirs is open or still within its retention, naming them and the day the last one's
retention runs out; the customer's other requests already past their retention are disposed of
with it, each with its own certificate. The erasure goes through `erase_customer`, the one
mechanism that erases a customer's personal data; only then is each `Disposed` recorded, so a
crash in between leaves nothing certified that was not erased (run again, it finishes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from commands.customers import EraseCustomer, erase_customer
from commands.ports import Ports
from commands.request_store import get_request
from domain.aggregates.customer import Customer, customer_id
from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from domain.errors import DisposalRefused
from domain.retention import RetentionClass
from domain.values import Actor


@dataclass(frozen=True, kw_only=True)
class DisposeRequest:
    council: str
    reference: str
    reason: str
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class Disposal:
    """What a disposal did: the requests certified (the one named first) and whose data key
    was destroyed (`customer` with its number, or `request`)."""

    disposed: tuple[str, ...]
    erased: str
    customer: str | None


def retention_of(council: Council, request: ServiceRequest) -> RetentionClass:
    found = council.retention_of(request.category)
    if found is None:
        raise DisposalRefused(
            f"council {council.id} has no retention class for category "
            f"{request.category!r}: see [retention] in its configuration"
        )
    return found


def dispose_request(
    cmd: DisposeRequest, ports: Ports, customer_requests: Callable[[str, str], list[str]]
) -> Disposal:
    """Disposes of the request named (and of its customer's other requests past retention);
    `customer_requests(council, number)` lists the references of a customer's requests.
    `DisposalRefused` (nothing erased, nothing recorded) if any cannot be disposed of yet."""
    council = ports.council(cmd.council)
    zone = council.calendar.timezone
    now = ports.now()
    today = now.astimezone(ZoneInfo(zone)).date()
    reference = cmd.reference.strip().upper()
    if not cmd.reason.strip():
        raise DisposalRefused("say why the record is disposed of (--reason)")
    request = get_request(ports, council.id, reference)
    request.require_disposable(retention_of(council, request), zone, today)
    number = request.customer.number if request.customer else None
    own_key = number is None or request.data_key != customer_id(council.id, number)
    batch = [request]
    if not own_key:
        assert number is not None
        batch += _others_of_customer(
            council, ports, request, number, today, customer_requests(council.id, number)
        )
        erase_customer(
            EraseCustomer(
                council=council.id,
                number=number,
                actor=cmd.actor,
                reason=f"disposal of {reference}: {cmd.reason.strip()}",
            ),
            ports.directory,
            ports.vault,
            lambda _c, _n: [],
        )
    else:
        ports.vault.destroy(request.data_key)
    erased = "request" if own_key else "customer"
    for r in batch:
        r.dispose(
            retention=retention_of(council, r),
            timezone=zone,
            reason=cmd.reason,
            erased=erased,
            asked_for=reference,
            occurred_at=now,
            actor=cmd.actor,
        )
        ports.save(r)
    return Disposal(
        disposed=tuple(r.reference for r in batch),
        erased=erased,
        customer=None if own_key else number,
    )


def _others_of_customer(
    council: Council,
    ports: Ports,
    request: ServiceRequest,
    number: str,
    today: date,
    references: list[str],
) -> list[ServiceRequest]:
    """The customer's other requests not yet disposed of, all of which must be past their
    retention; else `DisposalRefused` naming those that hold the customer's data."""
    zone = council.calendar.timezone
    found = ports.directory.find(Customer, customer_id(council.id, number))
    already_erased = found is not None and found.erased_at is not None
    others, holding = [], []
    for ref in sorted(set(references) - {request.reference}):
        other = get_request(ports, council.id, ref)
        if other.disposed_at is not None:
            continue
        due = other.disposal_due(retention_of(council, other), zone)
        if due is not None and due <= today:
            others.append(other)
        elif not already_erased:
            holding.append(f"{ref} ({'open' if due is None else 'kept until ' + due.isoformat()})")
    if holding:
        raise DisposalRefused(
            f"customer {number}'s personal data is still needed by their other requests: "
            f"{', '.join(holding)}; the customer's data is erased as a whole, so dispose of "
            f"{request.reference} with them once their retention has run"
        )
    return others
