"""The staff API's customer records, `/api/v1/customers`: find, show, history, correct,
conduct and restrictions, reviews due, erasure and the access log — the CLI's `crm customer`
commands, through the same handlers and views (`infra.views`), so disclosure and the access
log are the CLI's."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from commands import customers as cmds
from domain.values import Channel, Conduct, ContactMethod
from domain.values import Customer as Details
from infra import views
from infra.http.auth import Staff, runtime_of, staff
from infra.http.calls import Call, call_by
from infra.http.instants import Day
from infra.http.staff_api import ERRORS, Body, Detail, Short, Text

router = APIRouter(prefix="/api/v1/customers", tags=["customers"], responses=ERRORS)


@router.get("")
def find(
    request: Request,
    who: Annotated[Staff, Depends(staff("customer-find"))],
    phone: Annotated[str | None, Query(max_length=320)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    name: Annotated[str | None, Query(max_length=320)] = None,
) -> list[dict[str, Any]]:
    """Customers by exactly one of phone, e-mail or name (exact, by the blind index)."""
    given = [(f, v) for f, v in (("phone", phone), ("email", email), ("name", name)) if v]
    if len(given) != 1:
        raise ValueError("find by exactly one of phone, email or name")
    field, value = given[0]
    return views.find_customers(
        runtime_of(request), who.council, who.viewer, field, value, f"GET /api/v1/customers?{field}"
    )


@router.get("/reviews-due")
def reviews_due(
    request: Request,
    who: Annotated[Staff, Depends(staff("customer-conduct"))],
    on: Day | None = None,
) -> list[dict[str, Any]]:
    rt = runtime_of(request)
    return views.reviews_due(rt, who.council, on or views.council_today(rt, who.council))


class UnsavedIn(Body):
    older_than_minutes: Annotated[int, Field(ge=0, le=cmds.UNSAVED_AGE_MAX_MINUTES)] = 60


@router.post("/erase-unsaved")
def erase_unsaved(
    body: UnsavedIn,
    call: Annotated[Call, call_by("customer-erase")],
) -> dict[str, Any]:
    """Destroys the key and index entries left by registrations whose record was never saved
    (a process that died), begun `older_than_minutes` ago or more; the numbers concerned."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        before = rt.clock() - timedelta(minutes=body.older_than_minutes)
        erased = cmds.erase_unsaved_registrations(
            rt.directory_ports, rt.vault, call.who.council.id, before
        )
        return {"erased": list(erased)}

    return call.once(200, act)


@router.get("/{number}")
def show(
    number: str, request: Request, who: Annotated[Staff, Depends(staff("customer-show"))]
) -> dict[str, Any]:
    return views.customer_state(
        runtime_of(request), who.council, who.viewer, number, "GET /api/v1/customers/{number}"
    )


@router.get("/{number}/history")
def history(
    number: str, request: Request, who: Annotated[Staff, Depends(staff("customer-history"))]
) -> dict[str, Any]:
    return views.customer_history(
        runtime_of(request),
        who.council,
        who.viewer,
        number,
        "GET /api/v1/customers/{number}/history",
    )


@router.get("/{number}/access-log")
def access_log(
    number: str, request: Request, who: Annotated[Staff, Depends(staff("customer-access-log"))]
) -> list[dict[str, Any]]:
    return views.access_log(runtime_of(request), who.council, number)


class DetailsIn(Body):
    name: Detail | None = None
    address: Detail | None = None
    phone: Detail | None = None
    email: Detail | None = None
    contact: ContactMethod | None = None
    reason: Text


