"""The customer record: one aggregate per resident the council deals with.

Personal details arrive sealed (`domain.personal`): the record keeps tokens, never plain
text. Corrections are new events, never overwrites. Conduct declarations and restrictions on
contact follow Canterbury's policy (seed 001 §7.4): each says who declared it, when, why and
when it is to be reviewed; restrictions are reviewed and lifted as events of their own.
Erasure (`PersonalDataErased`) records that the customer's data key was destroyed: the record
stays, its personal fields are unreadable for good.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.bounds import require_within_calendar
from domain.errors import InvalidCommand, RecordErased
from domain.personal import require_sealed
from domain.values import (
    PERSONAL_FIELDS,
    Actor,
    Channel,
    Conduct,
    ContactMethod,
)

CUSTOMER_NAMESPACE = uuid.UUID("0b5e2c55-3c1e-4d0e-9a55-61b1d8d0c7aa")


def customer_id(council: str, number: str) -> uuid.UUID:
    """The aggregate id of a council's customer number (e.g. `UL-C000042`)."""
    return uuid.uuid5(CUSTOMER_NAMESPACE, f"{council}/{number.strip().upper()}")


def customer_number(prefix: str, n: int) -> str:
    return f"{prefix}-C{n:06d}"


@dataclass(frozen=True, kw_only=True)
class Restriction:
    """A restriction on how the customer may contact the council (seed 001 §7.4.1, §7.4.4)."""

    id: int
    channels: tuple[Channel, ...]
    single_point_of_contact: str | None
    until: date | None
    review_by: date
    reason: str
    imposed_by: str
    imposed_at: datetime

    def in_force(self, on: date) -> bool:
        return self.until is None or on <= self.until

    def describe(self) -> str:
        """One line for staff: what the restriction allows, until when, its review date."""
        parts = []
        if self.channels:
            parts.append("no contact by " + ", ".join(c.value for c in self.channels))
        if self.single_point_of_contact:
            parts.append(f"contact only through {self.single_point_of_contact}")
        parts.append(f"until {self.until.isoformat()}" if self.until else "until lifted")
        parts.append(f"review by {self.review_by.isoformat()}")
        return f"restriction {self.id}: " + "; ".join(parts)


@dataclass(frozen=True, kw_only=True)
class Declaration:
    id: int
    conduct: Conduct
    reason: str
    review_by: date
    declared_by: str
    declared_at: datetime


