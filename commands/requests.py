"""Commands on service requests, one frozen dataclass and one handler each.

Each handler loads the request, lets the aggregate decide, and saves: a refusal raises before
anything is written; a concurrent change surfaces as `ConcurrencyConflict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from commands.ports import Ports
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.errors import InvalidCommand
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, NoteKind


@dataclass(frozen=True, kw_only=True)
class Result:
    """What a successful command left behind."""

    request_id: UUID
    reference: str
    version: int
    position: int


@dataclass(frozen=True, kw_only=True)
class RequestCommand:
    council: str
    reference: str
    actor: Actor


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
    reason: str
    level: str | None = None


@dataclass(frozen=True, kw_only=True)
class CloseRequest(RequestCommand):
    outcome: str
    text: str


def _saved(ports: Ports, request: ServiceRequest) -> Result:
    position = ports.save(request)
    return Result(
        request_id=request.id, reference=request.reference, version=request.version,
        position=position,
    )


def _load(ports: Ports, cmd: RequestCommand) -> ServiceRequest:
    return ports.get(request_id(cmd.council, cmd.reference), cmd.reference)


def lodge_request(cmd: LodgeRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    now = ports.now()
    fields = lodgement_fields(council, cmd.intake, "(pending)", now)
    fields["reference"] = ports.next_reference(council, now)
    return _saved(ports, ServiceRequest.lodge(occurred_at=now, actor=cmd.actor, **fields))


def acknowledge_request(cmd: AcknowledgeRequest, ports: Ports) -> Result:
    request = _load(ports, cmd)
    request.acknowledge(occurred_at=ports.now(), actor=cmd.actor)
    return _saved(ports, request)


def assign_request(cmd: AssignRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    if cmd.team not in council.teams:
        raise InvalidCommand(f"unknown team {cmd.team!r} (see `crm --council {council.id} teams`)")
    request = _load(ports, cmd)
    request.assign(team=cmd.team, officer=cmd.officer, occurred_at=ports.now(), actor=cmd.actor)
    return _saved(ports, request)


def add_note(cmd: AddNote, ports: Ports) -> Result:
    request = _load(ports, cmd)
    request.add_note(
        text=cmd.text, note_kind=cmd.note_kind, channel=cmd.channel,
        occurred_at=ports.now(), actor=cmd.actor,
    )
    return _saved(ports, request)


def delay_request(cmd: DelayRequest, ports: Ports) -> Result:
    request = _load(ports, cmd)
    request.delay(
        reason=cmd.reason, until=cmd.until, awaiting_customer=cmd.awaiting_customer,
        occurred_at=ports.now(), actor=cmd.actor,
    )
    return _saved(ports, request)


def escalate_request(cmd: EscalateRequest, ports: Ports) -> Result:
    request = _load(ports, cmd)
    request.escalate(level=cmd.level, reason=cmd.reason, occurred_at=ports.now(), actor=cmd.actor)
    return _saved(ports, request)


def close_request(cmd: CloseRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    request = _load(ports, cmd)
    request.close(
        outcome=cmd.outcome, text=cmd.text, outcomes=council.outcomes.keys(),
        occurred_at=ports.now(), actor=cmd.actor,
    )
    return _saved(ports, request)


HANDLERS: dict[type[Any], Callable[[Any, Ports], Result]] = {
    LodgeRequest: lodge_request,
    AcknowledgeRequest: acknowledge_request,
    AssignRequest: assign_request,
    AddNote: add_note,
    DelayRequest: delay_request,
    EscalateRequest: escalate_request,
    CloseRequest: close_request,
}


def handle(cmd: Any, ports: Ports) -> Result:
    """Runs the one handler of this command."""
    return HANDLERS[type(cmd)](cmd, ports)
