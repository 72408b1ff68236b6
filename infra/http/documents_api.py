"""The staff API's twins of `crm contact log`, `crm stats`, `crm attach`, `crm attachments` and
`crm attachment get`: enquiries that are not requests, their daily statistics, and documents
kept with a request — through the same handlers and views as the command line."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from commands import attachments as attachment_cmds
from commands import contacts as contact_cmds
from domain.values import Channel
from infra import views
from infra.attachments import DirectoryFileStore
from infra.http.auth import Staff, runtime_of, staff
from infra.http.calls import Call, IdempotencyKey, call_by, run_once
from infra.http.instants import Day
from infra.http.staff_api import ERRORS
from projections.envelope import to_plain

router = APIRouter(prefix="/api/v1", tags=["staff"], responses=ERRORS)
UPLOAD_PATH_SUFFIX = "/attachments"  # POST …/requests/{reference}/attachments: a file's bytes


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Annotated[str, Field(min_length=1, max_length=64)]
    channel: Channel
    customer: Annotated[str | None, Field(max_length=32)] = None
    note: Annotated[str | None, Field(max_length=4000)] = None


@router.post("/contacts", status_code=201)
def log_contact(
    body: ContactIn,
    call: Annotated[Call, call_by("contact")],
) -> dict[str, Any]:
    """Records an enquiry that is not a service request (a rates question, a certificate …)."""

    def act() -> dict[str, Any]:
        done = contact_cmds.log_contact(
            contact_cmds.LogContact(
                council=call.who.council.id,
                contact_type=body.type,
                channel=body.channel,
                actor=call.who.viewer.actor,
                customer=body.customer,
                note=body.note,
            ),
            call.runtime.ports,
        )
        plain: dict[str, Any] = to_plain(done)
        return plain

    return call.once(201, act)


@router.get("/stats")
def stats(
    request: Request,
    who: Annotated[Staff, Depends(staff("stats"))],
    by: Literal["day,type", "day,channel"] = "day,type",
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
) -> list[dict[str, Any]]:
    """Enquiries and requests received each day, by type or by channel (default: 7 days)."""
    rt = runtime_of(request)
    return views.enquiry_stats(rt, who.council, by.split(",")[1], date_from, date_to)


@router.post(
    "/requests/{reference}/attachments",
    status_code=201,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def attach(
    reference: str,
    request: Request,
    response: Response,
    who: Annotated[Staff, Depends(staff("attach"))],
    filename: Annotated[str, Query(min_length=1, max_length=200)],
    note: Annotated[str | None, Query(max_length=4000)] = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Keeps the body's bytes with the request; its `Content-Type` is the document's type.
    Over the council's size limit, or of a type it does not take: 422, nothing recorded."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    rule = who.council.attachments
    declared = request.headers.get("content-length", "")
    attachment_cmds.check_allowed(
        media_type, int(declared) if declared.isdigit() else 0, rule.max_bytes, rule.media_types
    )
    content = await request.body()
    rt = runtime_of(request)

    def act() -> dict[str, Any]:
        done = attachment_cmds.attach_file(
            attachment_cmds.AttachFile(
                council=who.council.id,
                reference=reference.strip().upper(),
                actor=who.viewer.actor,
                filename=filename,
                media_type=media_type,
                content=content,
                note=note,
            ),
            rt.ports,
            DirectoryFileStore.for_settings(rt.settings),
        )
        plain: dict[str, Any] = to_plain(done)
        return plain

    # the document's type is part of what the key is held to, beside its bytes
    sent = media_type.encode() + b"\n" + content
    return run_once(request, who, idempotency_key, sent, 201, act, response)


@router.get("/requests/{reference}/attachments")
def attachments(
    reference: str, request: Request, who: Annotated[Staff, Depends(staff("attachments"))]
) -> list[dict[str, Any]]:
    return views.attachments(
        runtime_of(request),
        who.council,
        who.viewer,
        reference,
        "GET /api/v1/requests/{reference}/attachments",
    )


@router.get("/attachments/{sha256}", responses={200: {"content": {"application/octet-stream": {}}}})
def attachment(
    sha256: Annotated[str, Field(min_length=64, max_length=64)],
    request: Request,
    who: Annotated[Staff, Depends(staff("attachments"))],
) -> Response:
    """The document's bytes as attached (checked on read: a tampered file is a 409)."""
    row, content = views.attachment_content(
        runtime_of(request), who.council, who.viewer, sha256, "GET /api/v1/attachments/{sha256}"
    )
    return Response(
        content,
        media_type=row["media_type"],
        headers={"Content-Disposition": "attachment", "X-Content-SHA256": row["sha256"]},
    )
