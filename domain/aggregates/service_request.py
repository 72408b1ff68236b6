"""The service request: one aggregate per request a resident makes, from lodgement to closure.

Public methods check the rules and raise a `DomainError` (nothing recorded); the events'
`apply` methods only mutate, because they run again on every replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.bounds import require_event_fields
from domain.errors import (
    AlreadyAcknowledged,
    EscalationRefused,
    InvalidCommand,
    NoticeRefused,
    RequestClosed,
)
from domain.personal import key_of, require_sealed
from domain.standards import ServiceStandard, close_of_day
from domain.values import (
    PERSONAL_FIELDS,
    Actor,
    Channel,
    ContactMethod,
    Customer,
    Location,
    NoteKind,
    NoticeKind,
    RequestKind,
    Status,
)

REQUEST_NAMESPACE = uuid.UUID("6f0c6b8e-8a52-4c55-9a43-5d1c4b0a7e21")


def request_id(council: str, reference: str) -> uuid.UUID:
    """The aggregate id of a council's request: the same reference always maps to the same id."""
    return uuid.uuid5(REQUEST_NAMESPACE, f"{council}/{reference.strip().upper()}")


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidCommand("an instant must carry its timezone")


def _require_text(text: str, what: str) -> str:
    if not text or not text.strip():
        raise InvalidCommand(f"{what} must not be empty")
    return text.strip()


