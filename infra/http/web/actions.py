"""The request page's forms: each posts here, runs the same command handler as the API and the
CLI (`commands.requests.handle`) as the signed-in user, on the version the page showed, and
returns to the request page — with a clear message instead when the page was stale or a rule
refused the action (nothing is written then)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from commands import requests as cmds
from commands.errors import StaleVersion
from domain.errors import DomainError, NotPermitted
from domain.values import NoteKind
from infra.http.auth import Staff, runtime_of, signed_in
from infra.http.web.common import PREFIX
from infra.http.web.pages import request_page

router = APIRouter(prefix=f"{PREFIX}/requests/{{reference}}", include_in_schema=False)
Version = Annotated[int, Form(ge=1)]
Text = Annotated[str, Form(min_length=1, max_length=4000)]
Short = Annotated[str, Form(min_length=1, max_length=200)]


def _act(request: Request, who: Staff, reference: str, version: int, action: str,
         make: Callable[..., Any], **fields: Any) -> Response:
    ref = reference.strip().upper()
    cmd = make(council=who.council.id, reference=ref, actor=who.viewer.actor,
               expected_version=version, **fields)
    try:
        cmds.handle(cmd, runtime_of(request).ports)
    except StaleVersion as stale:
        return request_page(request, who, ref, problem=True, status=409, message=(
            f"This request changed while you had the page open (you saw version "
            f"{stale.expected}; it is now at version {stale.current}). Nothing was saved: "
            "check the timeline below and try again."))
    except NotPermitted as refused:
        return request_page(request, who, ref, problem=True, status=403, message=str(refused))
    except (DomainError, ValueError) as refused:
        return request_page(request, who, ref, problem=True, status=422,
                            message=f"Not saved: {refused}")
    return RedirectResponse(f"{PREFIX}/requests/{ref}?done={action}", status_code=303)


@router.post("/acknowledge")
def acknowledge(request: Request, reference: str, version: Version,
                who: Annotated[Staff, Depends(signed_in("acknowledge"))]) -> Response:
    return _act(request, who, reference, version, "acknowledge", cmds.AcknowledgeRequest)


@router.post("/assign")
def assign(request: Request, reference: str, version: Version, team: Short,
           who: Annotated[Staff, Depends(signed_in("assign"))],
           officer: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, who, reference, version, "assign", cmds.AssignRequest, team=team,
                officer=officer.strip() or None)


@router.post("/note")
def note(request: Request, reference: str, version: Version, text: Text,
         who: Annotated[Staff, Depends(signed_in("note"))],
         kind: Annotated[NoteKind, Form()] = NoteKind.ACTION) -> Response:
    return _act(request, who, reference, version, "note", cmds.AddNote, text=text,
                note_kind=kind)


@router.post("/delay")
def delay(request: Request, reference: str, version: Version, reason: Text,
          until: Annotated[date, Form()], who: Annotated[Staff, Depends(signed_in("delay"))],
          awaiting_customer: Annotated[bool, Form()] = False) -> Response:
    return _act(request, who, reference, version, "delay", cmds.DelayRequest, reason=reason,
                until=until, awaiting_customer=awaiting_customer)


@router.post("/escalate")
def escalate(request: Request, reference: str, version: Version, reason: Text,
             who: Annotated[Staff, Depends(signed_in("escalate"))],
             level: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, who, reference, version, "escalate", cmds.EscalateRequest,
                reason=reason, level=level or None)


@router.post("/close")
def close(request: Request, reference: str, version: Version, outcome: Short, text: Text,
          who: Annotated[Staff, Depends(signed_in("close"))]) -> Response:
    return _act(request, who, reference, version, "close", cmds.CloseRequest, outcome=outcome,
                text=text)
