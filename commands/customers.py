"""Commands on customer records: register, correct, conduct and restrictions, erasure.

Plain personal details come in; only sealed tokens are recorded (`commands.ports.Vault`). The
customer's data key is created with the record and destroyed by erasure, which is the one
mechanism that erases personal data (a records officer's erasure, and later a disposal).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from commands.ports import Directory, Sealer, Vault
from domain.aggregates.customer import Customer, customer_id, customer_number
from domain.council import Council
from domain.errors import ErasureRefused, InvalidCommand
from domain.values import (
    IDENTIFYING_FIELDS,
    PERSONAL_FIELDS,
    Actor,
    Channel,
    Conduct,
    ContactMethod,
)
from domain.values import Customer as Details


class CustomerNotFound(LookupError):
    """No customer has this number in this council."""


@dataclass(frozen=True, kw_only=True)
class CustomerCommand:
    council: str
    number: str
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class CorrectDetails(CustomerCommand):
    details: Details
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeclareConduct(CustomerCommand):
    conduct: Conduct
    reason: str
    review_by: date


@dataclass(frozen=True, kw_only=True)
class WithdrawDeclaration(CustomerCommand):
    declaration_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class RestrictContact(CustomerCommand):
    channels: Collection[Channel]
    single_point_of_contact: str | None
    until: date | None
    review_by: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReviewRestriction(CustomerCommand):
    restriction_id: int
    note: str
    next_review: date


@dataclass(frozen=True, kw_only=True)
class LiftRestriction(CustomerCommand):
    restriction_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class EraseCustomer(CustomerCommand):
    reason: str


def load(directory: Directory, council: str, number: str) -> Customer:
    number = number.strip().upper()
    found = directory.find(Customer, customer_id(council, number))
    if found is None:
        raise CustomerNotFound(f"no customer {number}")
    return found


def sealed_details(customer: Customer) -> Details:
    """The customer's current details as a request records them: sealed tokens."""
    d = customer.details
    return Details(
        name=d["name"],
        address=d["address"],
        phone=d["phone"],
        email=d["email"],
        preferred_contact=d["preferred_contact"],
        number=customer.number,
    )


def register_customer(
    council: Council, details: Details, actor: Actor, directory: Directory, vault: Vault
) -> Customer:
    """A new customer record for plain `details`: sealed under a new key, and indexed."""
    return register_customer_sealing(council, details, actor, directory, vault)[0]


def register_customer_sealing(
    council: Council, details: Details, actor: Actor, directory: Directory, vault: Vault
) -> tuple[Customer, Sealer]:
    """`register_customer`, also handing back the sealer of the new key, for the rest of the
    same command (so the key is not read again).

    The key and the index entries are written first, together; then the record. If saving
    the record fails, they are destroyed again before the error goes on; if the process dies
    in between, `erase_customer` on the number (or `erase_unsaved_registrations`) reaches
    them, since both are found from the customer's number."""
    now = directory.now()
    number = customer_number(council.reference_prefix, directory.next_number(f"{council.id}#C"))
    key_id = customer_id(council.id, number)
    sealer = vault.new_customer(
        key_id, council.id, number, {f: getattr(details, f) for f in PERSONAL_FIELDS}, now
    )
    customer = Customer.register(
        council=council.id,
        number=number,
        occurred_at=now,
        actor=actor,
        preferred_contact=details.preferred_contact,
        **{f: sealer.seal(getattr(details, f)) for f in PERSONAL_FIELDS},
    )
    try:
        directory.save(customer)
    except BaseException:
        _forget_unsaved(directory, vault, council.id, number)
        raise
    return customer, sealer


def _forget_unsaved(directory: Directory, vault: Vault, council: str, number: str) -> bool:
    """Destroys the key and index entries of a registration whose record was not saved; True
    if it did. Never touches a record that was saved after all (a save that failed only on
    its way back): when in doubt it leaves them for an erasure."""
    key_id = customer_id(council, number)
    try:
        if directory.find(Customer, key_id) is not None:
            return False
        vault.destroy(key_id)
        vault.unindex(council, number)
    except Exception:  # noqa: BLE001 - the first error is the one to report
        return False
    return True


def correct_details(cmd: CorrectDetails, directory: Directory, vault: Vault) -> Customer:
    customer = load(directory, cmd.council, cmd.number)
    now = directory.now()
    sealer = vault.sealer(customer.id, cmd.council, now)
    changes: dict[str, Any] = {
        f: sealer.seal(getattr(cmd.details, f))
        for f in PERSONAL_FIELDS
        if getattr(cmd.details, f) is not None
    }
    if cmd.details.preferred_contact is not ContactMethod.NONE:
        changes["preferred_contact"] = cmd.details.preferred_contact
    customer.correct(changes=changes, reason=cmd.reason, occurred_at=now, actor=cmd.actor)
    directory.save(customer)
    vault.index(cmd.council, customer.number, {f: getattr(cmd.details, f) for f in PERSONAL_FIELDS})
    return customer