@router.post("/{number}/details")
def correct(
    number: str,
    body: DetailsIn,
    call: Annotated[Call, call_by("customer-update")],
) -> dict[str, Any]:
    """Corrects contact details: recorded with the reason, never overwritten."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        details = Details(
            name=body.name,
            address=body.address,
            phone=body.phone,
            email=body.email,
            preferred_contact=body.contact or ContactMethod.NONE,
        )
        done = cmds.correct_details(
            cmds.CorrectDetails(
                council=call.who.council.id,
                number=number,
                actor=call.who.viewer.actor,
                details=details,
                reason=body.reason,
            ),
            rt.directory_ports,
            rt.vault,
        )
        return {"customer_id": done.number}

    return call.once(200, act)


class DeclarationIn(Body):
    conduct: Conduct
    reason: Text
    review_by: Day


@router.post("/{number}/declarations", status_code=201)
def declare(
    number: str,
    body: DeclarationIn,
    call: Annotated[Call, call_by("customer-conduct")],
) -> dict[str, Any]:
    def act() -> dict[str, Any]:
        cmd = cmds.DeclareConduct(
            council=call.who.council.id,
            number=number,
            actor=call.who.viewer.actor,
            conduct=body.conduct,
            reason=body.reason,
            review_by=body.review_by,
        )
        return {"id": cmds.declare_conduct(cmd, call.runtime.directory_ports)}

    return call.once(201, act)


class ReasonIn(Body):
    reason: Text


@router.post("/{number}/declarations/{declaration}/withdraw", status_code=204)
def withdraw(
    number: str,
    declaration: int,
    body: ReasonIn,
    call: Annotated[Call, call_by("customer-conduct")],
) -> None:
    def act() -> dict[str, Any]:
        cmds.withdraw_declaration(
            cmds.WithdrawDeclaration(
                council=call.who.council.id,
                number=number,
                actor=call.who.viewer.actor,
                declaration_id=declaration,
                reason=body.reason,
            ),
            call.runtime.directory_ports,
        )
        return {}

    call.once(204, act)


class RestrictionIn(Body):
    channels: list[Channel] = Field(default_factory=list)
    only_through: Short | None = None
    until: Day | None = None
    review_by: Day
    reason: Text


@router.post("/{number}/restrictions", status_code=201)
def restrict(
    number: str,
    body: RestrictionIn,
    call: Annotated[Call, call_by("customer-conduct")],
) -> dict[str, Any]:
    def act() -> dict[str, Any]:
        cmd = cmds.RestrictContact(
            council=call.who.council.id,
            number=number,
            actor=call.who.viewer.actor,
            channels=tuple(body.channels),
            single_point_of_contact=body.only_through,
            until=body.until,
            review_by=body.review_by,
            reason=body.reason,
        )
        return {"id": cmds.restrict_contact(cmd, call.runtime.directory_ports)}

    return call.once(201, act)


class ReviewIn(Body):
    note: Text
    next_review: Day


@router.post("/{number}/restrictions/{restriction}/review", status_code=204)
def review(
    number: str,
    restriction: int,
    body: ReviewIn,
    call: Annotated[Call, call_by("customer-conduct")],
) -> None:
    def act() -> dict[str, Any]:
        cmds.review_restriction(
            cmds.ReviewRestriction(
                council=call.who.council.id,
                number=number,
                actor=call.who.viewer.actor,
                restriction_id=restriction,
                note=body.note,
                next_review=body.next_review,
            ),
            call.runtime.directory_ports,
        )
        return {}

    call.once(204, act)


@router.post("/{number}/restrictions/{restriction}/lift", status_code=204)
def lift(
    number: str,
    restriction: int,
    body: ReasonIn,
    call: Annotated[Call, call_by("customer-conduct")],
) -> None:
    def act() -> dict[str, Any]:
        cmds.lift_restriction(
            cmds.LiftRestriction(
                council=call.who.council.id,
                number=number,
                actor=call.who.viewer.actor,
                restriction_id=restriction,
                reason=body.reason,
            ),
            call.runtime.directory_ports,
        )
        return {}

    call.once(204, act)


@router.post("/{number}/erase")
def erase(
    number: str,
    body: ReasonIn,
    call: Annotated[Call, call_by("customer-erase")],
) -> dict[str, Any]:
    """Erases the customer's personal data for good (refused while a request is open)."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        done = cmds.erase_customer(
            cmds.EraseCustomer(
                council=call.who.council.id,
                number=number,
                actor=call.who.viewer.actor,
                reason=body.reason,
            ),
            rt.directory_ports,
            rt.vault,
            lambda council_id, customer: views.open_requests(rt, council_id, customer),
        )
        if done is None:  # the number's registration never saved its record: its leftovers
            return {"customer_id": number.strip().upper(), "status": "unsaved registration erased"}
        return {"customer_id": done.number, "status": "erased"}

    return call.once(200, act)
