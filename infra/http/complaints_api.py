"""The staff API's twins of `crm complaint …` and `crm satisfaction`: the same handlers and
view, with the staff API's `If-Match` and `Idempotency-Key` behaviour."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from commands import complaints as cmds
from infra import views
from infra.http.auth import Staff, runtime_of, staff
from infra.http.instants import Day
from infra.http.staff_api import (
    ERRORS,
    Body,
    IdempotencyKey,
    IfMatch,
    Outcome,
    Short,
    Text,
    _body,
    _outcome,
    _run_once,
    _version,
)

router = APIRouter(prefix="/api/v1", tags=["staff"], responses=ERRORS)


def _act(
    make: Callable[..., Any],
    reference: str,
    request: Request,
    response: Response,
    who: Staff,
    raw: bytes,
    if_match: str | None,
    idempotency_key: str | None,
    **fields: Any,
) -> dict[str, Any]:
    def act() -> dict[str, Any]:
        cmd = make(
            council=who.council.id,
            reference=reference.strip().upper(),
            actor=who.viewer.actor,
            expected_version=_version(if_match),
            **fields,
        )
        return _outcome(cmds.handle(cmd, runtime_of(request).ports))

    return _run_once(request, who, idempotency_key, raw, 200, act, response)


def _today(request: Request, who: Staff, given: date | None) -> date:
    if given is not None:
        return given
    return views.council_today(runtime_of(request), who.council)


class SubjectIn(Body):
    officer: Short
    reason: Text


class ReviewIn(Body):
    reason: Text
    on: Day | None = None


class ReviewDecisionIn(Body):
    decision: Short
    text: Text
    on: Day | None = None


class OmbudsmanIn(Body):
    reason: Text
    on: Day | None = None
    their_reference: Short | None = None


class SatisfactionIn(Body):
    score: Annotated[int, Field(strict=True)]
    comment: Text | None = None


Who = Annotated[Staff, Depends(staff("complaint"))]
Raw = Annotated[bytes, Depends(_body)]


@router.post("/requests/{reference}/complaint/subject", response_model=Outcome)
def subject(
    reference: str,
    body: SubjectIn,
    request: Request,
    response: Response,
    who: Who,
    raw: Raw,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Records the officer the complaint is about: they can never be assigned it."""
    return _act(
        cmds.RecordComplaintSubject,
        reference,
        request,
        response,
        who,
        raw,
        if_match,
        idempotency_key,
        officer=body.officer,
        reason=body.reason,
    )


@router.post("/requests/{reference}/complaint/review", response_model=Outcome)
def review(
    reference: str,
    body: ReviewIn,
    request: Request,
    response: Response,
    who: Who,
    raw: Raw,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _act(
        cmds.RequestReview,
        reference,
        request,
        response,
        who,
        raw,
        if_match,
        idempotency_key,
        on=_today(request, who, body.on),
        reason=body.reason,
    )


@router.post("/requests/{reference}/complaint/review-decision", response_model=Outcome)
def review_decision(
    reference: str,
    body: ReviewDecisionIn,
    request: Request,
    response: Response,
    who: Who,
    raw: Raw,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _act(
        cmds.DecideReview,
        reference,
        request,
        response,
        who,
        raw,
        if_match,
        idempotency_key,
        on=_today(request, who, body.on),
        decision=body.decision,
        text=body.text,
    )


@router.post("/requests/{reference}/complaint/ombudsman", response_model=Outcome)
def ombudsman(
    reference: str,
    body: OmbudsmanIn,
    request: Request,
    response: Response,
    who: Who,
    raw: Raw,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _act(
        cmds.ReferToOmbudsman,
        reference,
        request,
        response,
        who,
        raw,
        if_match,
        idempotency_key,
        on=_today(request, who, body.on),
        reason=body.reason,
        ombudsman_reference=body.their_reference,
    )


@router.post("/requests/{reference}/satisfaction", response_model=Outcome)
def satisfaction(
    reference: str,
    body: SatisfactionIn,
    request: Request,
    response: Response,
    who: Annotated[Staff, Depends(staff("satisfaction"))],
    raw: Raw,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The customer's rating of the service after closure (1–5 on the council's scale)."""
    return _act(
        cmds.RecordSatisfaction,
        reference,
        request,
        response,
        who,
        raw,
        if_match,
        idempotency_key,
        score=body.score,
        comment=body.comment,
    )


@router.get("/complaints/report")
def report(
    request: Request,
    who: Annotated[Staff, Depends(staff("complaint-report"))],
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Complaints received in the period by category, outcome and time taken."""
    return views.complaint_report(runtime_of(request), who.council, date_from, date_to)
