"""The council's lodgement policy: what it accepts as a new request, and how it routes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.attributes import read_answers
from domain.bounds import require_within_calendar
from domain.council import AnonymousPolicy, Council
from domain.errors import InvalidCommand, LodgementRefused
from domain.horizon import require_within_horizon
from domain.standards import date_gone, due_instants, recorded, standard_for
from domain.values import (
    PERSONAL_FIELDS,
    Channel,
    ContactMethod,
    Customer,
    Location,
    RequestKind,
)


@dataclass(frozen=True, kw_only=True)
class Intake:
    """What the officer (or the portal) took down from the customer."""

    category: str
    channel: Channel
    description: str
    kind: RequestKind = RequestKind.SERVICE_REQUEST
    customer: Customer | None = None
    location: Location | None = None
    urgent: bool = False
    agreed_completion: date | None = None
    customer_number: str | None = None
    received_at: datetime | None = None  # when the council received it; None: as keyed in
    media_url: str | None = None
    # The answers to the category's attributes (code -> values given), when the resident was
    # asked them (Open311, the portal); None when nobody asked (staff intake, an import):
    # then a required attribute is not required.
    attributes: Mapping[str, Sequence[str]] | None = None

    def identified(self, rules: Sequence[frozenset[str]]) -> bool:
        """Whether the customer is identified under the council's `rules`: by their record on
        file, or by details that satisfy a rule. Where the problem is (`location`) never
        identifies anyone."""
        return self.customer_number is not None or (
            self.customer is not None and self.customer.identifies(rules)
        )


def make_intake(
    *,
    category: str,
    channel: Channel,
    description: str,
    kind: RequestKind = RequestKind.SERVICE_REQUEST,
    name: str | None = None,
    customer_address: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    contact: ContactMethod | None = None,
    address: str | None = None,
    lat: float | None = None,
    long: float | None = None,
    urgent: bool = False,
    agreed_completion: date | None = None,
    customer_number: str | None = None,
    received_at: datetime | None = None,
    address_id: str | None = None,
    zipcode: str | None = None,
    media_url: str | None = None,
    attributes: Mapping[str, Sequence[str]] | None = None,
) -> Intake:
    """An intake from what an interface took down: the customer's details (their own address is
    `customer_address`), where the problem is (`address`, `lat`, `long`). Without a preferred
    contact method, the customer is reached by e-mail if they gave one, else by phone, else by
    letter at their address. `address_id` and `zipcode` place the problem too; `media_url` is
    a link the client gave (a photo), kept as given."""
    customer = Customer(
        name=name,
        address=customer_address,
        phone=phone,
        email=email,
        preferred_contact=contact
        or (
            ContactMethod.EMAIL
            if email
            else ContactMethod.PHONE
            if phone
            else ContactMethod.LETTER
            if customer_address
            else ContactMethod.NONE
        ),
    )
    location = (
        Location(address=address, lat=lat, long=long, address_id=address_id, zipcode=zipcode)
        if address or address_id or zipcode or lat is not None or long is not None
        else None
    )
    return Intake(
        category=category,
        channel=channel,
        description=description,
        kind=kind,
        customer=None if customer.is_anonymous else customer,
        location=location,
        urgent=urgent,
        agreed_completion=agreed_completion,
        customer_number=customer_number,
        received_at=received_at,
        media_url=media_url or None,
        attributes=attributes,
    )


def describe_rules(rules: Sequence[frozenset[str]]) -> str:
    """`rules` for people: "a name and a phone, or a name and an email"."""

    def one(rule: frozenset[str]) -> str:
        return " and ".join(
            f"{'an' if f[0] in 'aeiou' else 'a'} {f}"
            for f in sorted(rule, key=PERSONAL_FIELDS.index)
        )

    return ", or ".join(one(r) for r in rules)


def lodgement_fields(
    council: Council, intake: Intake, reference: str, occurred_at: datetime
) -> dict[str, Any]:
    """The `Lodged` event's fields for this intake, or a `DomainError` saying why not."""
    if intake.channel in council.refused_channels:
        raise LodgementRefused(
            f"{council.name} does not accept requests made through {intake.channel.value}"
        )
    if intake.category not in council.categories:
        raise InvalidCommand(
            f"unknown category {intake.category!r} for council {council.id} "
            f"(see `crm --council {council.id} categories`)"
        )
    description = intake.description.strip()
    if not description:
        raise InvalidCommand("the description must not be empty")
    if len(description) > council.description_max_chars:
        raise InvalidCommand(
            f"the description has {len(description)} characters; "
            f"{council.name} keeps a précis of at most {council.description_max_chars}"
        )
    category = council.categories[intake.category]
    answers = read_answers(
        category.attributes, intake.attributes or {}, asked=intake.attributes is not None
    )
    _require_contact_detail(intake)
    anonymous = not intake.identified(council.identified_by)
    if anonymous and council.anonymous is AnonymousPolicy.REFUSE:
        raise LodgementRefused(
            f"{council.name} does not action anonymous requests: record "
            f"{describe_rules(council.identified_by)} (or the number of their customer record)"
        )
    require_within_calendar(intake.received_at, "the received-at instant")
    require_within_calendar(intake.agreed_completion, "the agreed completion date")
    require_within_horizon(
        intake.agreed_completion,
        horizon_days=council.due_date_horizon_days,
        now=occurred_at,
        timezone=council.calendar.timezone,
        what="the agreed completion date",
    )
    received_at = _received_at(intake, occurred_at)
    standard = recorded(
        standard_for(council, intake.category, intake.channel, intake.urgent, intake.kind),
        received_at,
        occurred_at,
    )
    due = due_instants(standard, received_at, intake.agreed_completion)
    agreed = intake.agreed_completion
    if agreed is not None and date_gone(standard.calendar, agreed, occurred_at):
        raise InvalidCommand("the agreed completion date must be later than now")
    return {
        "council": council.id,
        "reference": reference,
        "customer": intake.customer,
        "category": standard.category,
        "team": standard.team,
        "kind": intake.kind,
        "channel": intake.channel,
        "location": intake.location,
        "description": description,
        "urgent": standard.urgent,
        "discretionary": intake.agreed_completion is not None,
        "agreed_completion": intake.agreed_completion,
        "resolution_not_guaranteed": anonymous,
        "standard": standard,
        "acknowledge_by": due.acknowledge_by,
        "complete_by": due.complete_by,
        "imported": False,
        "received_at": received_at,
        "media_url": intake.media_url,
        "attributes": answers or None,
    }


def _require_contact_detail(intake: Intake) -> None:
    """A preferred contact method needs its detail: an e-mail address to be e-mailed, a phone
    number to be called or texted, a postal address for letters (else every notice would go
    nowhere)."""
    customer = intake.customer
    if customer is None or customer.preferred_contact is ContactMethod.NONE:
        return
    if not customer.detail_for(customer.preferred_contact):
        method = customer.preferred_contact.value
        needs = {"email": "e-mail address", "letter": "postal address"}.get(method, "phone number")
        raise InvalidCommand(f"the customer prefers contact by {method} but gave no {needs}")


def _received_at(intake: Intake, keyed_at: datetime) -> datetime:
    """The instant the standards count from: when the council received the request (a letter
    that arrived on Monday and was keyed on Wednesday), never later than it was keyed in."""
    if intake.received_at is None:
        return keyed_at
    if intake.received_at.tzinfo is None or intake.received_at.utcoffset() is None:
        raise InvalidCommand("the received-at instant must carry its timezone")
    if intake.received_at > keyed_at:
        raise InvalidCommand(
            f"the received-at instant {intake.received_at.isoformat()} is in the future"
        )
    return intake.received_at
