"""The staff API's twins of `crm complaint …` and `crm satisfaction`: the same handlers and
view, with the staff API's `If-Match` and `Idempotency-Key` behaviour."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from commands import complaints as cmds
from infra import views
from infra.http.auth import Staff, runtime_of, staff
from infra.http.calls import RequestCall, request_call_by
from infra.http.instants import Day
from infra.http.staff_api import ERRORS, Body, Outcome, Short, Text

router = APIRouter(prefix="/api/v1", tags=["staff"], responses=ERRORS)


def _today(call: RequestCall, given: date | None) -> date:
    if given is not None:
        return given
    return views.council_today(call.runtime, call.who.council)


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


Complaint = Annotated[RequestCall, request_call_by("complaint")]


@router.post("/requests/{reference}/complaint/subject", response_model=Outcome)
def subject(body: SubjectIn, call: Complaint) -> dict[str, Any]:
    """Records the officer the complaint is about: they can never be assigned it."""
    return call.command(
        cmds.RecordComplaintSubject, cmds.handle, officer=body.officer, reason=body.reason
    )


@router.post("/requests/{reference}/complaint/review", response_model=Outcome)
def review(body: ReviewIn, call: Complaint) -> dict[str, Any]:
    on = _today(call, body.on)
    return call.command(cmds.RequestReview, cmds.handle, on=on, reason=body.reason)


@router.post("/requests/{reference}/complaint/review-decision", response_model=Outcome)
def review_decision(body: ReviewDecisionIn, call: Complaint) -> dict[str, Any]:
    return call.command(
        cmds.DecideReview,
        cmds.handle,
        on=_today(call, body.on),
        decision=body.decision,
        text=body.text,
    )


@router.post("/requests/{reference}/complaint/ombudsman", response_model=Outcome)
def ombudsman(body: OmbudsmanIn, call: Complaint) -> dict[str, Any]:
    return call.command(
        cmds.ReferToOmbudsman,
        cmds.handle,
        on=_today(call, body.on),
        reason=body.reason,
        ombudsman_reference=body.their_reference,
    )


@router.post("/requests/{reference}/satisfaction", response_model=Outcome)
def satisfaction(
    body: SatisfactionIn, call: Annotated[RequestCall, request_call_by("satisfaction")]
) -> dict[str, Any]:
    """The customer's rating of the service after closure (1–5 on the council's scale)."""
    return call.command(
        cmds.RecordSatisfaction, cmds.handle, score=body.score, comment=body.comment
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
