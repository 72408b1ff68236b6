"""Commands of complaint handling and of the customer's rating of the service.

Complaints (seed 001 §4–5; seed 002): who a complaint is about (that officer never works it),
the internal review of its outcome and the referral to the Ombudsman, each recorded with its
date. Satisfaction (seed 003, Measures 1.1): the customer's 1–5 rating after closure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from commands.ports import Ports
from commands.request_store import RequestCommand, Result, load_request, save_request
from commands.users import require_known_officer
from domain.bounds import require_free_text, require_identifier


@dataclass(frozen=True, kw_only=True)
class RecordComplaintSubject(RequestCommand):
    officer: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RequestReview(RequestCommand):
    """The customer asked, on `on`, for an internal review of the complaint's outcome."""

    on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class DecideReview(RequestCommand):
    """The review's finding (`decision`: an outcome complaints may take), decided on `on`."""

    on: date
    decision: str
    text: str


@dataclass(frozen=True, kw_only=True)
class ReferToOmbudsman(RequestCommand):
    on: date
    reason: str
    ombudsman_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordSatisfaction(RequestCommand):
    """The customer's rating, 1 to 5 on the council's scale, with their comment if any."""

    score: int
    comment: str | None = None


def record_complaint_subject(cmd: RecordComplaintSubject, ports: Ports) -> Result:
    officer = cmd.officer.strip()
    require_identifier(officer, "the officer's id")
    require_known_officer(ports.directory, ports.council(cmd.council), officer)
    request = load_request(ports, cmd)
    request.record_complaint_subject(
        officer=officer, reason=cmd.reason, occurred_at=ports.now(), actor=cmd.actor
    )
    return save_request(ports, request)


def request_review(cmd: RequestReview, ports: Ports) -> Result:
    request = load_request(ports, cmd)
    request.request_review(on=cmd.on, reason=cmd.reason, occurred_at=ports.now(), actor=cmd.actor)
    return save_request(ports, request)


def decide_review(cmd: DecideReview, ports: Ports) -> Result:
    council = ports.council(cmd.council)
    request = load_request(ports, cmd)
    request.decide_review(
        on=cmd.on,
        decision=cmd.decision,
        text=cmd.text,
        outcomes=council.outcomes_for(request.kind).keys(),
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


def refer_to_ombudsman(cmd: ReferToOmbudsman, ports: Ports) -> Result:
    request = load_request(ports, cmd)
    request.refer_to_ombudsman(
        on=cmd.on,
        ombudsman_reference=cmd.ombudsman_reference,
        reason=cmd.reason,
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


def record_satisfaction(cmd: RecordSatisfaction, ports: Ports) -> Result:
    """The rating; the customer's comment is their own words, sealed under the request's key."""
    council = ports.council(cmd.council)
    council.satisfaction.check_score(cmd.score)  # bad input, before anything is read
    request = load_request(ports, cmd)
    now = ports.now()
    comment: str | None = None
    if cmd.comment is not None and cmd.comment.strip():
        require_free_text(cmd.comment, "the customer's comment")
        comment = ports.vault.sealer(request.data_key, cmd.council, now).seal(cmd.comment.strip())
    request.record_satisfaction(
        score=cmd.score,
        comment=comment,
        scale=council.satisfaction.scale,
        occurred_at=now,
        actor=cmd.actor,
    )
    return save_request(ports, request)


HANDLERS: dict[type[Any], Callable[[Any, Ports], Result]] = {
    RecordComplaintSubject: record_complaint_subject,
    RequestReview: request_review,
    DecideReview: decide_review,
    ReferToOmbudsman: refer_to_ombudsman,
    RecordSatisfaction: record_satisfaction,
}


def handle(cmd: Any, ports: Ports) -> Result:
    return HANDLERS[type(cmd)](cmd, ports)