class ServiceRequest(Aggregate):
    """A resident's request, with everything done about it recorded as events."""

    TOPIC = "councilcrm:ServiceRequest"

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: Actor

    class Lodged(Event, Aggregate.Created):
        TOPIC = "councilcrm:ServiceRequest.Lodged"
        council: str
        reference: str
        customer: Customer | None
        category: str
        team: str
        kind: RequestKind
        channel: Channel
        location: Location | None
        description: str
        urgent: bool
        discretionary: bool
        agreed_completion: date | None
        resolution_not_guaranteed: bool
        standard: ServiceStandard | None
        acknowledge_by: datetime | None
        complete_by: datetime | None
        imported: bool

        def apply(self, aggregate: Any) -> None:
            aggregate._on_lodged(self)

    Created = Lodged

    class Acknowledged(Event):
        TOPIC = "councilcrm:ServiceRequest.Acknowledged"

        def apply(self, aggregate: Any) -> None:
            aggregate.acknowledged_at = self.occurred_at
            aggregate.acknowledged_version = self.originator_version

    class Assigned(Event):
        TOPIC = "councilcrm:ServiceRequest.Assigned"
        team: str
        officer: str | None
        previous_team: str
        previous_officer: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.team = self.team
            aggregate.officer = self.officer

    class NoteAdded(Event):
        TOPIC = "councilcrm:ServiceRequest.NoteAdded"
        text: str
        note_kind: NoteKind
        channel: Channel | None

        def apply(self, aggregate: Any) -> None:
            aggregate.note_count += 1

    class Delayed(Event):
        TOPIC = "councilcrm:ServiceRequest.Delayed"
        reason: str
        until: date
        expected_completion: datetime
        awaiting_customer: bool
        complete_by: datetime | None

        def apply(self, aggregate: Any) -> None:
            aggregate.complete_by = self.complete_by
            aggregate.delay_count += 1
            aggregate.delays[self.originator_version] = (self.reason, self.until)

    class Escalated(Event):
        TOPIC = "councilcrm:ServiceRequest.Escalated"
        level: str
        from_level: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.level = self.level

    class Closed(Event):
        TOPIC = "councilcrm:ServiceRequest.Closed"
        outcome: str
        text: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status.CLOSED
            aggregate.closed_at = self.occurred_at
            aggregate.outcome = self.outcome
            aggregate.closed_version = self.originator_version

    class NoticeSent(Event):
        """A notice was issued to the customer: this event is the record that it was, and
        carries everything needed to deliver it (method, recipient, rendered text).
        `about_version` is the version of the event it reports (the acknowledgement, the
        delay, the closure); None for the progress notice."""

        TOPIC = "councilcrm:ServiceRequest.NoticeSent"
        notice: NoticeKind
        method: ContactMethod
        recipient: str | None
        text: str
        about_version: int | None

        def apply(self, aggregate: Any) -> None:
            aggregate.notices_sent.add(_notice_key(self.notice, self.about_version))

    def _on_lodged(self, event: ServiceRequest.Lodged) -> None:
        self.council = event.council
        self.reference = event.reference
        self.category = event.category
        self.kind = event.kind
        self.channel = event.channel
        self.location = event.location
        self.team = event.team
        self.officer: str | None = None
        self.urgent = event.urgent
        self.standard = event.standard
        self.lodged_at = event.occurred_at
        self.acknowledge_by = event.acknowledge_by
        self.complete_by = event.complete_by
        self.acknowledged_at: datetime | None = None
        self.status = Status.OPEN
        self.closed_at: datetime | None = None
        self.outcome: str | None = None
        self.roles = event.standard.escalation_roles if event.standard else ()
        self.level = self.roles[0] if self.roles else ""
        self.note_count = 0
        self.delay_count = 0
        self.customer = event.customer
        self.description = event.description
        self.imported = event.imported
        self.acknowledged_version: int | None = None
        self.closed_version: int | None = None
        self.delays: dict[int, tuple[str, date]] = {}
        self.notices_sent: set[tuple[str, int | None]] = set()

    # -- decisions -------------------------------------------------------------------------

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Records an event once its identifiers and free text are within bounds (a notice's
        text is the council's own rendering, recorded as it was sent)."""
        notice = event_class is self.NoticeSent
        require_event_fields({"actor": kwargs.get("actor")} if notice else kwargs)
        super().trigger_event(event_class, **kwargs)

    @classmethod
    def lodge(cls, *, occurred_at: datetime, actor: Actor, **fields: Any) -> ServiceRequest:
        """A new request; the caller has applied the council's lodgement policy and sealed the
        customer's personal data (their details and the description they gave)."""
        _require_aware(occurred_at)
        fields["description"] = _require_text(fields["description"], "the description")
        require_sealed(fields["description"], "the description")
        customer: Customer | None = fields.get("customer")
        for name in PERSONAL_FIELDS if customer else ():
            require_sealed(getattr(customer, name), f"the customer's {name}")
        require_event_fields({**fields, "actor": actor})
        return cls._create(
            cls.Lodged,
            id=request_id(fields["council"], fields["reference"]),
            occurred_at=occurred_at,
            actor=actor,
            **fields,
        )

    @property
    def data_key(self) -> uuid.UUID:
        """The key that seals this request's personal data: the customer's, or its own."""
        return key_of(self.description)

    @property
    def is_open(self) -> bool:
        return self.status is Status.OPEN

    def _require_open(self, doing: str) -> None:
        if not self.is_open:
            raise RequestClosed(f"request {self.reference} is closed: cannot {doing}")

    def acknowledge(self, *, occurred_at: datetime, actor: Actor) -> None:
        _require_aware(occurred_at)
        self._require_open("acknowledge it")
        if self.acknowledged_at is not None:
            raise AlreadyAcknowledged(
                f"request {self.reference} was acknowledged at {self.acknowledged_at.isoformat()}"
            )
        self.trigger_event(self.Acknowledged, occurred_at=occurred_at, actor=actor)

    def assign(
        self, *, team: str, officer: str | None, occurred_at: datetime, actor: Actor
    ) -> None:
        _require_aware(occurred_at)
        self._require_open("assign it")
        team = _require_text(team, "the team")
        officer = (officer or "").strip() or None
        if (team, officer) == (self.team, self.officer):
            raise InvalidCommand(
                f"request {self.reference} is already assigned to {team}"
                + (f" / {officer}" if officer else "")
            )
        self.trigger_event(
            self.Assigned,
            team=team,
            officer=officer or None,
            previous_team=self.team,
            previous_officer=self.officer,
            occurred_at=occurred_at,
            actor=actor,
        )

    def add_note(
        self,
        *,
        text: str,
        note_kind: NoteKind,
        channel: Channel | None,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """Notes stay allowed after closure: correspondence goes on being recorded. A note of
        contact received from the customer is their own words: it is recorded sealed."""
        _require_aware(occurred_at)
        if note_kind is NoteKind.INCOMING:
            require_sealed(text, "a note of the customer's own words")
        self.trigger_event(
            self.NoteAdded,
            text=_require_text(text, "a note's text"),
            note_kind=note_kind,
            channel=channel,
            occurred_at=occurred_at,
            actor=actor,
        )

    def delay(
        self,
        *,
        reason: str,
        until: date,
        awaiting_customer: bool = False,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """A new expected completion date, later than now; council policy says if it moves the
        completion due instant."""
        _require_aware(occurred_at)
        self._require_open("delay it")
        reason = _require_text(reason, "the reason for a delay")
        if self.standard is None:
            raise InvalidCommand(f"request {self.reference} has no service standard to delay")
        expected = close_of_day(self.standard.calendar, until)
        if expected <= occurred_at:
            raise InvalidCommand(
                f"the new expected completion date {until.isoformat()} is not later than now"
            )
        moves = self.standard.delay_moves_due
        self.trigger_event(
            self.Delayed,
            reason=reason,
            until=until,
            expected_completion=expected,
            awaiting_customer=awaiting_customer,
            complete_by=expected if moves else self.complete_by,
            occurred_at=occurred_at,
            actor=actor,
        )

    def next_level(self) -> str:
        """The level one above the current one in the chain recorded at lodgement."""
        index = self._level_index(self.level)
        if index + 1 >= len(self.roles):
            raise EscalationRefused(
                f"request {self.reference} is already at the top of the chain ({self.level})"
            )
        return self.roles[index + 1]

    def _level_index(self, role: str) -> int:
        try:
            return self.roles.index(role)
        except ValueError:
            chain = " → ".join(self.roles)
            raise EscalationRefused(f"{role!r} is not in the escalation chain ({chain})") from None

    def escalate(
        self, *, level: str | None, reason: str, occurred_at: datetime, actor: Actor
    ) -> None:
        """Refused unless the target is above the current level: two escalations to the
        same level record one."""
        _require_aware(occurred_at)
        self._require_open("escalate it")
        reason = _require_text(reason, "the reason for an escalation")
        target = level or self.next_level()
        if self._level_index(target) <= self._level_index(self.level):
            raise EscalationRefused(
                f"request {self.reference} is already at {self.level}: "
                f"{target} is not above it"
            )
        self.trigger_event(
            self.Escalated,
            level=target,
            from_level=self.level,
            reason=reason,
            occurred_at=occurred_at,
            actor=actor,
        )

    def close(
        self,
        *,
        outcome: str,
        text: str,
        outcomes: Collection[str],
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        _require_aware(occurred_at)
        if not self.is_open:
            raise RequestClosed(
                f"request {self.reference} is already closed ({self.outcome}) "
                f"since {self.closed_at.isoformat() if self.closed_at else '?'}"
            )
        if outcome not in outcomes:
            raise InvalidCommand(
                f"unknown outcome {outcome!r} (accepted: {', '.join(sorted(outcomes))})"
            )
        self.trigger_event(
            self.Closed,
            outcome=outcome,
            text=_require_text(text, "the closing text"),
            occurred_at=occurred_at,
            actor=actor,
        )

    # -- customer notices ------------------------------------------------------------------

    @property
    def contact_method(self) -> ContactMethod:
        """How the customer asked to hear back; NONE when they left no way to reach them."""
        return self.customer.preferred_contact if self.customer else ContactMethod.NONE

    def recipient(self) -> str | None:
        """The customer's detail for their preferred method, if they gave one (sealed)."""
        c = self.customer
        return None if c is None else c.detail_for(c.preferred_contact)

    def notice_subject(self, notice: NoticeKind, about_version: int | None = None) -> int | None:
        """The version of the event a notice of this kind would report (None for progress),
        or `NoticeRefused`: each notice is issued at most once (a delay notice once per delay),
        progress and delay notices only while open, a closure notice only after closure."""
        if notice is NoticeKind.PROGRESS:
            self._require_open_for_notice(notice)
            subject = None
        elif notice is NoticeKind.ACKNOWLEDGEMENT:
            if self.acknowledged_version is None:
                raise NoticeRefused(f"request {self.reference} has not been acknowledged")
            subject = self.acknowledged_version
        elif notice is NoticeKind.CLOSURE:
            if self.closed_version is None:
                raise NoticeRefused(f"request {self.reference} is not closed")
            subject = self.closed_version
        else:
            self._require_open_for_notice(notice)
            subject = self._delay_version(about_version)
        if _notice_key(notice, subject) in self.notices_sent:
            raise NoticeRefused(
                f"the {notice.value} notice of request {self.reference} was issued already"
            )
        return subject

    def delay_details(self, version: int) -> tuple[str, date]:
        """The reason and the new expected date the delay recorded at `version` gave."""
        return self.delays[self._delay_version(version)]

    def _require_open_for_notice(self, notice: NoticeKind) -> None:
        if not self.is_open:
            raise NoticeRefused(
                f"request {self.reference} is closed: no {notice.value} notice to send"
            )

    def _delay_version(self, about_version: int | None) -> int:
        if not self.delays:
            raise NoticeRefused(f"request {self.reference} has no delay to report")
        if about_version is None:
            return max(self.delays)
        if about_version not in self.delays:
            raise NoticeRefused(f"request {self.reference} has no delay at version {about_version}")
        return about_version

    def send_notice(
        self,
        *,
        notice: NoticeKind,
        text: str,
        occurred_at: datetime,
        actor: Actor,
        about_version: int | None = None,
    ) -> bool:
        """Records the notice as issued, through the customer's preferred method. Returns False,
        recording nothing, when the customer left no contact method: there is no one to tell."""
        _require_aware(occurred_at)
        subject = self.notice_subject(notice, about_version)
        if self.contact_method is ContactMethod.NONE:
            return False
        self.trigger_event(
            self.NoticeSent,
            notice=notice,
            method=self.contact_method,
            recipient=self.recipient(),
            text=_require_text(text, "a notice's text"),
            about_version=subject,
            occurred_at=occurred_at,
            actor=actor,
        )
        return True


def _notice_key(notice: NoticeKind, about_version: int | None) -> tuple[str, int | None]:
    """What makes a notice unique: its kind, and for a delay notice which delay it reports."""
    return notice.value, about_version if notice is NoticeKind.DELAY else None
