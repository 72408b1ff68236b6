"""Corrections to a request: reopen, recategorise, link a duplicate, refer to an external
agency. Each loads, lets the aggregate decide under the council's policy
(`domain/corrections.py`), and saves; a link saves the duplicate and its original together,
in one commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from commands.notices import NoticeOutcome, Notifier, SendNotice, send_notice
from commands.ports import Ports
from commands.request_store import (
    RequestCommand,
    Result,
    get_request,
    load_request,
    save_request,
)
from domain.bounds import require_identifier
from domain.corrections import (
    DUPLICATE_OUTCOME,
    REFERRED_OUTCOME,
    recategorisation,
    reopened_complete_by,
)
from domain.errors import NoticeRefused
from domain.values import NoticeKind


@dataclass(frozen=True, kw_only=True)
class ReopenRequest(RequestCommand):
    reason: str


@dataclass(frozen=True, kw_only=True)
class RecategoriseRequest(RequestCommand):
    category: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class LinkDuplicate(RequestCommand):
    """`reference` is the duplicate; `original` the request it repeats."""

    original: str
    reason: str = "the same problem as an earlier request"


@dataclass(frozen=True, kw_only=True)
class ReferRequest(RequestCommand):
    agency: str
    reason: str


def reopen_request(cmd: ReopenRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    request = load_request(ports, cmd)
    now = ports.now()
    request.reopen(
        reason=cmd.reason,
        complete_by=reopened_complete_by(request.standard, council.corrections, now),
        occurred_at=now,
        actor=cmd.actor,
    )
    return save_request(ports, request)


def recategorise_request(cmd: RecategoriseRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    require_identifier(cmd.category, "the category")
    request = load_request(ports, cmd)
    now = ports.now()
    change = recategorisation(
        council,
        category=cmd.category,
        channel=request.channel,
        kind=request.kind,
        urgent=request.urgent,
        current=request.standard,
        acknowledge_by=request.acknowledge_by,
        complete_by=request.complete_by,
        received_at=request.received_at,
        now=now,
        agreed_completion=request.agreed_completion,
    )
    request.recategorise(
        category=change.category,
        category_name=change.category_name,
        team=change.team,
        standard=change.standard,
        acknowledge_by=change.acknowledge_by,
        complete_by=change.complete_by,
        targets=change.targets.value,
        reason=cmd.reason,
        occurred_at=now,
        actor=cmd.actor,
    )
    return save_request(ports, request)


def link_duplicate(cmd: LinkDuplicate, ports: Ports) -> Result:
    """Closes the duplicate and records the link on both requests, in one commit."""
    ports.council(cmd.council)
    original_ref = cmd.original.strip().upper()
    duplicate = load_request(ports, cmd)
    original = get_request(ports, cmd.council, original_ref)
    duplicate.link_duplicate_of(
        original,
        reason=cmd.reason,
        outcome=DUPLICATE_OUTCOME,
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, duplicate, original)


def refer_request(cmd: ReferRequest, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    agency = council.agency(cmd.agency.strip())  # KeyError naming the directory
    request = load_request(ports, cmd)
    request.refer(
        agency=agency.code,
        agency_name=agency.name,
        contact=agency.contact,
        outcome=REFERRED_OUTCOME,
        reason=cmd.reason,
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


HANDLERS: dict[type[Any], Callable[[Any, Ports], Result]] = {
    ReopenRequest: reopen_request,
    RecategoriseRequest: recategorise_request,
    LinkDuplicate: link_duplicate,
    ReferRequest: refer_request,
}


def handle(cmd: Any, ports: Ports) -> Result:
    return HANDLERS[type(cmd)](cmd, ports)


# -- the notice policy for duplicates: their customers hear when the original closes -------


def tell_duplicates(
    event_type: str, cmd: RequestCommand, ports: Ports, notifier: Notifier
) -> list[tuple[str, NoticeOutcome]]:
    """When a request with duplicates closes, each duplicate's customer is told (once per
    link); a duplicate linked to a request already closed is told at once. Nothing for any
    other event. A notice issued already, or a request reopened meanwhile, sends nothing."""
    if event_type not in ("Closed", "DuplicateAttached"):
        return []
    original = get_request(ports, cmd.council, cmd.reference)
    if original.is_open or original.imported or not original.duplicates:
        return []
    council = ports.council(cmd.council)
    outcome = council.outcomes.get(original.outcome or "", original.outcome or "closed")
    outcomes: list[tuple[str, NoticeOutcome]] = []
    for reference in original.duplicates:
        text = (
            f"{council.name}: Request {original.reference}, which reports the same problem "
            f"as your request {reference}, has been closed. Outcome: {outcome}. "
            f"Please quote {reference} if you contact us about it."
        )
        try:
            outcomes.append(
                (
                    reference,
                    send_notice(
                        SendNotice(
                            council=cmd.council,
                            reference=reference,
                            actor=cmd.actor,
                            notice=NoticeKind.ORIGINAL_CLOSED,
                            text=text,
                        ),
                        ports,
                        notifier,
                    ),
                )
            )
        except NoticeRefused:
            continue
    return outcomes
