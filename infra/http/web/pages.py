"""The staff pages: a team's work queue, a request with its timeline and the forms the user may
use, the SLA dashboard and the KPIs. Every figure comes from `infra.views` (the views the API
and the CLI show), disclosed for the signed-in user; each live part also has a `/part` URL
returning that fragment alone, which the page's script reloads when the data changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from commands.errors import RequestNotFound
from domain.values import Channel, RequestKind
from infra import views
from infra.http.auth import PageError, Staff, runtime_of, signed_in
from infra.http.instants import Day
from infra.http.web import charts
from infra.http.web.common import PREFIX, may, render, viewer_for

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Page = Annotated[Staff, Depends(signed_in("queue"))]
REQUEST_ACTIONS = frozenset({"acknowledge", "assign", "note", "delay", "escalate", "close"})
# the forms an open request offers, and a closed one (each shown only if the user may use it;
# whether it applies to this request is the command's own rule, shown on the page if refused)
OPEN_FORMS = REQUEST_ACTIONS | {"publish", "recategorise", "link", "refer", "attach", "complaint"}
CLOSED_FORMS = frozenset(
    {"note", "publish", "reopen", "satisfaction", "attach", "complaint", "dispose"}
)
DONE = {
    "acknowledge": "Acknowledged.",
    "assign": "Assigned.",
    "note": "Note added.",
    "delay": "Delay recorded.",
    "escalate": "Escalated.",
    "close": "Closed.",
    "reopen": "Reopened.",
    "publish": "Public description approved.",
    "dispose": "Disposed of: its personal data is erased and the certificate recorded.",
    "recategorise": "Recategorised.",
    "link": "Closed as a duplicate.",
    "refer": "Referred.",
    "attach": "Document attached.",
    "satisfaction": "Rating recorded.",
    "complaint-subject": "The officer the complaint is about is recorded.",
    "complaint-review": "The request for an internal review is recorded.",
    "complaint-review-decision": "The review's decision is recorded.",
    "complaint-ombudsman": "The referral to the Ombudsman is recorded.",
    "contact": "Contact recorded.",
}


@router.get("/")
def home(who: Annotated[Staff, Depends(signed_in("permissions"))]) -> Response:
    return RedirectResponse(f"{PREFIX}/queue", status_code=303)


# -- the work queue ----------------------------------------------------------------------------


def _team(who: Staff, team: str | None) -> str | None:
    if team == "":
        return None  # "all teams"
    return team if team is not None else min(who.viewer.teams, default=None)


def _queue(request: Request, who: Staff, team: str | None, mine: bool, part: bool) -> HTMLResponse:
    chosen = _team(who, team)
    if chosen is not None and chosen not in who.council.teams:
        raise PageError(400, f"no team {chosen!r} in council {who.council.id}")
    rt = runtime_of(request)
    mark = views.change_mark(rt)  # before the view: a later change is announced, never missed
    officer = who.viewer.user_id if mine else None
    rows = views.queue_with_sla(rt, who.council, chosen, officer, rt.clock())
    return render(
        request,
        who,
        "_queue_rows.html" if part else "queue.html",
        {
            "mark": mark,
            "rows": rows,
            "team": chosen or "",
            "teams": who.council.teams,
            "now": rt.clock(),
            "mine": mine,
            "part_url": f"{PREFIX}/queue/part?" + urlencode({"team": chosen or "", "mine": mine}),
        },
    )


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    who: Page,
    team: Annotated[str | None, Query(max_length=64)] = None,
    mine: bool = False,
) -> HTMLResponse:
    """A team's open requests (`mine`: those assigned to the user): urgent first, then by
    due instant, each with its SLA state."""
    return _queue(request, who, team, mine, part=False)


@router.get("/queue/part", response_class=HTMLResponse)
def queue_part(
    request: Request,
    who: Page,
    team: Annotated[str | None, Query(max_length=64)] = None,
    mine: bool = False,
) -> HTMLResponse:
    return _queue(request, who, team, mine, part=True)


# -- one request -------------------------------------------------------------------------------


def request_page(
    request: Request,
    who: Staff,
    reference: str,
    *,
    message: str | None = None,
    problem: bool = False,
    status: int = 200,
    part: bool = False,
) -> HTMLResponse:
    """The request as the user may see it, its timeline, and a form for each action they may
    do (each form carries the version shown, so acting on a stale page is refused)."""
    rt = runtime_of(request)
    mark = views.change_mark(rt)
    via = "GET /staff/requests/{reference}"
    shown = viewer_for(request, who, "show") or who.viewer
    try:
        state = views.request_state(rt, who.council, shown, reference, via)
    except RequestNotFound as missing:
        raise PageError(404, str(missing)) from None
    reader = viewer_for(request, who, "history")
    timeline = (
        []
        if reader is None
        else list(reversed(views.request_history(rt, who.council, reader, reference, via)))
    )
    c = who.council
    forms = OPEN_FORMS if state["status"] != "closed" else CLOSED_FORMS
    if state["kind"] != RequestKind.COMPLAINT.value:
        forms = forms - {"complaint"}
    lister = viewer_for(request, who, "attachments")
    documents = [] if lister is None or part else views.attachments(rt, c, lister, reference, via)
    low, high = c.satisfaction.scale
    return render(
        request,
        who,
        "_timeline.html" if part else "request.html",
        {
            "mark": mark,
            "r": state,
            "timeline": timeline,
            "sla": views.request_sla(rt, c, reference, rt.clock()),
            "message": message,
            "problem": problem,
            "actions": may(who) & forms,
            "documents": documents,
            "may_list": lister is not None,
            "outcomes": c.outcomes,
            "teams": c.teams,
            "levels": c.roles,
            "zone": c.calendar.timezone,
            "categories": c.categories,
            "agencies": c.agencies,
            "complaint_outcomes": c.outcomes_for(RequestKind.COMPLAINT),
            "scores": list(range(low, high + 1)),
            "media_types": sorted(c.attachments.media_types),
            "max_bytes": c.attachments.max_bytes,
            "part_url": f"{PREFIX}/requests/{state['reference']}/part",
        },
        status,
    )


@router.get("/requests/{reference}", response_class=HTMLResponse)
def show(
    request: Request,
    reference: str,
    who: Annotated[Staff, Depends(signed_in("show"))],
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    return request_page(request, who, reference, message=DONE.get(done or ""))


@router.get("/requests/{reference}/part", response_class=HTMLResponse)
def show_part(
    request: Request, reference: str, who: Annotated[Staff, Depends(signed_in("show"))]
) -> HTMLResponse:
    return request_page(request, who, reference, part=True)


@router.get("/attachments/{sha256}")
def attachment(
    request: Request,
    sha256: Annotated[str, Path(min_length=64, max_length=64)],
    who: Annotated[Staff, Depends(signed_in("attachments"))],
) -> Response:
    """A document's bytes as attached (checked on read), downloaded rather than shown."""
    row, content = views.attachment_content(
        runtime_of(request), who.council, who.viewer, sha256, "GET /staff/attachments/{sha256}"
    )
    return Response(
        content,
        media_type=row["media_type"],
        headers={
            "Content-Disposition": "attachment",
            "X-Content-SHA256": row["sha256"],
            "Cache-Control": "no-store",
        },
    )


