"""The service request: one aggregate per request a resident makes, from lodgement to closure.

Public methods check the rules and raise a `DomainError` (nothing recorded); the events'
`apply` methods only mutate, because they run again on every replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate

from domain.attributes import FREE_TEXT
from domain.bounds import require_event_fields, require_within_calendar
from domain.errors import (
    AlreadyAcknowledged,
    DisposalRefused,
    EscalationRefused,
    InvalidCommand,
    NoticeRefused,
    RequestClosed,
    RequestDisposed,
    SubjectOfficerRefused,
)
from domain.horizon import require_within_horizon
from domain.personal import key_of, require_sealed
from domain.retention import RetentionClass, disposal_due
from domain.standards import ServiceStandard, calendar_for, date_gone, deadline_of
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

ESCALATION_STANDARDS = ("acknowledgement", "completion", "urgent", "discretionary")
PUBLIC_DESCRIPTION_MAX = 4000  # Open311's limit on a description
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

    # What the corrections record (see the events below); defaults for every request.
    duplicate_of: str | None = None
    duplicates: tuple[str, ...] = ()
    duplicate_version: int | None = None
    referred_to: str | None = None
    referral_version: int | None = None
    referral: tuple[str, str] = ("", "")  # the agency's name and contact, as the customer is told
    reopen_count = 0

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: Actor

    class Lodged(Event, Aggregate.Created):
        """Version 2 added `media_url` (a link the client gave, never fetched); version 1
        events read back with none."""

        TOPIC = "councilcrm:ServiceRequest.Lodged"
        class_version = 2
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
        media_url: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["media_url"] = None

        # When the council received it (the standards count from it); absent on older events.
        received_at: datetime | None = None
        # The answers to the category's attributes, as asked (`domain.attributes`); free-text
        # answers sealed. Absent on older events and where none were given.
        attributes: list[dict[str, Any]] | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate._on_lodged(self)

    Created = Lodged

    class Acknowledged(Event):
        TOPIC = "councilcrm:ServiceRequest.Acknowledged"

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)
            aggregate.acknowledged_at = self.occurred_at
            aggregate.acknowledged_version = self.originator_version

    class Assigned(Event):
        TOPIC = "councilcrm:ServiceRequest.Assigned"
        team: str
        officer: str | None
        previous_team: str
        previous_officer: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)
            aggregate.team = self.team
            aggregate.officer = self.officer

    class NoteAdded(Event):
        TOPIC = "councilcrm:ServiceRequest.NoteAdded"
        text: str
        note_kind: NoteKind
        channel: Channel | None

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)
            aggregate.note_count += 1

    class Delayed(Event):
        TOPIC = "councilcrm:ServiceRequest.Delayed"
        reason: str
        until: date
        expected_completion: datetime
        awaiting_customer: bool
        complete_by: datetime | None

        def apply(self, aggregate: Any) -> None:
            standard = aggregate.standard
            if not self.awaiting_customer:  # another wait on the customer keeps the clock stopped
                aggregate._resume_clock(self.occurred_at)
            if standard is None or standard.delay_moves_due:
                aggregate.completion_due = self.complete_by
            if (
                self.awaiting_customer
                and standard is not None
                and standard.awaiting_customer_pauses
            ):
                aggregate.paused_at = self.occurred_at
            aggregate.complete_by = self.complete_by
            aggregate.delay_count += 1
            aggregate.delays[self.originator_version] = (self.reason, self.until)
            aggregate.expected = self.expected_completion

    class Escalated(Event):
        TOPIC = "councilcrm:ServiceRequest.Escalated"
        level: str
        from_level: str
        reason: str
        # Which standard's breach caused it (see ESCALATION_STANDARDS; None: a person's
        # decision) and the due instant that was missed; absent on older events.
        standard: str | None = None
        due: datetime | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)
            aggregate.level = self.level
            if self.standard == "acknowledgement":
                aggregate.acknowledgement_escalated = True
            if self.standard == "urgent":
                aggregate.urgent_escalations[self.originator_version] = (
                    self.level,
                    self.occurred_at,
                )

    class Closed(Event):
        TOPIC = "councilcrm:ServiceRequest.Closed"
        outcome: str
        text: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)
            aggregate.status = Status.CLOSED
            aggregate.closed_at = self.occurred_at
            aggregate.outcome = self.outcome
            aggregate.closed_version = self.originator_version

    class PublicDescriptionApproved(Event):
        """Staff approved `text` as what the public may read of the request (the resident's
        own description stays sealed and is never shown publicly)."""

        TOPIC = "councilcrm:ServiceRequest.PublicDescriptionApproved"
        text: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)
            aggregate.public_description = self.text

    class AttachmentAdded(Event):
        """A document kept with the request (seed 002: "documentation and forms associated
        with the request will be housed in the CRM system"): its content's SHA-256, the name
        of its sealed bytes in the file store, its media type and size; the file name sealed."""

        TOPIC = "councilcrm:ServiceRequest.AttachmentAdded"
        sha256: str
        blob: str
        media_type: str
        size: int
        filename: str
        note: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # an action: it ends a customer pause

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
            if self.notice is NoticeKind.PROGRESS:
                aggregate.last_progress_at = self.occurred_at

    class Disposed(Event):
        """The disposal certificate: the request's retention period ran out and its personal
        data was erased (`erased`: whose data key was destroyed, the customer's record or the
        request's own), on `reason`, under the council's retention class as it then stood.
        `asked_for` is the reference the records officer named (a customer's other requests
        past their retention are disposed of with it: their data shares the customer's key)."""

        TOPIC = "councilcrm:ServiceRequest.Disposed"
        reason: str
        retention_class: str
        retention_years: int
        citation: str
        due_on: date
        customer: str | None
        erased: str
        asked_for: str

        def apply(self, aggregate: Any) -> None:
            aggregate.disposed_at = self.occurred_at

    # -- complaints and satisfaction (domain/kinds.py) -----------------------------------------

    class ComplaintSubjectRecorded(Event):
        """Who a complaint is about: that officer may never be assigned it."""

        TOPIC = "councilcrm:ServiceRequest.ComplaintSubjectRecorded"
        officer: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.subject_officer = self.officer

    class ComplaintReviewRequested(Event):
        """The customer asked for an internal review of the complaint's outcome, on `on`."""

        TOPIC = "councilcrm:ServiceRequest.ComplaintReviewRequested"
        on: date
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.review_requested_on = self.on

    class ComplaintReviewDecided(Event):
        """The internal review's finding (an outcome of the kind), decided on `on`."""

        TOPIC = "councilcrm:ServiceRequest.ComplaintReviewDecided"
        on: date
        decision: str
        text: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.review_decided_on = self.on
            aggregate.review_decision = self.decision

    class ComplaintReferredToOmbudsman(Event):
        """The complaint went to the Ombudsman on `on` (`ombudsman_reference`: theirs)."""

        TOPIC = "councilcrm:ServiceRequest.ComplaintReferredToOmbudsman"
        on: date
        ombudsman_reference: str | None
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.ombudsman_on = self.on

    class SatisfactionRecorded(Event):
        """The customer's rating of the service after closure; their comment is their own
        words, sealed under the request's data key."""

        TOPIC = "councilcrm:ServiceRequest.SatisfactionRecorded"
        score: int
        comment: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.satisfaction_score = self.score

    class AlertTaken(Event):
        """A member of staff took the staff alert `alert` (the board's number) raised to `role`
        for the urgent escalation recorded at `about_version`: who took it and when are the
        event's actor and instant. Internal, like a notice: it does not end a customer pause."""

        TOPIC = "councilcrm:ServiceRequest.AlertTaken"
        alert: int
        role: str
        about_version: int

        def apply(self, aggregate: Any) -> None:
            aggregate.alerts_taken = (*aggregate.alerts_taken, self.alert)

    # Absent until the events above record them (class defaults: no replay needed).
    alerts_taken: tuple[int, ...] = ()
    subject_officer: str | None = None
    review_requested_on: date | None = None
    review_decided_on: date | None = None
    review_decision: str | None = None
    ombudsman_on: date | None = None
    satisfaction_score: int | None = None

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
        self.received_at = event.received_at or event.occurred_at
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
        self.media_url = event.media_url
        self.attributes: list[dict[str, Any]] = list(event.attributes or ())
        self.public_description: str | None = None
        self.imported = event.imported
        self.acknowledged_version: int | None = None
        self.closed_version: int | None = None
        self.delays: dict[int, tuple[str, date]] = {}
        self.notices_sent: set[tuple[str, int | None]] = set()
        self.last_progress_at: datetime | None = None
        self.urgent_escalations: dict[int, tuple[str, datetime]] = {}
        self.expected: datetime | None = None
        self.agreed_completion = event.agreed_completion
        self.discretionary = event.discretionary
        # The completion due instant as its standard counts it: a customer pause (a delay
        # awaiting the customer, where the council's policy says so) stops the clock at
        # `paused_at`, and the next action restarts it with the whole business days that were
        # left. The SLA view applies the same rule (`projections/sla.py`).
        self.completion_due: datetime | None = event.complete_by
        self.paused_at: datetime | None = None
        self.acknowledgement_escalated = False
        self.disposed_at: datetime | None = None

    def _resume_clock(self, at: datetime) -> None:
        """Any action but a notice or an alert taken ends a customer pause (see
        `completion_due`)."""
        paused, self.paused_at = self.paused_at, None
        due, standard = self.completion_due, self.standard
        if paused is None or due is None or standard is None or due <= paused:
            return
        calendar = calendar_for(standard.calendar)
        self.completion_due = calendar.add_business_days(
            at, calendar.business_days_left(paused, due)
        )

    # -- decisions -------------------------------------------------------------------------

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Records an event once its identifiers and free text are within bounds (a notice's
        text is the council's own rendering, recorded as it was sent)."""
        self.require_changeable()
        notice = event_class is self.NoticeSent
        require_event_fields({"actor": kwargs.get("actor")} if notice else kwargs)
        super().trigger_event(event_class, **kwargs)

    def require_changeable(self) -> None:
        """A disposed record is closed for good: every change to it is refused."""
        disposed = getattr(self, "disposed_at", None)
        if disposed is not None:
            raise RequestDisposed(
                f"request {self.reference} was disposed of on {disposed.date().isoformat()} "
                "at the end of its retention: nothing more can be recorded on it"
            )

    @classmethod
    def lodge(cls, *, occurred_at: datetime, actor: Actor, **fields: Any) -> ServiceRequest:
        """A new request; the caller has applied the council's lodgement policy and sealed the
        customer's personal data (their details and the description they gave)."""
        _require_aware(occurred_at)
        fields["description"] = _require_text(fields["description"], "the description")
        require_sealed(fields["description"], "the description")
        for answer in fields.get("attributes") or ():
            if answer["datatype"] in FREE_TEXT:
                require_sealed(answer["value"], f"the answer to attribute {answer['code']}")
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
        if officer is not None and officer == self.subject_officer:
            raise SubjectOfficerRefused(
                f"complaint {self.reference} is about {officer}: it cannot be assigned to them"
            )
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
        horizon_days: int,
        awaiting_customer: bool = False,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """A new expected completion date, later than now and at most `horizon_days` ahead
        (the council's `due_date_horizon_days`); council policy says if it moves the
        completion due instant."""
        _require_aware(occurred_at)
        require_within_calendar(until, "the new expected completion date")
        self._require_open("delay it")
        reason = _require_text(reason, "the reason for a delay")
        if self.standard is None:
            raise InvalidCommand(f"request {self.reference} has no service standard to delay")
        require_within_horizon(
            until,
            horizon_days=horizon_days,
            now=occurred_at,
            timezone=self.standard.calendar.timezone,
            what="the new expected completion date",
        )
        expected, _ = deadline_of(self.standard.calendar, until)
        if date_gone(self.standard.calendar, until, occurred_at):
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

    def escalate_urgent_at_lodgement(self, *, actor: Actor) -> bool:
        """Seed 002 step 7: an urgent request goes to the council's urgent role at once, in the
        lodgement itself. False (nothing recorded) when it is not urgent or has no urgent role
        above its first level."""
        standard = self.standard
        role = standard.urgent_role if standard else None
        if not self.urgent or role is None or role not in self.roles[1:]:
            return False
        self.escalate(
            level=role,
            reason=f"urgent request: immediate contact with the {role}",
            standard="urgent",
            due=self.received_at,
            occurred_at=self.lodged_at,
            actor=actor,
        )
        return True

    def urgent_escalation_at(self, version: int) -> tuple[str, datetime] | None:
        """The role and instant of the urgent escalation recorded at `version`, if it is one."""
        return self.urgent_escalations.get(version)

    def escalate(
        self,
        *,
        level: str | None,
        reason: str,
        occurred_at: datetime,
        actor: Actor,
        standard: str | None = None,
        due: datetime | None = None,
    ) -> None:
        """Refused unless the target is above the current level: two escalations to the
        same level record one. `standard` and `due` say which breached standard (and which of
        its due instants) caused it; a person's own decision names none."""
        _require_aware(occurred_at)
        self._require_open("escalate it")
        if self.standard is not None and not self.standard.escalates:
            raise EscalationRefused(f"a {self.kind.value} is never escalated ({self.reference})")
        reason = _require_text(reason, "the reason for an escalation")
        if standard is not None and standard not in ESCALATION_STANDARDS:
            raise InvalidCommand(
                f"unknown standard {standard!r} (known: {', '.join(ESCALATION_STANDARDS)})"
            )
        if due is not None:
            _require_aware(due)
        target = level or self.next_level()
        if self._level_index(target) <= self._level_index(self.level):
            raise EscalationRefused(
                f"request {self.reference} is already at {self.level}: {target} is not above it"
            )
        if standard is not None:
            due = self._require_breached(standard, target, occurred_at)
        self.trigger_event(
            self.Escalated,
            level=target,
            from_level=self.level,
            reason=reason,
            standard=standard,
            due=due,
            occurred_at=occurred_at,
            actor=actor,
        )

    def escalation_due(self, standard: str, target: str) -> datetime | None:
        """When this request's own recorded state says the breach of `standard` takes it to
        `target`; None when that standard does not (or no longer) apply — met, paused, imported,
        or no such step. The same ladder as the SLA view's (`projections.sla.next_escalation`):
        an urgent request goes to the urgent role at once; a missed acknowledgement to its
        role its configured business days after it fell due; a discretionary request to its
        role when its agreed date is missed; otherwise each level its configured business days
        after the completion due instant (shifted by any customer pause)."""
        s = self.standard
        if s is None or self.imported or not self.is_open:
            return None
        if standard == "urgent":
            return self.received_at if self.urgent and target == s.urgent_role else None
        if self.paused_at is not None:
            return None
        calendar = calendar_for(s.calendar)
        if standard == "acknowledgement":
            if (
                self.acknowledge_by is None
                or self.acknowledged_at is not None
                or self.acknowledgement_escalated
            ):
                return None
            return calendar.add_business_days_after_due(
                self.acknowledge_by, s.acknowledge_escalation_after_days
            )
        if self.completion_due is None:
            return None
        if standard == "discretionary":
            return self.completion_due if self.discretionary else None
        after = s.escalation_after_days or (0,) * len(s.escalation_roles)
        index = self._level_index(target)
        return calendar.add_business_days_after_due(self.completion_due, int(after[index]))

    def _require_breached(self, standard: str, target: str, now: datetime) -> datetime:
        """The due instant the breach of `standard` took the request to `target` at, by its own
        recorded state; refused when that standard is not, or no longer, breached at `now` —
        a delay or a customer pause a lagging view had not seen yet, an acknowledgement."""
        due = self.escalation_due(standard, target)
        if due is None or now < due:
            when = f": the escalation to {target} falls due {due.isoformat()}" if due else ""
            raise EscalationRefused(
                f"request {self.reference}: its {standard} standard is not breached at "
                f"{now.isoformat()}{when}"
            )
        return due

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

    # -- retention and disposal --------------------------------------------------------------

    def disposal_due(self, retention: RetentionClass, timezone: str) -> date | None:
        """The first day this request's record may be disposed of; None while it is open."""
        return None if self.closed_at is None else disposal_due(self.closed_at, retention, timezone)

    def require_disposable(self, retention: RetentionClass, timezone: str, on: date) -> date:
        """The day its retention ran out, or `DisposalRefused`: open, already disposed of, or
        still within its retention period on `on`."""
        if self.disposed_at is not None:
            raise DisposalRefused(
                f"request {self.reference} was disposed of on {self.disposed_at.date().isoformat()}"
            )
        due = self.disposal_due(retention, timezone)
        if due is None:
            raise DisposalRefused(
                f"request {self.reference} is still open: a record is "
                "disposed of only after it is closed and its retention has run"
            )
        if on < due:
            raise DisposalRefused(
                f"request {self.reference} is kept until {due.isoformat()} "
                f"(retention class {retention.code}: {retention.years} years after closure)"
            )
        return due

    def dispose(
        self,
        *,
        retention: RetentionClass,
        timezone: str,
        reason: str,
        erased: str,
        asked_for: str,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """Records the disposal certificate, once the personal data is erased."""
        _require_aware(occurred_at)
        on = occurred_at.astimezone(ZoneInfo(timezone)).date()
        due = self.require_disposable(retention, timezone, on)
        self.trigger_event(
            self.Disposed,
            reason=_require_text(reason, "the reason for the disposal"),
            retention_class=retention.code,
            retention_years=retention.years,
            citation=retention.citation,
            due_on=due,
            customer=self.customer.number if self.customer else None,
            erased=erased,
            asked_for=asked_for,
            occurred_at=occurred_at,
            actor=actor,
        )

    def attach(
        self,
        *,
        sha256: str,
        blob: str,
        media_type: str,
        size: int,
        filename: str,
        note: str | None,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """Keeps a document with the request, open or closed (correspondence goes on); the
        file name arrives sealed (it may name the resident)."""
        _require_aware(occurred_at)
        require_sealed(filename, "an attachment's file name")
        for what, digest in (("sha256", sha256), ("blob", blob)):
            if len(digest) != 64 or digest.strip("0123456789abcdef"):
                raise InvalidCommand(f"an attachment's {what} must be a SHA-256 in hex")
        if size < 0:
            raise InvalidCommand("an attachment's size cannot be negative")
        self.trigger_event(
            self.AttachmentAdded,
            sha256=sha256,
            blob=blob,
            media_type=media_type,
            size=size,
            filename=filename,
            note=note.strip() if note and note.strip() else None,
            occurred_at=occurred_at,
            actor=actor,
        )

    def take_alert(
        self, *, alert: int, role: str, about_version: int, occurred_at: datetime, actor: Actor
    ) -> None:
        """Records that `actor` took the staff alert `alert` about the urgent escalation at
        `about_version`; once per alert, open or closed (the alert was raised while it was
        urgent). Refused for an alert about anything but an urgent escalation of this request."""
        _require_aware(occurred_at)
        if self.urgent_escalation_at(about_version) is None:
            raise InvalidCommand(
                f"request {self.reference} has no urgent escalation at version {about_version}"
            )
        if alert in self.alerts_taken:
            raise InvalidCommand(f"alert {alert} about {self.reference} was taken already")
        self.trigger_event(
            self.AlertTaken,
            alert=alert,
            role=role,
            about_version=about_version,
            occurred_at=occurred_at,
            actor=actor,
        )

    def approve_public_description(self, *, text: str, occurred_at: datetime, actor: Actor) -> None:
        """What the public may read of the request; allowed open or closed, and again to
        replace it. Refused when empty, too long for Open311 (4,000 characters), or unchanged."""
        _require_aware(occurred_at)
        text = _require_text(text, "the public description")
        if len(text) > PUBLIC_DESCRIPTION_MAX:
            raise InvalidCommand(
                f"the public description has {len(text)} characters; "
                f"at most {PUBLIC_DESCRIPTION_MAX}"
            )
        if text == self.public_description:
            raise InvalidCommand(f"request {self.reference} already shows this description")
        self.trigger_event(
            self.PublicDescriptionApproved, text=text, occurred_at=occurred_at, actor=actor
        )

    # -- corrections: reopen, recategorise, link a duplicate, refer (domain/corrections.py) --

    class Reopened(Event):
        """A closed request opened again, with the completion due instant policy gives it."""

        TOPIC = "councilcrm:ServiceRequest.Reopened"
        reason: str
        previous_outcome: str
        complete_by: datetime | None

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.status = Status.OPEN
            aggregate.closed_at = aggregate.outcome = aggregate.closed_version = None
            aggregate.referred_to = aggregate.referral_version = None
            aggregate.complete_by = aggregate.completion_due = self.complete_by
            aggregate.paused_at = None
            aggregate.reopen_count += 1

    class Recategorised(Event):
        """A new category, its team (the officer is cleared when the team changes) and the
        standard measured against from now on (the recorded one, or the new category's)."""

        TOPIC = "councilcrm:ServiceRequest.Recategorised"
        category: str
        category_name: str
        previous_category: str
        team: str
        previous_team: str
        officer: str | None
        standard: ServiceStandard | None
        acknowledge_by: datetime | None
        complete_by: datetime | None
        targets: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.category = self.category
            aggregate.team, aggregate.officer = self.team, self.officer
            aggregate.standard = self.standard
            aggregate.acknowledge_by = self.acknowledge_by
            aggregate.complete_by = self.complete_by
            if self.targets == "new":  # else the due instant it had stays (it knows of pauses)
                aggregate.completion_due = self.complete_by

    class LinkedAsDuplicate(Event):
        """Recorded on the duplicate: closed as a duplicate of `original` (a reference)."""

        TOPIC = "councilcrm:ServiceRequest.LinkedAsDuplicate"
        original: str
        outcome: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.status = Status.CLOSED
            aggregate.closed_at = self.occurred_at
            aggregate.outcome = self.outcome
            aggregate.closed_version = aggregate.duplicate_version = self.originator_version
            aggregate.duplicate_of = self.original

    class DuplicateAttached(Event):
        """Recorded on the original, in the same commit as the duplicate's link."""

        TOPIC = "councilcrm:ServiceRequest.DuplicateAttached"
        duplicate: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.duplicates = (*aggregate.duplicates, self.duplicate)

    class Referred(Event):
        """Outside the council's jurisdiction: referred to an external agency, and closed."""

        TOPIC = "councilcrm:ServiceRequest.Referred"
        agency: str
        agency_name: str
        contact: str
        outcome: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._resume_clock(self.occurred_at)  # any event but a notice ends a pause
            aggregate.status = Status.CLOSED
            aggregate.closed_at = self.occurred_at
            aggregate.outcome = self.outcome
            aggregate.closed_version = aggregate.referral_version = self.originator_version
            aggregate.referred_to = self.agency
            aggregate.referral = (self.agency_name, self.contact)

    def reopen(
        self, *, reason: str, complete_by: datetime | None, occurred_at: datetime, actor: Actor
    ) -> None:
        """Only a closed request, and not one closed as a duplicate (reopen its original)."""
        _require_aware(occurred_at)
        if self.is_open:
            raise InvalidCommand(f"request {self.reference} is open: nothing to reopen")
        if self.duplicate_of is not None:
            raise InvalidCommand(
                f"request {self.reference} was closed as a duplicate of "
                f"{self.duplicate_of}: reopen {self.duplicate_of} instead"
            )
        self.trigger_event(
            self.Reopened,
            reason=_require_text(reason, "the reason for reopening"),
            previous_outcome=self.outcome or "",
            complete_by=complete_by,
            occurred_at=occurred_at,
            actor=actor,
        )

    def recategorise(
        self,
        *,
        category: str,
        category_name: str,
        team: str,
        standard: ServiceStandard | None,
        acknowledge_by: datetime | None,
        complete_by: datetime | None,
        targets: str,
        reason: str,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        _require_aware(occurred_at)
        self._require_open("recategorise it")
        if category == self.category:
            raise InvalidCommand(f"request {self.reference} is already in category {category}")
        self.trigger_event(
            self.Recategorised,
            category=category,
            category_name=category_name,
            previous_category=self.category,
            team=team,
            previous_team=self.team,
            officer=self.officer if team == self.team else None,
            standard=standard,
            acknowledge_by=acknowledge_by,
            complete_by=complete_by,
            targets=targets,
            reason=_require_text(reason, "the reason for recategorising"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def link_duplicate_of(
        self,
        original: ServiceRequest,
        *,
        reason: str,
        outcome: str,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """Closes this request as a duplicate of `original` and records the link on both (the
        caller saves the two together). The original must not itself be a duplicate, and this
        request must be open and have no duplicates of its own."""
        _require_aware(occurred_at)
        self.require_changeable()
        original.require_changeable()
        if original.id == self.id:
            raise InvalidCommand(f"request {self.reference} cannot duplicate itself")
        self._require_open("link it as a duplicate")
        if original.duplicate_of is not None:
            raise InvalidCommand(
                f"request {original.reference} is itself a duplicate of "
                f"{original.duplicate_of}: link to {original.duplicate_of}"
            )
        if self.duplicates:
            raise InvalidCommand(
                f"request {self.reference} has duplicates of its own "
                f"({', '.join(self.duplicates)}): link them to "
                f"{original.reference} first, or link it the other way"
            )
        self.trigger_event(
            self.LinkedAsDuplicate,
            original=original.reference,
            outcome=outcome,
            reason=_require_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )
        original.trigger_event(
            original.DuplicateAttached,
            duplicate=self.reference,
            occurred_at=occurred_at,
            actor=actor,
        )

    def refer(
        self,
        *,
        agency: str,
        agency_name: str,
        contact: str,
        outcome: str,
        reason: str,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        _require_aware(occurred_at)
        self._require_open("refer it")
        self.trigger_event(
            self.Referred,
            agency=agency,
            agency_name=agency_name,
            contact=contact,
            outcome=outcome,
            reason=_require_text(reason, "the reason for the referral"),
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

    def notice_subject(
        self, notice: NoticeKind, about_version: int | None = None, now: datetime | None = None
    ) -> int | None:
        """The version of the event a notice of this kind would report (None for progress),
        or `NoticeRefused`: each notice is issued at most once (a delay notice once per delay),
        progress and delay notices only while open, a closure notice only after closure. A
        progress notice repeats, every `progress_notice_every_days` working days after the
        previous one (at `now`), where the standard says so."""
        if notice is NoticeKind.PROGRESS:
            self._require_open_for_notice(notice)
            if self.standard is not None and not self.standard.progress_notices:
                raise NoticeRefused(
                    f"a {self.kind.value} gets no progress notice ({self.reference})"
                )
            self._require_progress_due(now)
            return None
        elif notice is NoticeKind.ACKNOWLEDGEMENT:
            if self.acknowledged_version is None:
                raise NoticeRefused(f"request {self.reference} has not been acknowledged")
            subject = self.acknowledged_version
        elif notice is NoticeKind.CLOSURE:
            if self.closed_version is None:
                raise NoticeRefused(f"request {self.reference} is not closed")
            subject = self.closed_version
        elif notice in (NoticeKind.ORIGINAL_CLOSED, NoticeKind.REFERRAL):
            subject = self._correction_subject(notice)
        else:
            self._require_open_for_notice(notice)
            subject = self._delay_version(about_version)
        if _notice_key(notice, subject) in self.notices_sent:
            raise NoticeRefused(
                f"the {notice.value} notice of request {self.reference} was issued already"
            )
        return subject

    def _correction_subject(self, notice: NoticeKind) -> int:
        """The link (for the original's closure) or the referral a notice reports."""
        if notice is NoticeKind.ORIGINAL_CLOSED:
            if self.duplicate_version is None:
                raise NoticeRefused(f"request {self.reference} is not a duplicate")
            return self.duplicate_version
        if self.referral_version is None:
            raise NoticeRefused(f"request {self.reference} is not referred")
        return self.referral_version

    def expected_completion(self) -> datetime | None:
        """The new expected completion an officer recorded last (a delay), if any."""
        return self.expected

    def next_progress_notice(self) -> datetime | None:
        """When the next progress notice falls due (the calendar's one rule): N working days
        after receipt, then every M after the previous one; None when no (further) one is."""
        standard = self.standard
        if standard is None or not standard.progress_notice_days:
            return None
        calendar = calendar_for(standard.calendar)
        if self.last_progress_at is None:
            return calendar.add_business_days(self.received_at, standard.progress_notice_days)
        every = standard.progress_notice_every_days
        return calendar.add_business_days(self.last_progress_at, every) if every else None

    def _require_progress_due(self, now: datetime | None) -> None:
        if self.last_progress_at is None:
            return
        due = self.next_progress_notice()
        if due is None or now is None or now < due:
            raise NoticeRefused(
                f"the progress notice of request {self.reference} was issued already"
                + (f"; the next falls due {due.isoformat()}" if due else "")
            )

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
        subject = self.notice_subject(notice, about_version, occurred_at)
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

    # -- complaints and satisfaction -------------------------------------------------------

    def _require_complaint(self, doing: str) -> None:
        if self.kind is not RequestKind.COMPLAINT:
            raise InvalidCommand(
                f"request {self.reference} is a {self.kind.value}, not a complaint: cannot {doing}"
            )

    def _require_day_gone_by(self, day: date, occurred_at: datetime, what: str) -> None:
        zone = self.standard.calendar.timezone if self.standard else "UTC"
        if day > occurred_at.astimezone(ZoneInfo(zone)).date():
            raise InvalidCommand(f"{what} {day.isoformat()} is in the future")
        if day < self.received_at.astimezone(ZoneInfo(zone)).date():
            raise InvalidCommand(f"{what} {day.isoformat()} is before the complaint was received")

    def record_complaint_subject(
        self, *, officer: str, reason: str, occurred_at: datetime, actor: Actor
    ) -> None:
        """Records the officer a complaint is about. Refused while it is assigned to them
        (assign it to someone else first) or when it is about them already."""
        _require_aware(occurred_at)
        self._require_complaint("record who it is about")
        officer = _require_text(officer, "the officer complained about")
        if officer == self.subject_officer:
            raise InvalidCommand(
                f"complaint {self.reference} is already recorded as about {officer}"
            )
        if officer == self.officer:
            raise SubjectOfficerRefused(
                f"complaint {self.reference} is assigned to {officer}, whom it is about: "
                "assign it to another officer first"
            )
        self.trigger_event(
            self.ComplaintSubjectRecorded,
            officer=officer,
            reason=_require_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def request_review(self, *, on: date, reason: str, occurred_at: datetime, actor: Actor) -> None:
        """The customer asks for an internal review of a closed complaint's outcome (once)."""
        require_within_calendar(on, "the date the review was asked for")
        _require_aware(occurred_at)
        self._require_complaint("request an internal review")
        if self.is_open:
            raise InvalidCommand(
                f"complaint {self.reference} is still open: there is no outcome to review yet"
            )
        if self.review_requested_on is not None:
            raise InvalidCommand(
                f"an internal review of {self.reference} was requested on "
                f"{self.review_requested_on.isoformat()}"
            )
        self._require_day_gone_by(on, occurred_at, "the review request date")
        self.trigger_event(
            self.ComplaintReviewRequested,
            on=on,
            reason=_require_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def decide_review(
        self,
        *,
        on: date,
        decision: str,
        text: str,
        outcomes: Collection[str],
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """The internal review's finding: one of the complaint's outcomes, once."""
        require_within_calendar(on, "the date the review was decided")
        _require_aware(occurred_at)
        self._require_complaint("decide an internal review")
        if self.review_requested_on is None:
            raise InvalidCommand(f"no internal review of {self.reference} was requested")
        if self.review_decided_on is not None:
            raise InvalidCommand(
                f"the internal review of {self.reference} was decided on "
                f"{self.review_decided_on.isoformat()}"
            )
        if decision not in outcomes:
            raise InvalidCommand(
                f"unknown decision {decision!r} (accepted: {', '.join(sorted(outcomes))})"
            )
        self._require_day_gone_by(on, occurred_at, "the decision date")
        if on < self.review_requested_on:
            raise InvalidCommand("the decision date is before the review was requested")
        self.trigger_event(
            self.ComplaintReviewDecided,
            on=on,
            decision=decision,
            text=_require_text(text, "the decision's text"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def refer_to_ombudsman(
        self,
        *,
        on: date,
        ombudsman_reference: str | None,
        reason: str,
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """A closed complaint referred to the Ombudsman (once)."""
        require_within_calendar(on, "the date of the referral")
        _require_aware(occurred_at)
        self._require_complaint("refer it to the Ombudsman")
        if self.is_open:
            raise InvalidCommand(
                f"complaint {self.reference} is still open: close it with its "
                "outcome before referring it"
            )
        if self.ombudsman_on is not None:
            raise InvalidCommand(
                f"complaint {self.reference} was referred to the Ombudsman on "
                f"{self.ombudsman_on.isoformat()}"
            )
        self._require_day_gone_by(on, occurred_at, "the referral date")
        self.trigger_event(
            self.ComplaintReferredToOmbudsman,
            on=on,
            ombudsman_reference=(ombudsman_reference or "").strip() or None,
            reason=_require_text(reason, "the reason"),
            occurred_at=occurred_at,
            actor=actor,
        )

    def record_satisfaction(
        self,
        *,
        score: int,
        comment: str | None,
        scale: tuple[int, int],
        occurred_at: datetime,
        actor: Actor,
    ) -> None:
        """The customer's rating once the request is closed (one rating per request)."""
        _require_aware(occurred_at)
        if self.is_open:
            raise InvalidCommand(
                f"request {self.reference} is still open: the customer rates "
                "the service once it is closed"
            )
        if self.satisfaction_score is not None:
            raise InvalidCommand(
                f"request {self.reference} was rated already ({self.satisfaction_score})"
            )
        low, high = scale
        if isinstance(score, bool) or not low <= score <= high:
            raise InvalidCommand(f"a score is {low} to {high}, not {score}")
        if comment is not None:
            require_sealed(comment, "the customer's comment")
        self.trigger_event(
            self.SatisfactionRecorded,
            score=score,
            comment=comment,
            occurred_at=occurred_at,
            actor=actor,
        )


def _notice_key(notice: NoticeKind, about_version: int | None) -> tuple[str, int | None]:
    """What makes a notice unique: its kind, and which event it reports where a request can
    have several (delays; closures, referrals and links once reopened)."""
    once = notice in (NoticeKind.ACKNOWLEDGEMENT, NoticeKind.PROGRESS)
    return notice.value, None if once else about_version
