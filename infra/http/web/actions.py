"""The request page's forms: each posts here, runs the same command handler as the API and the
CLI (`commands.requests.handle`, `commands.corrections.handle`, `commands.complaints.handle`,
`commands.attachments.attach_file`) as the signed-in user, on the version the page showed, and
returns to the request page — with a clear message instead when the page was stale or a rule
refused the action (nothing is written then)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from commands import attachments as attachment_cmds
from commands import complaints as complaint_cmds
from commands import contacts as contact_cmds
from commands import corrections as fix
from commands import requests as cmds
from commands import retention
from commands.errors import StaleVersion
from domain.errors import DomainError, NotPermitted
from domain.values import Channel, NoteKind
from infra import views
from infra.attachments import DirectoryFileStore
from infra.http.auth import Staff, runtime_of, signed_in
from infra.http.instants import Day
from infra.http.web.common import PREFIX
from infra.http.web.pages import contact_page, request_page

router = APIRouter(prefix=f"{PREFIX}/requests/{{reference}}", include_in_schema=False)
Version = Annotated[int, Form(ge=1)]
Text = Annotated[str, Form(min_length=1, max_length=4000)]
Short = Annotated[str, Form(min_length=1, max_length=200)]


def _act(
    request: Request,
    who: Staff,
    reference: str,
    version: int,
    action: str,
    make: Callable[..., Any],
    handle: Callable[[Any, Any], Any] = cmds.handle,
    **fields: Any,
) -> Response:
    ref = reference.strip().upper()
    return _run(
        request,
        who,
        ref,
        action,
        lambda: handle(
            make(
                council=who.council.id,
                reference=ref,
                actor=who.viewer.actor,
                expected_version=version,
                **fields,
            ),
            runtime_of(request).ports,
        ),
    )


def _why(refused: Exception) -> str:
    """The rule's message (a `KeyError` carries it as its argument, not quoted)."""
    if isinstance(refused, KeyError) and refused.args:
        return str(refused.args[0])
    return str(refused)


def _run(request: Request, who: Staff, ref: str, action: str, act: Callable[[], Any]) -> Response:
    """`act()`, then back to the request page; a refusal is shown on it, nothing written."""
    try:
        act()
    except StaleVersion as stale:
        return request_page(
            request,
            who,
            ref,
            problem=True,
            status=409,
            message=(
                f"This request changed while you had the page open (you saw version "
                f"{stale.expected}; it is now at version {stale.current}). Nothing was saved: "
                "check the timeline below and try again."
            ),
        )
    except NotPermitted as refused:
        return request_page(request, who, ref, problem=True, status=403, message=str(refused))
    except (DomainError, ValueError, KeyError) as refused:
        return request_page(
            request, who, ref, problem=True, status=422, message=f"Not saved: {_why(refused)}"
        )
    return RedirectResponse(f"{PREFIX}/requests/{ref}?done={action}", status_code=303)


@router.post("/acknowledge")
def acknowledge(
    request: Request,
    reference: str,
    version: Version,
    who: Annotated[Staff, Depends(signed_in("acknowledge"))],
) -> Response:
    return _act(request, who, reference, version, "acknowledge", cmds.AcknowledgeRequest)


@router.post("/assign")
def assign(
    request: Request,
    reference: str,
    version: Version,
    team: Short,
    who: Annotated[Staff, Depends(signed_in("assign"))],
    officer: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "assign",
        cmds.AssignRequest,
        team=team,
        officer=officer.strip() or None,
    )


@router.post("/note")
def note(
    request: Request,
    reference: str,
    version: Version,
    text: Text,
    who: Annotated[Staff, Depends(signed_in("note"))],
    kind: Annotated[NoteKind, Form()] = NoteKind.ACTION,
) -> Response:
    return _act(request, who, reference, version, "note", cmds.AddNote, text=text, note_kind=kind)


@router.post("/delay")
def delay(
    request: Request,
    reference: str,
    version: Version,
    reason: Text,
    until: Annotated[Day, Form()],
    who: Annotated[Staff, Depends(signed_in("delay"))],
    awaiting_customer: Annotated[bool, Form()] = False,
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "delay",
        cmds.DelayRequest,
        reason=reason,
        until=until,
        awaiting_customer=awaiting_customer,
    )


@router.post("/escalate")
def escalate(
    request: Request,
    reference: str,
    version: Version,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("escalate"))],
    level: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "escalate",
        cmds.EscalateRequest,
        reason=reason,
        level=level or None,
    )


@router.post("/close")
def close(
    request: Request,
    reference: str,
    version: Version,
    outcome: Short,
    text: Text,
    who: Annotated[Staff, Depends(signed_in("close"))],
) -> Response:
    return _act(
        request, who, reference, version, "close", cmds.CloseRequest, outcome=outcome, text=text
    )


# -- corrections: reopen, recategorise, link a duplicate, refer ---------------------------------


@router.post("/reopen")
def reopen(
    request: Request,
    reference: str,
    version: Version,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("reopen"))],
) -> Response:
    return _act(
        request, who, reference, version, "reopen", fix.ReopenRequest, fix.handle, reason=reason
    )


@router.post("/recategorise")
def recategorise(
    request: Request,
    reference: str,
    version: Version,
    category: Short,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("recategorise"))],
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "recategorise",
        fix.RecategoriseRequest,
        fix.handle,
        category=category,
        reason=reason,
    )


@router.post("/link")
def link(
    request: Request,
    reference: str,
    version: Version,
    duplicate_of: Short,
    who: Annotated[Staff, Depends(signed_in("link"))],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "link",
        fix.LinkDuplicate,
        fix.handle,
        original=duplicate_of.strip().upper(),
        reason=reason.strip() or "the same problem as an earlier request",
    )


