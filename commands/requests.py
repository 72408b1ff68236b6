"""Commands on service requests, one frozen dataclass and one handler each.

Each handler loads the request, lets the aggregate decide, and saves: a refusal raises before
anything is written; a concurrent change surfaces as `ConcurrencyConflict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from commands.alerts import alert_urgent
from commands.customers import likely_same, register_customer_sealing, sealed_details
from commands.customers import load as load_customer
from commands.ports import Ports, Sealer
from commands.request_store import RequestCommand as RequestCommand  # noqa: PLC0414
from commands.request_store import Result as Result  # noqa: PLC0414  (cmds.Result)
from commands.request_store import load_request, save_request
from commands.users import require_assignable
from domain.aggregates.customer import Customer, Restriction
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.attributes import FREE_TEXT
from domain.bounds import require_free_text, require_identifier
from domain.council import Council
from domain.errors import InvalidCommand
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, NoteKind


@dataclass(frozen=True, kw_only=True)
class LodgeRequest:
    council: str
    intake: Intake
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class AcknowledgeRequest(RequestCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class AssignRequest(RequestCommand):
    team: str
    officer: str | None = None


@dataclass(frozen=True, kw_only=True)
class AddNote(RequestCommand):
    text: str
    note_kind: NoteKind = NoteKind.ACTION
    channel: Channel | None = None


@dataclass(frozen=True, kw_only=True)
class DelayRequest(RequestCommand):
    reason: str
    until: date
    awaiting_customer: bool = False


@dataclass(frozen=True, kw_only=True)
class EscalateRequest(RequestCommand):
    """`level` is the absolute target (None: one above the current); `standard` and `due` name
    the breached standard and its missed due instant (None for a person's own decision)."""

    reason: str
    level: str | None = None
    standard: str | None = None
    due: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CloseRequest(RequestCommand):
    outcome: str
    text: str


@dataclass(frozen=True, kw_only=True)
class ApprovePublicDescription(RequestCommand):
    """Staff approve what the public may read of a request (Open311, the portal)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class Lodged(Result):
    """A lodgement's result: which customer record it links, any restriction on that
    customer's contact in force (flagged to staff, never a reason to refuse), and the other
    records likely of the same person (`likely_same`: a new record sharing a phone number or
    e-mail address with them; reported by every such lodgement, never merged here)."""

    customer: str | None
    restrictions: tuple[Restriction, ...] = ()
    likely_same: tuple[str, ...] = ()


def lodge_request(cmd: LodgeRequest, ports: Ports) -> Lodged:
    """Applies the council's lodgement policy to the plain intake, then records the request
    with the customer's details and description sealed: under the customer's own key (a new
    record for new details, or the record named), or for an anonymous request its own key."""
    council = ports.council(cmd.council)
    now = ports.now()
    fields = lodgement_fields(council, cmd.intake, "(pending)", now)
    fields["reference"] = reference = ports.next_reference(council, now)
    customer, sealer = _customer_of(council, cmd, ports)
    if sealer is None and customer:  # a record named: its key exists
        sealer = ports.vault.sealer(customer.id, council.id, now)
    elif sealer is None:  # anonymous: a key of its own, as new as its reference
        sealer = ports.vault.sealer(request_id(council.id, reference), council.id, now, new=True)
    fields["customer"] = sealed_details(customer) if customer else None
    fields["description"] = sealer.seal(fields["description"])
    if fields["attributes"]:  # free-text answers are the resident's own words: sealed too
        fields["attributes"] = [
            {**a, "value": sealer.seal(a["value"])} if a["datatype"] in FREE_TEXT else a
            for a in fields["attributes"]
        ]
    request = ServiceRequest.lodge(occurred_at=now, actor=cmd.actor, **fields)
    urgent = request.escalate_urgent_at_lodgement(actor=cmd.actor)
    saved = save_request(ports, request)
    if urgent:  # the urgent role hears of it now, not at the next sweep
        alert_urgent(request, request.version, ports.directory, ports.alerts)
    return Lodged(
        **vars(saved),
        customer=customer.number if customer else None,
        restrictions=tuple(customer.restrictions_in_force(now.date())) if customer else (),
        likely_same=_likely_same(cmd, ports, customer),
    )


def _likely_same(cmd: LodgeRequest, ports: Ports, customer: Customer | None) -> tuple[str, ...]:
    """For a record registered from the intake's details, the other records likely of the same
    person (a record named by number was chosen by staff: nothing to report)."""
    details = cmd.intake.customer
    if customer is None or details is None or cmd.intake.customer_number:
        return ()
    return likely_same(ports.vault, cmd.council, details, customer.number)


def _customer_of(
    council: Council, cmd: LodgeRequest, ports: Ports
) -> tuple[Customer | None, Sealer | None]:
    """The customer record the request links (and, for a record it has just registered, the
    sealer of the record's new key), or None for an anonymous request."""
    intake = cmd.intake
    if intake.customer_number:
        return load_customer(ports.directory, council.id, intake.customer_number), None
    if intake.customer is None or intake.customer.is_anonymous:
        return None, None
    return register_customer_sealing(
        council, intake.customer, cmd.actor, ports.directory, ports.vault
    )


def acknowledge_request(cmd: AcknowledgeRequest, ports: Ports) -> Result:
    request = load_request(ports, cmd)
    request.acknowledge(occurred_at=ports.now(), actor=cmd.actor)
    return save_request(ports, request)


def assign_request(cmd: AssignRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    if cmd.team not in council.teams:
        raise InvalidCommand(f"unknown team {cmd.team!r} (see `crm --council {council.id} teams`)")
    officer = (cmd.officer or "").strip() or None
    if officer is not None:
        require_identifier(officer, "the officer's id")
        require_assignable(ports.directory, council, officer, cmd.team)
    request = load_request(ports, cmd)
    request.assign(team=cmd.team, officer=officer, occurred_at=ports.now(), actor=cmd.actor)
    return save_request(ports, request)


def add_note(cmd: AddNote, ports: Ports) -> Result:
    """A note; contact received from the customer is their own words, sealed under the
    request's data key."""
    request = load_request(ports, cmd)
    now = ports.now()
    text: str | None = cmd.text
    if cmd.note_kind is NoteKind.INCOMING and cmd.text.strip():
        require_free_text(cmd.text, "a note's text")
        text = ports.vault.sealer(request.data_key, cmd.council, now).seal(cmd.text.strip())
    request.add_note(
        text=text or "",
        note_kind=cmd.note_kind,
        channel=cmd.channel,
        occurred_at=now,
        actor=cmd.actor,
    )
    return save_request(ports, request)


def delay_request(cmd: DelayRequest, ports: Ports) -> Result:
    request = load_request(ports, cmd)
    request.delay(
        reason=cmd.reason,
        until=cmd.until,
        horizon_days=ports.council(cmd.council).due_date_horizon_days,
        awaiting_customer=cmd.awaiting_customer,
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


def escalate_request(cmd: EscalateRequest, ports: Ports) -> Result:
    request = load_request(ports, cmd)
    request.escalate(
        level=cmd.level,
        reason=cmd.reason,
        standard=cmd.standard,
        due=cmd.due,
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


def close_request(cmd: CloseRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    request = load_request(ports, cmd)
    request.close(
        outcome=cmd.outcome,
        text=cmd.text,
        outcomes=council.outcomes_for(request.kind).keys(),
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


def approve_public_description(cmd: ApprovePublicDescription, ports: Ports) -> Result:
    request = load_request(ports, cmd)
    request.approve_public_description(text=cmd.text, occurred_at=ports.now(), actor=cmd.actor)
    return save_request(ports, request)


HANDLERS: dict[type[Any], Callable[[Any, Ports], Result]] = {
    LodgeRequest: lodge_request,
    AcknowledgeRequest: acknowledge_request,
    AssignRequest: assign_request,
    AddNote: add_note,
    DelayRequest: delay_request,
    EscalateRequest: escalate_request,
    CloseRequest: close_request,
    ApprovePublicDescription: approve_public_description,
}


def handle(cmd: Any, ports: Ports) -> Result:
    """Runs the one handler of this command."""
    return HANDLERS[type(cmd)](cmd, ports)
