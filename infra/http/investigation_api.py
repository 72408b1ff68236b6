"""The staff API's twins of `crm timeline` and `crm record export`: the investigation timeline
of a request and exports of the audit record, through the same views and documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from infra import reports
from infra.http.auth import Staff, runtime_of, staff
from infra.http.instants import Day, Instant
from infra.http.staff_api import ERRORS, as_at_in_council
from infra.record_export import record_export
from infra.timeline import request_timeline

router = APIRouter(prefix="/api/v1", tags=["staff"], responses=ERRORS)


def _document(data: bytes, fmt: str, name: str) -> Response:
    disposition = "inline" if fmt == "html" else "attachment"
    return Response(
        data,
        media_type=reports.MEDIA[fmt],
        headers={"Content-Disposition": f'{disposition}; filename="{name}.{fmt}"'},
    )


@router.get(
    "/requests/{reference}/timeline",
    responses={200: {"content": {m: {} for m in reports.MEDIA.values()}}},
)
def timeline(
    reference: str,
    request: Request,
    who: Annotated[Staff, Depends(staff("timeline"))],
    format: Literal["json", "csv", "html", "pdf", "text"] = "json",
    as_at: Annotated[Instant | None, Query(alias="as_at")] = None,
) -> Any:
    """Every step of the request with its business time, the standards met or missed, the
    notices sent and each entry's chain hash; `?format=csv|html|pdf|text` for a document."""
    tl = request_timeline(
        runtime_of(request),
        who.council,
        who.viewer,
        reference,
        "GET /api/v1/requests/{reference}/timeline",
        as_at_in_council(who, as_at),
    )
    if format == "json":
        return tl
    data = reports.rendered(reports.timeline_document(tl), format)
    return _document(data, format, f"timeline-{tl['reference']}")


@router.get("/record/export", responses={200: {"content": {m: {} for m in reports.MEDIA.values()}}})
def export(
    request: Request,
    who: Annotated[Staff, Depends(staff("export"))],
    format: Literal["csv", "pdf"] = "csv",
    reference: Annotated[str | None, Query(alias="request", max_length=64)] = None,
    officer: Annotated[str | None, Query(max_length=128)] = None,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
) -> Response:
    """The audit record of a request, an officer or a period, with the record's
    verification (`X-Record-Verified: true|false`)."""
    if not (reference or officer or date_from or date_to):
        raise ValueError("say what to export: request, officer, or from and to")
    ex = record_export(
        runtime_of(request),
        who.council,
        who.viewer,
        "GET /api/v1/record/export",
        reference=reference,
        officer=officer,
        date_from=date_from,
        date_to=date_to,
    )
    data = reports.rendered(reports.export_document(ex), format)
    got = _document(data, format, f"record-export-{who.council.id}")
    got.headers["X-Record-Verified"] = "true" if ex["verification"]["ok"] else "false"
    return got