# -- the contact log: enquiries that are not requests ---------------------------------------------


def contact_page(
    request: Request,
    who: Staff,
    *,
    message: str | None = None,
    problem: bool = False,
    status: int = 200,
) -> HTMLResponse:
    """The form recording an enquiry that is not a request, and (for those who may see them)
    the last seven days' statistics of enquiries and requests by type."""
    rt = runtime_of(request)
    c = who.council
    stats: list[dict[str, Any]] = []
    if "stats" in may(who):
        stats = views.enquiry_stats(rt, c, "type")
    return render(
        request,
        who,
        "contacts.html",
        {
            "page": "contacts",
            "types": c.enquiry_types,
            "channels": list(Channel),
            "stats": stats,
            "message": message,
            "problem": problem,
        },
        status,
    )


@router.get("/contacts", response_class=HTMLResponse)
def contacts(
    request: Request,
    who: Annotated[Staff, Depends(signed_in("contact"))],
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    return contact_page(request, who, message=DONE.get(done or ""))


# -- SLA dashboard -----------------------------------------------------------------------------

SLA_SERIES = (
    charts.Series(key="breached", name="Breached", css="bar-breached"),
    charts.Series(key="at-risk", name="At risk", css="bar-at-risk"),
)


def _sla(request: Request, who: Staff, part: bool) -> HTMLResponse:
    rt = runtime_of(request)
    now = rt.clock()
    mark = views.change_mark(rt)
    found = {which: views.sla(rt, who.council, which, now) for which in ("breached", "at-risk")}
    teams = {code: t.name for code, t in who.council.teams.items()}
    by_team = _count(found, "team", teams)
    by_category = _count(found, "category", {k: v.name for k, v in who.council.categories.items()})
    return render(
        request,
        who,
        "_sla_body.html" if part else "sla.html",
        {
            "mark": mark,
            "found": found,
            "now": now,
            "zone": who.council.calendar.timezone,
            "by_team": by_team,
            "by_category": by_category,
            "team_chart": charts.bars(
                "Breached and at-risk requests by team",
                [(label, n) for label, n in by_team],
                SLA_SERIES,
                stacked=True,
            ),
            "category_chart": charts.bars(
                "Breached and at-risk requests by category",
                [(label, n) for label, n in by_category],
                SLA_SERIES,
                stacked=True,
            ),
            "part_url": f"{PREFIX}/sla/part",
        },
    )


def _count(
    found: dict[str, list[dict[str, Any]]], field: str, names: dict[str, str]
) -> list[tuple[str, dict[str, float | None]]]:
    """(name, {breached: n, at-risk: n}) per value of `field`, the most breached first."""
    counts: dict[str, dict[str, float | None]] = {}
    for which, rows in found.items():
        for row in rows:
            tally = counts.setdefault(
                names.get(row[field], row[field]), {"breached": 0, "at-risk": 0}
            )
            tally[which] = (tally[which] or 0) + 1
    return sorted(
        counts.items(), key=lambda kv: (-(kv[1]["breached"] or 0), -(kv[1]["at-risk"] or 0), kv[0])
    )


@router.get("/sla", response_class=HTMLResponse)
def sla(request: Request, who: Annotated[Staff, Depends(signed_in("sla"))]) -> HTMLResponse:
    return _sla(request, who, part=False)


@router.get("/sla/part", response_class=HTMLResponse)
def sla_part(request: Request, who: Annotated[Staff, Depends(signed_in("sla"))]) -> HTMLResponse:
    return _sla(request, who, part=True)


# -- KPIs --------------------------------------------------------------------------------------

KPI_LABEL = {
    "category": "category",
    "team": "team_name",
    "day": "day",
    "channel": "channel",
    "kind": "kind",
}
KPI_COUNTS = (
    charts.Series(key="lodged", name="Lodged", css="bar-lodged"),
    charts.Series(key="closed", name="Closed", css="bar-closed"),
    charts.Series(key="breaches", name="Breaches", css="bar-breached"),
)
KPI_PCT = (
    charts.Series(
        key="completed_within_target_pct", name="Completed within target (%)", css="bar-closed"
    ),
)


@router.get("/kpi", response_class=HTMLResponse)
def kpi(
    request: Request,
    who: Annotated[Staff, Depends(signed_in("kpi"))],
    by: Literal["category", "team", "channel", "kind", "day"] = "team",
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
) -> HTMLResponse:
    """The KPIs of a period (default: the last 30 days), grouped, with two charts."""
    rt = runtime_of(request)
    now = rt.clock()
    today = now.astimezone(ZoneInfo(who.council.calendar.timezone)).date()
    end = date_to or today
    start = date_from or end - timedelta(days=29)
    result = views.kpis(rt, who.council, by, start, end, now)
    rows = [(str(g.get(KPI_LABEL[by]) or "unknown"), g) for g in result.groups]
    return render(
        request,
        who,
        "kpi.html",
        {
            "by": by,
            "start": start,
            "end": end,
            "result": result,
            "label": KPI_LABEL[by],
            "counts_chart": charts.bars(
                "Requests lodged, closed and breached", rows, KPI_COUNTS, stacked=False
            ),
            "pct_chart": charts.bars(
                "Completed within target (%)", rows, KPI_PCT, stacked=False, scale=100.0
            ),
            "as_at": now,
            "zone": who.council.calendar.timezone,
        },
    )
