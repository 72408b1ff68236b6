"""The request page's forms: each posts here, runs the same command handler as the API and the
CLI (`commands.requests.handle`, `commands.corrections.handle`, `commands.complaints.handle`,
`commands.attachments.attach_file`) as the signed-in user, on the version the page showed, and
returns to the request page — with a clear message instead when the page was stale or a rule
refused the action (nothing is written then)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from infra.runtime import Runtime

router = APIRouter(prefix=f"{PREFIX}/requests/{{reference}}", include_in_schema=False)
Version = Annotated[int, Form(ge=1)]
Text = Annotated[str, Form(min_length=1, max_length=4000)]
Short = Annotated[str, Form(min_length=1, max_length=200)]


@dataclass(frozen=True)
class FormCall:
    """A form posted on a request's page: by whom, on which request, at the version the page
    showed."""

    request: Request
    who: Staff
    reference: str
    version: int

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.request)

    def command(
        self,
        done: str,
        make: Callable[..., Any],
        handle: Callable[[Any, Any], Any] = cmds.handle,
        **fields: Any,
    ) -> Response:
        """Runs the command `make(**fields)` through `handle`, then back to the page with
        `?done=<done>` (`_run`)."""
        ref = self.reference.strip().upper()
        return _run(
            self.request,
            self.who,
            ref,
            done,
            lambda: handle(
                make(
                    council=self.who.council.id,
                    reference=ref,
                    actor=self.who.viewer.actor,
                    expected_version=self.version,
                    **fields,
                ),
                self.runtime.ports,
            ),
        )


def form_by(action: str) -> Any:
    """The dependency giving a `FormCall` made by a signed-in user permitted `action` (its
    `signed_in` check is a default: evaluated here, where `action` is known)."""

    async def dependency(
        request: Request,
        reference: str,
        version: Version,
        who: Staff = Depends(signed_in(action)),  # noqa: B008 (see the docstring)
    ) -> FormCall:
        return FormCall(request, who, reference, version)

    return Depends(dependency)


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
def acknowledge(call: Annotated[FormCall, form_by("acknowledge")]) -> Response:
    return call.command("acknowledge", cmds.AcknowledgeRequest)


@router.post("/assign")
def assign(
    team: Short,
    call: Annotated[FormCall, form_by("assign")],
    officer: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return call.command("assign", cmds.AssignRequest, team=team, officer=officer.strip() or None)


@router.post("/note")
def note(
    text: Text,
    call: Annotated[FormCall, form_by("note")],
    kind: Annotated[NoteKind, Form()] = NoteKind.ACTION,
) -> Response:
    return call.command("note", cmds.AddNote, text=text, note_kind=kind)


@router.post("/delay")
def delay(
    reason: Text,
    until: Annotated[Day, Form()],
    call: Annotated[FormCall, form_by("delay")],
    awaiting_customer: Annotated[bool, Form()] = False,
) -> Response:
    return call.command(
        "delay",
        cmds.DelayRequest,
        reason=reason,
        until=until,
        awaiting_customer=awaiting_customer,
    )


@router.post("/escalate")
def escalate(
    reason: Text,
    call: Annotated[FormCall, form_by("escalate")],
    level: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return call.command("escalate", cmds.EscalateRequest, reason=reason, level=level or None)


@router.post("/close")
def close(outcome: Short, text: Text, call: Annotated[FormCall, form_by("close")]) -> Response:
    return call.command("close", cmds.CloseRequest, outcome=outcome, text=text)


# -- corrections: reopen, recategorise, link a duplicate, refer ---------------------------------


@router.post("/reopen")
def reopen(reason: Text, call: Annotated[FormCall, form_by("reopen")]) -> Response:
    return call.command("reopen", fix.ReopenRequest, fix.handle, reason=reason)


@router.post("/recategorise")
def recategorise(
    category: Short, reason: Text, call: Annotated[FormCall, form_by("recategorise")]
) -> Response:
    return call.command(
        "recategorise", fix.RecategoriseRequest, fix.handle, category=category, reason=reason
    )


@router.post("/link")
def link(
    duplicate_of: Short,
    call: Annotated[FormCall, form_by("link")],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return call.command(
        "link",
        fix.LinkDuplicate,
        fix.handle,
        original=duplicate_of.strip().upper(),
        reason=reason.strip() or "the same problem as an earlier request",
    )


@router.post("/refer")
def refer(agency: Short, reason: Text, call: Annotated[FormCall, form_by("refer")]) -> Response:
    return call.command("refer", fix.ReferRequest, fix.handle, agency=agency, reason=reason)


# -- complaints and the customer's rating --------------------------------------------------------

OnDate = Annotated[Day | None, Form()]
Complaint = Annotated[FormCall, form_by("complaint")]


def _today(call: FormCall, given: date | None) -> date:
    if given is not None:
        return given
    return views.council_today(call.runtime, call.who.council)


@router.post("/complaint/subject")
def complaint_subject(officer: Short, reason: Text, call: Complaint) -> Response:
    return call.command(
        "complaint-subject",
        complaint_cmds.RecordComplaintSubject,
        complaint_cmds.handle,
        officer=officer.strip(),
        reason=reason,
    )


@router.post("/complaint/review")
def complaint_review(reason: Text, call: Complaint, on: OnDate = None) -> Response:
    return call.command(
        "complaint-review",
        complaint_cmds.RequestReview,
        complaint_cmds.handle,
        on=_today(call, on),
        reason=reason,
    )


@router.post("/complaint/review-decision")
def complaint_review_decision(
    decision: Short, text: Text, call: Complaint, on: OnDate = None
) -> Response:
    return call.command(
        "complaint-review-decision",
        complaint_cmds.DecideReview,
        complaint_cmds.handle,
        on=_today(call, on),
        decision=decision,
        text=text,
    )


@router.post("/complaint/ombudsman")
def complaint_ombudsman(
    reason: Text,
    call: Complaint,
    on: OnDate = None,
    their_reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return call.command(
        "complaint-ombudsman",
        complaint_cmds.ReferToOmbudsman,
        complaint_cmds.handle,
        on=_today(call, on),
        reason=reason,
        ombudsman_reference=their_reference.strip() or None,
    )


@router.post("/satisfaction")
def satisfaction(
    score: Annotated[int, Form()],
    call: Annotated[FormCall, form_by("satisfaction")],
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return call.command(
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
def publish(text: Text, call: Annotated[FormCall, form_by("publish")]) -> Response:
    return call.command("publish", cmds.ApprovePublicDescription, text=text)


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