def declare_conduct(cmd: DeclareConduct, directory: Directory) -> int:
    customer = load(directory, cmd.council, cmd.number)
    declared = customer.declare(
        conduct=cmd.conduct,
        reason=cmd.reason,
        review_by=cmd.review_by,
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(customer)
    return declared


def withdraw_declaration(cmd: WithdrawDeclaration, directory: Directory) -> None:
    customer = load(directory, cmd.council, cmd.number)
    customer.withdraw(
        declaration_id=cmd.declaration_id,
        reason=cmd.reason,
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(customer)


CONDUCT_TOPICS = (
    "councilcrm:Customer.ConductDeclared",
    "councilcrm:Customer.RestrictionImposed",
)


def with_conduct_records(directory: Directory, council: str) -> list[Customer]:
    """The council's customers who have (or had) a declaration or a restriction."""
    found = {}
    for aggregate_id in directory.ids_of(CONDUCT_TOPICS):
        customer = directory.find(Customer, aggregate_id)
        if customer is not None and customer.council == council:
            found[aggregate_id] = customer
    return list(found.values())


def restrict_contact(cmd: RestrictContact, directory: Directory) -> int:
    customer = load(directory, cmd.council, cmd.number)
    imposed = customer.restrict(
        channels=cmd.channels,
        single_point_of_contact=cmd.single_point_of_contact,
        until=cmd.until,
        review_by=cmd.review_by,
        reason=cmd.reason,
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(customer)
    return imposed


def review_restriction(cmd: ReviewRestriction, directory: Directory) -> None:
    customer = load(directory, cmd.council, cmd.number)
    customer.review(
        restriction_id=cmd.restriction_id,
        note=cmd.note,
        next_review=cmd.next_review,
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(customer)


def lift_restriction(cmd: LiftRestriction, directory: Directory) -> None:
    customer = load(directory, cmd.council, cmd.number)
    customer.lift(
        restriction_id=cmd.restriction_id,
        reason=cmd.reason,
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(customer)


def erase_customer(
    cmd: EraseCustomer,
    directory: Directory,
    vault: Vault,
    open_requests: Callable[[str, str], list[str]],
) -> Customer | None:
    """Erases the customer's personal data: records `PersonalDataErased`, then destroys their
    data key and index entries. Refused, naming them, while any of their requests is open.
    Run again after a crash between the two steps, it finishes the job. For a number whose
    record was never saved (a registration that failed half-way) it destroys the key and
    index entries left behind and returns None; `CustomerNotFound` if there are none."""
    number = cmd.number.strip().upper()
    key_id = customer_id(cmd.council, number)
    found = directory.find(Customer, key_id)
    if found is None:
        if not vault.holds(key_id, cmd.council, number):
            raise CustomerNotFound(f"no customer {number}")
        vault.destroy(key_id)
        vault.unindex(cmd.council, number)
        return None
    customer = found
    still_open = open_requests(cmd.council, customer.number)
    if still_open:
        raise ErasureRefused(
            f"customer {customer.number} has requests still open: {', '.join(still_open)}; "
            "close them first"
        )
    if customer.erased_at is None:
        customer.erase(reason=cmd.reason, occurred_at=directory.now(), actor=cmd.actor)
        directory.save(customer)
    vault.destroy(customer.id)
    vault.unindex(cmd.council, customer.number)
    return customer


UNSAVED_AGE_MAX_MINUTES = 525_600  # a year: the longest "begun this long ago" a sweep takes


def erase_unsaved_registrations(
    directory: Directory, vault: Vault, council: str, before: datetime
) -> list[str]:
    """The sweep: destroys the key and index entries of every registration begun before
    `before` whose record was never saved (a process that died half-way); their numbers.
    `before` should leave registrations still under way alone (say, an hour ago)."""
    saved = set(directory.ids_of([Customer.Registered.TOPIC]))
    swept = []
    for number in vault.indexed(council):
        key_id = customer_id(council, number)
        if key_id in saved:
            continue
        created = vault.created_at(key_id)
        if created is None or created < before:
            vault.destroy(key_id)
            vault.unindex(council, number)
            swept.append(number)
    return swept


FINDABLE = ("phone", "email", "name")


def likely_same(vault: Vault, council: str, details: Details, number: str) -> tuple[str, ...]:
    """The council's other customer records sharing a phone number or e-mail address with
    `details` (customer `number`'s): likely the same person. Erased records are not indexed."""
    found = {
        other
        for field in IDENTIFYING_FIELDS
        if (value := getattr(details, field))
        for other in vault.find(council, field, value)
    }
    return tuple(sorted(found - {number}))


def find_customers(vault: Vault, council: str, field: str, value: str) -> list[str]:
    if field not in FINDABLE:
        raise InvalidCommand(f"find by one of: {', '.join(FINDABLE)}")
    if not value.strip():
        raise InvalidCommand(f"say which {field} to find")
    return vault.find(council, field, value)