def _text(value: str, what: str, limit: int = 2000) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidCommand(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidCommand(f"{what} has {len(value)} characters; at most {limit}")
    return value


class Customer(Aggregate):
    """A resident, their (sealed) contact details, and the record of their conduct."""

    TOPIC = "councilcrm:Customer"

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: Actor

    class Registered(Event, Aggregate.Created):
        TOPIC = "councilcrm:Customer.Registered"
        council: str
        reference: str
        name: str | None
        address: str | None
        phone: str | None
        email: str | None
        preferred_contact: ContactMethod

        def apply(self, aggregate: Any) -> None:
            aggregate._on_registered(self)

    Created = Registered

    class DetailsCorrected(Event):
        """Only the fields given change; each is a new sealed token."""

        TOPIC = "councilcrm:Customer.DetailsCorrected"
        changes: dict[str, Any]
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.details.update(self.changes)

    class ConductDeclared(Event):
        TOPIC = "councilcrm:Customer.ConductDeclared"
        declaration: Declaration

        def apply(self, aggregate: Any) -> None:
            aggregate.declarations[self.declaration.id] = self.declaration

    class DeclarationWithdrawn(Event):
        TOPIC = "councilcrm:Customer.DeclarationWithdrawn"
        declaration_id: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.declarations.pop(self.declaration_id)

    class RestrictionImposed(Event):
        TOPIC = "councilcrm:Customer.RestrictionImposed"
        restriction: Restriction

        def apply(self, aggregate: Any) -> None:
            aggregate.restrictions[self.restriction.id] = self.restriction

    class RestrictionReviewed(Event):
        """Reviewed and kept, until the next review date."""

        TOPIC = "councilcrm:Customer.RestrictionReviewed"
        restriction_id: int
        note: str
        next_review: date

        def apply(self, aggregate: Any) -> None:
            kept = aggregate.restrictions[self.restriction_id]
            aggregate.restrictions[self.restriction_id] = replace(kept, review_by=self.next_review)

    class RestrictionLifted(Event):
        TOPIC = "councilcrm:Customer.RestrictionLifted"
        restriction_id: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.restrictions.pop(self.restriction_id)

    class PersonalDataErased(Event):
        TOPIC = "councilcrm:Customer.PersonalDataErased"
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.erased_at = self.occurred_at

    def _on_registered(self, event: Customer.Registered) -> None:
        self.council = event.council
        self.number = event.reference
        self.details: dict[str, Any] = {
            "name": event.name,
            "address": event.address,
            "phone": event.phone,
            "email": event.email,
            "preferred_contact": event.preferred_contact,
        }
        self.declarations: dict[int, Declaration] = {}
        self.restrictions: dict[int, Restriction] = {}
        self.erased_at: datetime | None = None
        self.counter = 0

    # -- decisions -------------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        council: str,
        number: str,
        occurred_at: datetime,
        actor: Actor,
        preferred_contact: ContactMethod,
        **details: str | None,
    ) -> Customer:
        """A new record; every personal detail must come sealed."""
        for name in PERSONAL_FIELDS:
            require_sealed(details.get(name), f"the customer's {name}")
        if not any(details.get(n) for n in PERSONAL_FIELDS):
            raise InvalidCommand("a customer record needs at least one detail")
        return cls._create(
            cls.Registered,
            id=customer_id(council, number),
            council=council,
            reference=number,
            preferred_contact=preferred_contact,
            occurred_at=occurred_at,
            actor=actor,
            **{n: details.get(n) for n in PERSONAL_FIELDS},
        )

    def _require_not_erased(self) -> None:
        if self.erased_at is not None:
            raise RecordErased(
                f"customer {self.number}'s personal data was erased on "
                f"{self.erased_at.date().isoformat()}: the record can no longer change"
            )

    def correct(
        self, *, changes: dict[str, Any], reason: str, occurred_at: datetime, actor: Actor
    ) -> None:
        self._require_not_erased()
        unknown = set(changes) - {*PERSONAL_FIELDS, "preferred_contact"}
        if unknown or not changes:
            raise InvalidCommand("say which details change: " + ", ".join(PERSONAL_FIELDS))
        for name in PERSONAL_FIELDS:
            if name in changes:
                require_sealed(changes[name], f"the customer's {name}")
        self.trigger_event(
            self.DetailsCorrected,
            changes=changes,
            reason=_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def declare(
        self,
        *,
        conduct: Conduct,
        reason: str,
        review_by: date,
        occurred_at: datetime,
        actor: Actor,
    ) -> int:
        self._require_not_erased()
        require_within_calendar(review_by, "the review date")
        if review_by <= occurred_at.date():
            raise InvalidCommand("a declaration's review date must be later than today")
        self.counter = self._next_id()
        declaration = Declaration(
            id=self.counter,
            conduct=conduct,
            reason=_text(reason, "the reason"),
            review_by=review_by,
            declared_by=actor.id,
            declared_at=occurred_at,
        )
        self.trigger_event(
            self.ConductDeclared, declaration=declaration, occurred_at=occurred_at, actor=actor
        )
        return declaration.id

    def withdraw(
        self, *, declaration_id: int, reason: str, occurred_at: datetime, actor: Actor
    ) -> None:
        if declaration_id not in self.declarations:
            raise InvalidCommand(f"customer {self.number} has no declaration {declaration_id}")
        self.trigger_event(
            self.DeclarationWithdrawn,
            declaration_id=declaration_id,
            reason=_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def restrict(
        self,
        *,
        channels: Collection[Channel],
        single_point_of_contact: str | None,
        until: date | None,
        review_by: date,
        reason: str,
        occurred_at: datetime,
        actor: Actor,
    ) -> int:
        self._require_not_erased()
        require_within_calendar(until, "the restriction's end date")
        require_within_calendar(review_by, "the review date")
        if not channels and not single_point_of_contact:
            raise InvalidCommand(
                "a restriction names the channels refused or a single point of contact"
            )
        today = occurred_at.date()
        if review_by <= today or (until is not None and until < today):
            raise InvalidCommand("a restriction's review date (and end) must be in the future")
        self.counter = self._next_id()
        restriction = Restriction(
            id=self.counter,
            channels=tuple(sorted(set(channels), key=lambda c: c.value)),
            single_point_of_contact=(single_point_of_contact or "").strip() or None,
            until=until,
            review_by=review_by,
            reason=_text(reason, "the reason"),
            imposed_by=actor.id,
            imposed_at=occurred_at,
        )
        self.trigger_event(
            self.RestrictionImposed,
            restriction=restriction,
            occurred_at=occurred_at,
            actor=actor,
        )
        return restriction.id

    def _next_id(self) -> int:
        return max([self.counter, *self.declarations, *self.restrictions]) + 1

    def _restriction(self, restriction_id: int) -> Restriction:
        try:
            return self.restrictions[restriction_id]
        except KeyError:
            raise InvalidCommand(
                f"customer {self.number} has no restriction {restriction_id} in force"
            ) from None

    def review(
        self,
        *,
        restriction_id: int,
        note: str,
        next_review: date,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        self._restriction(restriction_id)
        require_within_calendar(next_review, "the next review date")
        if next_review <= occurred_at.date():
            raise InvalidCommand("the next review date must be later than today")
        self.trigger_event(
            self.RestrictionReviewed,
            restriction_id=restriction_id,
            note=_text(note, "the review note"),
            next_review=next_review,
            occurred_at=occurred_at,
            actor=actor,
        )

    def lift(
        self, *, restriction_id: int, reason: str, occurred_at: datetime, actor: Actor
    ) -> None:
        self._restriction(restriction_id)
        self.trigger_event(
            self.RestrictionLifted,
            restriction_id=restriction_id,
            reason=_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def erase(self, *, reason: str, occurred_at: datetime, actor: Actor) -> None:
        self._require_not_erased()
        self.trigger_event(
            self.PersonalDataErased,
            reason=_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    # -- views -------------------------------------------------------------------------------

    def restrictions_in_force(self, on: date) -> list[Restriction]:
        return [r for r in self.restrictions.values() if r.in_force(on)]

    def reviews_overdue(self, on: date) -> list[Declaration | Restriction]:
        """Declarations and restrictions whose review date has passed."""
        found: list[Declaration | Restriction] = [
            *self.declarations.values(),
            *self.restrictions.values(),
        ]
        return [d for d in found if d.review_by < on]
