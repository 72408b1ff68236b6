"""Loading a request for a command and saving what the command decided: the two steps every
handler on a request shares (`commands/requests.py`, corrections, complaints, attachments,
notices), kept once so each acts on the version its caller saw and answers the same `Result`."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.errors import StaleVersion
from commands.ports import Ports
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.values import Actor


@dataclass(frozen=True, kw_only=True)
class Result:
    """What a successful command left behind."""

    request_id: UUID
    reference: str
    version: int
    position: int


@dataclass(frozen=True, kw_only=True)
class RequestCommand:
    """A command on one request. `expected_version`, when given, is the version the caller
    decided on (an HTTP `If-Match`): a request changed since is refused as a conflict."""

    council: str
    reference: str
    actor: Actor
    expected_version: int | None = None


def get_request(ports: Ports, council: str, reference: str) -> ServiceRequest:
    """The council's request with this reference as it stands; `RequestNotFound` if none."""
    return ports.get(request_id(council, reference), reference)


def load_request(ports: Ports, cmd: RequestCommand) -> ServiceRequest:
    """The request a command changes: refused at once when its record was disposed of (before
    anything is checked, sealed or kept for it); `StaleVersion` if it changed since the
    version the caller decided on."""
    request = get_request(ports, cmd.council, cmd.reference)
    request.require_changeable()
    if cmd.expected_version is not None and request.version != cmd.expected_version:
        raise StaleVersion(cmd.reference, expected=cmd.expected_version, current=request.version)
    return request


def save_request(ports: Ports, request: ServiceRequest, *others: ServiceRequest) -> Result:
    """Commits the request's new events (with `others`', all or none) and answers its result."""
    position = ports.save(request, *others)
    return Result(
        request_id=request.id,
        reference=request.reference,
        version=request.version,
        position=position,
    )