@router.post("/refer")
def refer(
    request: Request,
    reference: str,
    version: Version,
    agency: Short,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("refer"))],
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "refer",
        fix.ReferRequest,
        fix.handle,
        agency=agency,
        reason=reason,
    )


# -- complaints and the customer's rating --------------------------------------------------------

OnDate = Annotated[Day | None, Form()]


def _today(request: Request, who: Staff, given: date | None) -> date:
    if given is not None:
        return given
    return views.council_today(runtime_of(request), who.council)


@router.post("/complaint/subject")
def complaint_subject(
    request: Request,
    reference: str,
    version: Version,
    officer: Short,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("complaint"))],
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "complaint-subject",
        complaint_cmds.RecordComplaintSubject,
        complaint_cmds.handle,
        officer=officer.strip(),
        reason=reason,
    )


@router.post("/complaint/review")
def complaint_review(
    request: Request,
    reference: str,
    version: Version,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("complaint"))],
    on: OnDate = None,
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "complaint-review",
        complaint_cmds.RequestReview,
        complaint_cmds.handle,
        on=_today(request, who, on),
        reason=reason,
    )


@router.post("/complaint/review-decision")
def complaint_review_decision(
    request: Request,
    reference: str,
    version: Version,
    decision: Short,
    text: Text,
    who: Annotated[Staff, Depends(signed_in("complaint"))],
    on: OnDate = None,
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "complaint-review-decision",
        complaint_cmds.DecideReview,
        complaint_cmds.handle,
        on=_today(request, who, on),
        decision=decision,
        text=text,
    )


@router.post("/complaint/ombudsman")
def complaint_ombudsman(
    request: Request,
    reference: str,
    version: Version,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("complaint"))],
    on: OnDate = None,
    their_reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "complaint-ombudsman",
        complaint_cmds.ReferToOmbudsman,
        complaint_cmds.handle,
        on=_today(request, who, on),
        reason=reason,
        ombudsman_reference=their_reference.strip() or None,
    )


@router.post("/satisfaction")
def satisfaction(
    request: Request,
    reference: str,
    version: Version,
    score: Annotated[int, Form()],
    who: Annotated[Staff, Depends(signed_in("satisfaction"))],
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return _act(
        request,
        who,
        reference,
        version,
        "satisfaction",
        complaint_cmds.RecordSatisfaction,
        complaint_cmds.handle,
        score=score,
        comment=comment.strip() or None,
    )


# -- documents ---------------------------------------------------------------------------------


@router.post("/attachments")
async def attach(
    request: Request,
    reference: str,
    document: Annotated[UploadFile, File()],
    who: Annotated[Staff, Depends(signed_in("attach"))],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Keeps the chosen file with the request (its type as the browser names it), refused
    with the council's rule (size, types) shown on the page."""
    ref = reference.strip().upper()
    content = await document.read()
    media_type = (document.content_type or "application/octet-stream").split(";")[0].strip()
    rt = runtime_of(request)
    return _run(
        request,
        who,
        ref,
        "attach",
        lambda: attachment_cmds.attach_file(
            attachment_cmds.AttachFile(
                council=who.council.id,
                reference=ref,
                actor=who.viewer.actor,
                filename=(document.filename or "document").rsplit("/", 1)[-1][:200] or "document",
                media_type=media_type.lower(),
                content=content,
                note=note.strip() or None,
            ),
            rt.ports,
            DirectoryFileStore.for_settings(rt.settings),
        ),
    )


# -- the contact log ---------------------------------------------------------------------------

desk = APIRouter(prefix=PREFIX, include_in_schema=False)


@desk.post("/contacts")
def log_contact(
    request: Request,
    type: Short,
    channel: Annotated[Channel, Form()],
    who: Annotated[Staff, Depends(signed_in("contact"))],
    customer: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Records an enquiry that is not a service request, then back to the contact log."""
    try:
        contact_cmds.log_contact(
            contact_cmds.LogContact(
                council=who.council.id,
                contact_type=type,
                channel=channel,
                actor=who.viewer.actor,
                customer=customer.strip().upper() or None,
                note=note.strip() or None,
            ),
            runtime_of(request).ports,
        )
    except NotPermitted as refused:
        return contact_page(request, who, problem=True, status=403, message=str(refused))
    except (DomainError, ValueError, KeyError) as refused:
        return contact_page(
            request, who, problem=True, status=422, message=f"Not saved: {_why(refused)}"
        )
    return RedirectResponse(f"{PREFIX}/contacts?done=contact", status_code=303)


# -- the public description, and disposal at the end of retention -----------------------------


@router.post("/publish")
def publish(
    request: Request,
    reference: str,
    version: Version,
    text: Text,
    who: Annotated[Staff, Depends(signed_in("publish"))],
) -> Response:
    return _act(
        request, who, reference, version, "publish", cmds.ApprovePublicDescription, text=text
    )


@router.post("/dispose")
def dispose(
    request: Request,
    reference: str,
    reason: Text,
    who: Annotated[Staff, Depends(signed_in("dispose"))],
) -> Response:
    """Erases the request's personal data at the end of its retention, with its certificate
    (records officers); refused, with the rule's reason on the page, before then."""
    ref = reference.strip().upper()
    rt = runtime_of(request)
    return _run(
        request,
        who,
        ref,
        "dispose",
        lambda: retention.dispose_request(
            retention.DisposeRequest(
                council=who.council.id, reference=ref, reason=reason, actor=who.viewer.actor
            ),
            rt.ports,
            lambda council_id, number: views.customer_requests(rt, council_id, number),
        ),
    )
