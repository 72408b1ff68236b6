"""Customer notices: render the text, record that it was issued, hand it over for delivery.

Consistency (why this order, and why no notice is lost or issued twice):

1. **Record first.** The aggregate decides (each notice at most once; progress only while open;
   closure only after closure) and the `NoticeSent` event is committed with optimistic
   concurrency. That event *is* the record that the notice was issued: two senders racing
   record one notice, the other gets `NoticeRefused` or `ConcurrencyConflict`.
2. **Then hand over.** The rendered notice goes to a `Notifier`. The default adapter writes a row
   to the `notice_outbox` table, keyed by (request id, event version), so a repeated hand-over
   is a no-op; a sender then drains the outbox through the customer's channel (SMTP for
   email) and marks each row sent.
3. **Nothing lost between the two.** The event store and the outbox are separate transactions,
   so a crash after step 1 would leave a recorded notice without its outbox row. The
   watchdog's notice policy follows the event log from a checkpoint and hands every
   `NoticeSent` it reads to the notifier again (idempotent, as above): every recorded notice
   reaches the outbox at least once and is in it exactly once.

The other order (outbox row first, then the event) could leave a row for a notice the
aggregate then refused — a letter sent with no record of it — so the record comes first.
Delivery through SMTP is at least once: a crash between the server's acceptance and marking
the row sent resends that one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from commands.ports import Ports
from commands.request_store import RequestCommand, Result, get_request, save_request
from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from domain.errors import NoticeRefused
from domain.standards import deadline_of
from domain.values import ContactMethod, NoticeKind


@dataclass(frozen=True, kw_only=True)
class Notice:
    """A notice as issued: `request_id` and `version` (of its `NoticeSent`) identify it."""

    request_id: UUID
    council: str
    reference: str
    version: int
    notice: NoticeKind
    method: ContactMethod
    recipient: str | None
    text: str
    issued_at: datetime


class Notifier(Protocol):
    def deliver(self, notice: Notice) -> None:
        """Takes the notice for delivery; idempotent on (request_id, version)."""


@dataclass(frozen=True, kw_only=True)
class SendNotice(RequestCommand):
    """`text`: the notice as the caller rendered it (default: `render`)."""

    notice: NoticeKind
    about_version: int | None = None
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class NoticeOutcome:
    """`notice` is None when there was nothing to send: the customer left no contact method."""

    result: Result | None = None
    notice: Notice | None = None

    @property
    def sent(self) -> bool:
        return self.notice is not None


def send_notice(cmd: SendNotice, ports: Ports, notifier: Notifier) -> NoticeOutcome:
    council = ports.council(cmd.council)
    request = get_request(ports, cmd.council, cmd.reference)
    now = ports.now()
    subject = request.notice_subject(cmd.notice, cmd.about_version, now)
    text = cmd.text or render(request, council, cmd.notice, subject, now)
    if not request.send_notice(
        notice=cmd.notice, text=text, occurred_at=now, actor=cmd.actor, about_version=subject
    ):
        return NoticeOutcome()
    result = save_request(ports, request)
    notice = Notice(
        request_id=request.id,
        council=request.council,
        reference=request.reference,
        version=request.version,
        notice=cmd.notice,
        method=request.contact_method,
        recipient=request.recipient(),
        text=text,
        issued_at=now,
    )
    notifier.deliver(notice)
    return NoticeOutcome(result=result, notice=notice)


# -- the policy: when a request is acknowledged, delayed or closed, tell the customer ----------

REACTIONS = {
    "Acknowledged": NoticeKind.ACKNOWLEDGEMENT,
    "Delayed": NoticeKind.DELAY,
    "Closed": NoticeKind.CLOSURE,
    "LinkedAsDuplicate": NoticeKind.CLOSURE,
    "Referred": NoticeKind.REFERRAL,
}


def tell_customer_about(
    event_type: str, cmd: RequestCommand, version: int, ports: Ports, notifier: Notifier
) -> NoticeOutcome | None:
    """When a request is acknowledged, tell the customer its reference; when it is delayed,
    the reason and the new date; when it is closed, the outcome. None when the policy has
    nothing to do: not such an event, imported history (never notified), an acknowledgement
    or delay overtaken by a closure or a later delay, or a notice issued already."""
    kind = REACTIONS.get(event_type)
    if kind is None:
        return None
    request = get_request(ports, cmd.council, cmd.reference)
    if request.imported or _overtaken(request, kind, version):
        return None
    try:
        return send_notice(
            SendNotice(
                council=cmd.council,
                reference=cmd.reference,
                actor=cmd.actor,
                notice=kind,
                about_version=version,
            ),
            ports,
            notifier,
        )
    except NoticeRefused:
        return None


def _overtaken(request: ServiceRequest, kind: NoticeKind, version: int) -> bool:
    if kind in (NoticeKind.CLOSURE, NoticeKind.REFERRAL):
        return False
    if not request.is_open:
        return True
    return kind is NoticeKind.DELAY and max(request.delays) != version


# -- the texts ---------------------------------------------------------------------------------


def render(
    request: ServiceRequest,
    council: Council,
    notice: NoticeKind,
    subject: int | None,
    now: datetime,
) -> str:
    """The customer-facing text: always the reference; a delay's reason and new date; the
    outcome of a closure. Dates are the council's local dates, and never one already gone at
    `now`: an overdue request says so, with the new date an officer recorded if any."""
    ref = request.reference
    what = request.standard.category_name if request.standard else request.category
    if notice is NoticeKind.ACKNOWLEDGEMENT:
        body = (
            f"We have received your request about {what.lower()}. "
            f"Your reference number is {ref}.{_expected(request, council, now)}"
        )
    elif notice is NoticeKind.PROGRESS:
        body = (
            f"Your request {ref} ({what.lower()}) is still being worked on."
            f"{_expected(request, council, now)}"
        )
    elif notice is NoticeKind.DELAY:
        assert subject is not None
        reason, until = request.delay_details(subject)
        if request.standard is not None:  # a date that is not a business day rolls forward
            until = deadline_of(request.standard.calendar, until)[1]
        body = (
            f"Your request {ref} has been delayed: {reason}. "
            f"We now expect to complete it by {until:%A %-d %B %Y}."
        )
    elif notice is NoticeKind.REFERRAL:
        agency, contact = request.referral
        body = (
            f"Your request {ref} is a matter for {agency}, outside the council's "
            f"responsibility: we have referred it to them, and they now handle it. "
            f"You can contact them: {contact}."
        )
    elif request.duplicate_of is not None:
        body = (
            f"Your request {ref} has been closed as a duplicate: request "
            f"{request.duplicate_of} reports the same problem. We will tell you when "
            f"that request is closed."
        )
    else:
        body = _closure(request, council)
    return f"{council.name}: {body} Please quote {ref} if you contact us about it."


def _closure(request: ServiceRequest, council: Council) -> str:
    """The closure notice: the outcome (for a kind that closes with an outcome letter, such as
    a complaint, named as that letter), then the invitation to rate the service where the
    council's satisfaction policy asks for one."""
    ref = request.reference
    outcome = council.outcomes.get(request.outcome or "", request.outcome or "closed")
    letter = council.kind_rules(request.kind).outcome_letter
    if letter:
        body = f"This is {letter} {ref}. Outcome: {outcome}."
    else:
        body = f"Your request {ref} has been closed. Outcome: {outcome}."
    if council.satisfaction.invites(request.kind):
        low, high = council.satisfaction.scale
        body += (
            f" How did we do? Please rate our service from {low} (poor) to {high} "
            f"(excellent) by replying to this message or calling us, quoting {ref}."
        )
    return body


def _expected(request: ServiceRequest, council: Council, now: datetime) -> str:
    """The expected time frame, if there is one still ahead: the completion due instant, or,
    once that has gone, the latest new expected date an officer recorded (a delay)."""
    zone = ZoneInfo(
        request.standard.calendar.timezone if request.standard else council.calendar.timezone
    )
    if request.complete_by is not None and request.complete_by > now:
        return f" We expect to complete it by {request.complete_by.astimezone(zone):%A %-d %B %Y}."
    if request.complete_by is None:
        return ""
    expected = request.expected_completion()
    if expected is not None and expected > now:
        ahead = f" We now expect to complete it by {expected.astimezone(zone):%A %-d %B %Y}."
    else:
        ahead = " We will tell you as soon as we have a new expected date."
    return " It is taking longer than we said, and we are sorry for the delay." + ahead
