"""A council's policies, as configuration: the domain reads them, never hard-codes them.

Every figure here comes from the council's own documents (the configuration files cite
them); two councils may disagree on any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from domain.attributes import Attribute
from domain.calendar import CalendarSpec
from domain.correction_policy import Agency, CorrectionPolicy
from domain.kinds import DEFAULT_KINDS, KindRules, SatisfactionPolicy
from domain.permissions import BASE_ROLES, Permissions, default_permissions
from domain.retention import RetentionClass
from domain.values import ANY_DETAIL, Channel, RequestKind


class AnonymousPolicy(Enum):
    REFUSE = "refuse"
    ACCEPT_FLAGGED = "accept-flagged"


@dataclass(frozen=True, kw_only=True)
class Category:
    """A request category in the council's catalogue, with its service standard."""

    code: str
    name: str
    team: str
    complete_days: int | None = None
    acknowledge_days: int | None = None
    urgent: bool = False
    progress_notice_days: int | None = None
    at_risk_share: float | None = None
    imported: bool = False
    retention: str | None = None  # a class of the council's `[retention]`; None: its default
    # Open311 GeoReport v2 attributes: the extra questions asked about this kind of problem
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Team:
    code: str
    name: str


@dataclass(frozen=True, kw_only=True)
class EscalationStep:
    """A level of the escalation chain, due `after_breach_days` business days after a breach."""

    role: str
    after_breach_days: int


@dataclass(frozen=True, kw_only=True)
class AcknowledgementRule:
    """Business days to acknowledge, by intake channel (seed 001: letters and email in 1 day)."""

    default_days: int | None
    by_channel: Mapping[Channel, int] = field(default_factory=dict)
    # A missed acknowledgement raises the request to this role (one level up the chain at
    # most), this many business days after it fell due; None: it does not escalate.
    escalate_to: str | None = None
    escalate_after_days: int = 0

    def days_for(self, channel: Channel) -> int | None:
        return self.by_channel.get(channel, self.default_days)


# Seed 002 (Upper Lachlan): "communications that are not a customer service request" — the
# enquiry types a council that configures none records (`[enquiry_types]` replaces them).
SEED_002_ENQUIRY_TYPES: Mapping[str, str] = {
    "rates": "Rates enquiry",
    "planning": "Planning enquiry",
    "certificate": "Certificate application (s603, s149, s64)",
    "permit": "Permit application (s138, roadside grazing, road closure)",
    "road-closure": "Road closure information",
    "gipa": "Government Information (Public) Access application",
}


@dataclass(frozen=True, kw_only=True)
class AttachmentRule:
    """What a request's attachments may be: at most `max_bytes`, of these media types."""

    max_bytes: int = 10 * 1024 * 1024
    media_types: frozenset[str] = frozenset(
        {"application/pdf", "image/jpeg", "image/png", "text/plain"}
    )


@dataclass(frozen=True, kw_only=True)
class Council:
    """One council's configuration: catalogue, teams, chain, outcomes, calendar and policies."""

    id: str
    name: str
    state: str
    reference_prefix: str
    calendar: CalendarSpec
    categories: Mapping[str, Category]
    teams: Mapping[str, Team]
    escalation_chain: tuple[EscalationStep, ...]
    outcomes: Mapping[str, str]
    anonymous: AnonymousPolicy
    # What identifies a customer: any one of these sets of details, all given (council policy).
    identified_by: tuple[frozenset[str], ...] = ANY_DETAIL
    refused_channels: frozenset[Channel]
    acknowledgement: AcknowledgementRule
    progress_notice_days: int | None = 15
    progress_notice_every_days: int | None = None  # None: every `progress_notice_days`
    urgent_alert_ack_minutes: int | None = None  # None: an urgent alert never passes on
    at_risk_share: float = 0.8
    delay_moves_due: bool = True
    awaiting_customer_pauses: bool = False
    discretionary_role: str | None = None
    urgent_role: str | None = None
    description_max_chars: int = 2000
    # How many days ahead a user-set due date (an agreed completion, a delay's new date) may lie.
    due_date_horizon_days: int
    kpi_targets: Mapping[str, float] = field(default_factory=dict)
    permissions: Permissions = field(default_factory=Permissions)
    retention_classes: Mapping[str, RetentionClass] = field(default_factory=dict)
    retention_default: str | None = None
    source: str = ""
    corrections: CorrectionPolicy = field(default_factory=CorrectionPolicy)
    agencies: Mapping[str, Agency] = field(default_factory=dict)
    enquiry_types: Mapping[str, str] = field(default_factory=lambda: dict(SEED_002_ENQUIRY_TYPES))
    attachments: AttachmentRule = field(default_factory=AttachmentRule)
    # How each kind is handled (`[kinds.<kind>]`); kinds not named take `DEFAULT_KINDS`.
    kinds: Mapping[RequestKind, KindRules] = field(default_factory=dict)
    satisfaction: SatisfactionPolicy = field(default_factory=SatisfactionPolicy)

    def __post_init__(self) -> None:
        if not self.permissions.by_role:  # not configured: the seed-derived defaults
            object.__setattr__(self, "permissions", default_permissions(self.roles))

    @property
    def roles(self) -> tuple[str, ...]:
        """The escalation chain's roles, lowest first."""
        return tuple(step.role for step in self.escalation_chain)

    @property
    def staff_roles(self) -> tuple[str, ...]:
        """Every role a staff user may hold here: the base roles, the chain's, the table's."""
        known = [*BASE_ROLES, *self.roles, *self.permissions.roles]
        return tuple(dict.fromkeys(known))

    def kind_rules(self, kind: RequestKind) -> KindRules:
        """How requests of this kind are handled here."""
        return self.kinds.get(kind) or DEFAULT_KINDS[kind]

    def outcomes_for(self, kind: RequestKind) -> Mapping[str, str]:
        """The closure outcomes a request of this kind may take, with their labels."""
        allowed = self.kind_rules(kind).outcomes
        if not allowed:
            return self.outcomes
        return {code: self.outcomes[code] for code in allowed if code in self.outcomes}

    def category(self, code: str) -> Category:
        try:
            return self.categories[code]
        except KeyError:
            raise KeyError(
                f"unknown category {code!r} for council {self.id} "
                f"(see `crm --council {self.id} categories`)"
            ) from None

    def retention_of(self, category: str) -> RetentionClass | None:
        """The retention class of a category's requests (an imported category, or one naming
        none: the council's default); None when the council has configured no retention."""
        known = self.categories.get(category)
        code = (known.retention if known else None) or self.retention_default
        return self.retention_classes.get(code) if code else None

    def agency(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            known = ", ".join(sorted(self.agencies)) or "none configured"
            raise KeyError(
                f"unknown agency {code!r} for council {self.id} ({known}; "
                f"see `crm --council {self.id} agencies`)"
            ) from None

    def imported_category(self, name: str, team: str | None) -> Category:
        """A category for history imported from another system, named by its source text."""
        known = next((c for c in self.categories.values() if c.name == name), None)
        if known is not None:
            return known
        code = "imported:" + name.strip().lower()
        return Category(code=code, name=name, team=team or "imported", imported=True)
