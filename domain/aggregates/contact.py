"""A contact that is not a service request: an enquiry answered at the counter, on the phone
or in a webchat (a rates question, a certificate application, road closure information …).

Upper Lachlan's policy (seed 002) lists such communications as *not* service requests, and
Greater Dandenong (seed 004) records the nature and type of its enquiries daily: each is one
`ContactLogged` event, on the request log (so the audit record and the daily statistics see
it), with no lifecycle, no standard and no queue. A note may hold what the customer said: it
arrives sealed, like every personal field.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import InvalidCommand
from domain.personal import key_of, require_sealed
from domain.values import Actor, Channel

CONTACT_NAMESPACE = uuid.UUID("3c1f7f0e-8d5b-4a4e-b1f6-2f5a7c9e0d13")


def contact_id(council: str, reference: str) -> uuid.UUID:
    """The aggregate id of a council's contact reference (e.g. `UL-E2026-000001`)."""
    return uuid.uuid5(CONTACT_NAMESPACE, f"{council}/{reference.strip().upper()}")


def contact_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-E{year}-{number:06d}"


class Contact(Aggregate):
    TOPIC = "councilcrm:Contact"

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: Actor

    class ContactLogged(Event, Aggregate.Created):
        TOPIC = "councilcrm:Contact.ContactLogged"
        council: str
        reference: str
        contact_type: str
        channel: Channel
        customer_id: str | None  # the customer's number (`UL-C000042`), if one was named
        note: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._on_logged(self)

    Created = ContactLogged

    def _on_logged(self, event: Contact.ContactLogged) -> None:
        self.council = event.council
        self.reference = event.reference
        self.contact_type = event.contact_type
        self.channel = event.channel
        self.customer = event.customer_id
        self.note = event.note
        self.logged_at = event.occurred_at

    @classmethod
    def log(
        cls,
        *,
        council: str,
        reference: str,
        contact_type: str,
        types: Collection[str],
        channel: Channel,
        customer: str | None,
        note: str | None,
        occurred_at: datetime,
        actor: Actor,
    ) -> Contact:
        """Records the contact; refused (nothing recorded) for a type the council does not
        keep, a note in plain text, or an instant without its zone."""
        cls.require_type(contact_type, types)
        if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
            raise InvalidCommand("an instant must carry its timezone")
        require_sealed(note, "a contact's note")
        return cls._create(
            cls.ContactLogged,
            id=contact_id(council, reference),
            council=council,
            reference=reference,
            contact_type=contact_type,
            channel=channel,
            customer_id=customer,
            note=note,
            occurred_at=occurred_at,
            actor=actor,
        )

    @staticmethod
    def require_type(contact_type: str, types: Collection[str]) -> None:
        """Refuses a type the council does not keep (its `[enquiry_types]`): bad input, like
        an unknown category (a `KeyError` naming the accepted types)."""
        if contact_type not in types:
            raise KeyError(
                f"unknown enquiry type {contact_type!r} (accepted: {', '.join(sorted(types))})"
            )

    @property
    def data_key(self) -> uuid.UUID:
        """The key its note is sealed with (the customer's, or the contact's own)."""
        return key_of(self.note) if self.note else self.id
