"""Value objects shared by the service-request aggregate and its readers.

Plain `Enum`s (not `str` mixins): the event store's transcoder round-trips them only
through the transcodings registered for them, so a stored enum always comes back as
the same enum member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=Enum)


class Channel(Enum):
    """How the request reached the council (seed 002 lists the accepted intake channels)."""

    COUNTER = "counter"
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    FAX = "fax"  # seed 004: Greater Dandenong receives requests by mail, email and fax
    WEB_PORTAL = "web-portal"
    MOBILE_APP = "mobile-app"
    WEBCHAT = "webchat"
    SOCIAL_MEDIA = "social-media"
    OTHER = "other"


class RequestKind(Enum):
    """Seed 001 distinguishes requests, complaints, compliments and enquiries."""

    SERVICE_REQUEST = "service-request"
    COMPLAINT = "complaint"
    COMPLIMENT = "compliment"
    ENQUIRY = "enquiry"


class NoteKind(Enum):
    """What a note records: an internal action, a response sent, or contact received."""

    ACTION = "action"
    OUTGOING = "outgoing"
    INCOMING = "incoming"


class ContactMethod(Enum):
    """The customer's preferred way to hear back (seed 003)."""

    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    SMS = "sms"
    NONE = "none"


class NoticeKind(Enum):
    """What a notice to the customer tells them (seed 002: acknowledgement, the 15-working-day
    progress notice, a delay with its new time frame, the outcome)."""

    ACKNOWLEDGEMENT = "acknowledgement"
    PROGRESS = "progress"
    DELAY = "delay"
    CLOSURE = "closure"
    # Corrections: a duplicate's customer is told when the original closes; a referred
    # request's customer, who now handles it.
    ORIGINAL_CLOSED = "original-closed"
    REFERRAL = "referral"


class Status(Enum):
    OPEN = "open"
    CLOSED = "closed"


def parse_enum(enum_type: type[E], text: str, what: str) -> E:
    """The member whose value is `text` (case- and underscore-insensitive), or a ValueError
    naming the accepted values."""
    wanted = text.strip().lower().replace("_", "-")
    for member in enum_type:
        if member.value == wanted:
            return member
    accepted = ", ".join(m.value for m in enum_type)
    raise ValueError(f"unknown {what} {text!r} (accepted: {accepted})")


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who did it: an officer id (or a system process) and the role they acted in."""

    id: str
    role: str


PERSONAL_FIELDS = ("name", "address", "phone", "email")
# A phone number or e-mail address another customer record has makes it likely the same person
# (a name alone does not: residents share names); staff are told, and decide.
IDENTIFYING_FIELDS = ("phone", "email")
# A council that says nothing about identification: any one detail identifies the customer.
ANY_DETAIL: tuple[frozenset[str], ...] = tuple(frozenset({f}) for f in PERSONAL_FIELDS)


@dataclass(frozen=True, kw_only=True)
class Customer:
    """The customer's contact details; each is optional under the council's anonymity policy.

    As taken down (an `Intake`) they are plain text; as recorded on a request they are the
    sealed tokens of the customer's record (`domain.personal`), with `number` naming it."""

    name: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    preferred_contact: ContactMethod = ContactMethod.NONE
    number: str | None = None

    def identifies(self, rules: Sequence[frozenset[str]]) -> bool:
        """Whether these details identify the customer under a council's rules: each rule is a
        set of fields that together do (e.g. a name with a phone number)."""
        return any(all(getattr(self, f) for f in rule) for rule in rules)

    @property
    def is_anonymous(self) -> bool:
        """True when nothing identifies the customer or lets the council reach them."""
        return not any((self.name, self.address, self.phone, self.email))

    def detail_for(self, method: ContactMethod) -> str | None:
        """The detail that reaches the customer by `method` (None if they gave none)."""
        return {
            ContactMethod.EMAIL: self.email,
            ContactMethod.PHONE: self.phone,
            ContactMethod.SMS: self.phone,
            ContactMethod.LETTER: self.address,
        }.get(method)


class Conduct(Enum):
    """What a customer's conduct was declared to be (seed 001 §7.4.1–7.4.4)."""

    CANNOT_BE_SATISFIED = "cannot-be-satisfied"
    UNREASONABLE_DEMANDS = "unreasonable-demands"
    UNREASONABLE_PERSISTENCE = "unreasonable-persistence"
    ABUSIVE = "abusive"
    VEXATIOUS = "vexatious"


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where the problem is: a street address, a point, or both; with the council's own id of
    the address and its postcode when the client gave them (Open311 `address_id`, `zipcode`)."""

    address: str | None = None
    lat: float | None = None
    long: float | None = None
    address_id: str | None = None
    zipcode: str | None = None

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.long is None):
            raise ValueError("a location needs both latitude and longitude, or neither")
        if self.lat is not None and not -90 <= self.lat <= 90:
            raise ValueError(f"latitude {self.lat} is outside -90..90")
        if self.long is not None and not -180 <= self.long <= 180:
            raise ValueError(f"longitude {self.long} is outside -180..180")
