"""Contacts that are not service requests (seed 002's list; seed 004's daily statistics)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

from commands.customers import load as load_customer
from commands.ports import Ports
from domain.aggregates.contact import Contact, contact_id, contact_reference
from domain.aggregates.customer import Restriction
from domain.bounds import require_free_text
from domain.values import Actor, Channel


@dataclass(frozen=True, kw_only=True)
class LogContact:
    council: str
    contact_type: str
    channel: Channel
    actor: Actor
    customer: str | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Logged:
    contact_id: UUID
    reference: str
    customer: str | None
    position: int
    # restrictions on the customer's contact in force (flagged to staff, as at lodgement)
    restrictions: tuple[Restriction, ...] = ()


def log_contact(cmd: LogContact, ports: Ports) -> Logged:
    """Records an enquiry without opening a request. The note, when given, may hold what the
    customer said: it is sealed under the customer's key (erased with their data), or under
    the contact's own key when nobody is named."""
    council = ports.council(cmd.council)
    Contact.require_type(cmd.contact_type, council.enquiry_types)
    # every channel is recorded: `refused_channels` is about accepting a service request
    # (seed 002: an indirect channel cannot be monitored), not about counting what happened
    note = cmd.note.strip() if cmd.note and cmd.note.strip() else None
    if note is not None:
        require_free_text(note, "a contact's note")
    customer = load_customer(ports.directory, council.id, cmd.customer) if cmd.customer else None
    now = ports.now()
    year = now.astimezone(ZoneInfo(council.calendar.timezone)).year
    number = ports.directory.next_number(f"{council.id}#E{year}")
    reference = contact_reference(council.reference_prefix, year, number)
    sealed = None
    if note is not None:
        key = customer.id if customer else contact_id(council.id, reference)
        sealed = ports.vault.sealer(key, council.id, now, new=customer is None).seal(note)
    contact = Contact.log(
        council=council.id,
        reference=reference,
        contact_type=cmd.contact_type,
        types=council.enquiry_types,
        channel=cmd.channel,
        customer=customer.number if customer else None,
        note=sealed,
        occurred_at=now,
        actor=cmd.actor,
    )
    position = ports.record(contact)
    return Logged(
        contact_id=contact.id,
        reference=reference,
        customer=contact.customer,
        position=position,
        restrictions=tuple(customer.restrictions_in_force(now.date())) if customer else (),
    )
