"""The staff API, `/api/v1/`: every request command and every view the CLI has, for a signed-in
staff user. Commands answer with the request's new version as the `ETag`; `If-Match` makes a
command conditional on the version the caller saw (a stale one is 412 with the current
version); an `Idempotency-Key` makes a retried POST return the first answer instead of acting
twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import QueryParams

from commands import corrections as fix
from commands import requests as cmds
from domain.lodgement import make_intake
from domain.values import Channel, ContactMethod, NoteKind, RequestKind
from infra import views
from infra.http import queue_cache
from infra.http.auth import Staff, api_caller, runtime_of, sign_in_with_password, staff
from infra.http.calls import Call, RequestCall, call_by, outcome, request_call_by
from infra.http.instants import Day, Instant
from infra.http.store_look import Looked
from infra.runtime import Runtime
from projections.envelope import to_plain

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
Detail = Annotated[str, Field(max_length=320)]


class Problem(BaseModel):
    """What an error answer carries: why, in one line (or FastAPI's list of invalid fields)."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[dict[str, Any]]


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": what}
    for status, what in (
        (400, "bad input"),
        (401, "no valid token: sign in"),
        (403, "not permitted"),
        (404, "no such request"),
        (409, "a conflicting change"),
        (412, "the request changed since the version given in If-Match"),
        (413, "the body is too large"),
        (422, "refused by a rule, or invalid input"),
        (429, "too many requests"),
    )
}
router = APIRouter(prefix="/api/v1", tags=["staff"], responses=ERRORS)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- signing in --------------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


@router.post("/token", response_model=TokenOut, tags=["sign-in"])
def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
) -> TokenOut:
    """OAuth2 password flow. `client_id` names the council when the server serves several."""
    token, expires = sign_in_with_password(request, username, password, client_id)
    return TokenOut(access_token=token, expires_at=expires)


@router.delete("/token", status_code=204, tags=["sign-in"])
def sign_out(who: Annotated[Staff, Depends(staff("permissions"))], request: Request) -> Response:
    """Revokes the token this request carries."""
    rt = runtime_of(request)
    rt.credentials.revoke_token(who.token, rt.clock())
    return Response(status_code=204)


class Me(BaseModel):
    user_id: str
    council: str
    role: str
    roles: list[str]
    teams: list[str]
    may: list[str]


@router.get("/me", response_model=Me, tags=["sign-in"])
def me(who: Annotated[Staff, Depends(staff("permissions"))]) -> Me:
    """Who the token belongs to, and what they may do (in any of their roles)."""
    v, table = who.viewer, who.council.permissions
    may = sorted({a for r in v.roles for a in table.by_role.get(r, ())})
    return Me(
        user_id=v.user_id,
        council=who.council.id,
        role=v.role,
        roles=sorted(v.roles),
        teams=sorted(v.teams),
        may=may,
    )


# -- the catalogue -----------------------------------------------------------------------------


@router.get("/categories")
def categories(who: Annotated[Staff, Depends(staff("categories"))]) -> list[dict[str, Any]]:
    return [
        {
            "code": k.code,
            "name": k.name,
            "team": k.team,
            "complete_days": k.complete_days,
            "acknowledge_days": k.acknowledge_days,
            "urgent": k.urgent,
        }
        for k in who.council.categories.values()
    ]


@router.get("/teams")
def teams(who: Annotated[Staff, Depends(staff("teams"))]) -> list[dict[str, Any]]:
    return [{"code": t.code, "name": t.name} for t in who.council.teams.values()]


# -- commands ----------------------------------------------------------------------------------


class LocationIn(Body):
    address: Detail | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)


class LodgeIn(Body):
    category: Short
    channel: Channel
    description: Text
    kind: RequestKind = RequestKind.SERVICE_REQUEST
    name: Detail | None = None
    customer_address: Detail | None = None
    phone: Detail | None = None
    email: Detail | None = None
    contact: ContactMethod | None = None
    customer: Short | None = Field(default=None, description="a customer record's number")
    location: LocationIn | None = None
    urgent: bool = False
    agreed_completion: Day | None = None
    received_at: Instant | None = Field(
        default=None, description="when the council received it (the standards count from it)"
    )


class Outcome(BaseModel):
    request_id: str
    reference: str
    version: int
    position: int


class Lodged(Outcome):
    customer: str | None
    restrictions: list[str]


@router.post("/requests", status_code=201, response_model=Lodged)
def lodge(body: LodgeIn, call: Annotated[Call, call_by("lodge")]) -> dict[str, Any]:
    who = call.who

    def act() -> dict[str, Any]:
        loc = body.location or LocationIn()
        intake = make_intake(
            category=body.category,
            channel=body.channel,
            description=body.description,
            kind=body.kind,
            name=body.name,
            customer_address=body.customer_address,
            phone=body.phone,
            email=body.email,
            contact=body.contact,
            address=loc.address,
            lat=loc.lat,
            long=loc.long,
            urgent=body.urgent,
            agreed_completion=body.agreed_completion,
            customer_number=body.customer,
            received_at=_aware(body.received_at, who.council.calendar.timezone),
        )
        cmd = cmds.LodgeRequest(council=who.council.id, intake=intake, actor=who.viewer.actor)
        done = cmds.lodge_request(cmd, call.runtime.ports)
        return {
            **outcome(done),
            "customer": done.customer,
            "restrictions": [r.describe() for r in done.restrictions],
        }

    answer = call.once(201, act)
    call.response.headers["Location"] = f"/api/v1/requests/{answer['reference']}"
    return answer


def _aware(instant: datetime | None, zone: str) -> datetime | None:
    """An instant without an offset is read in the council's local time, as on the CLI."""
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=ZoneInfo(zone))


class AssignIn(Body):
    team: Short
    officer: Short | None = None


class NoteIn(Body):
    text: Text
    kind: NoteKind = NoteKind.ACTION
    channel: Channel | None = None


class DelayIn(Body):
    reason: Text
    until: Day
    awaiting_customer: bool = False


class EscalateIn(Body):
    reason: Text
    level: Short | None = None


class CloseIn(Body):
    outcome: Short
    text: Text


class PublicDescriptionIn(Body):
    text: Text


@router.post("/requests/{reference}/acknowledge", response_model=Outcome)
def acknowledge(call: Annotated[RequestCall, request_call_by("acknowledge")]) -> dict[str, Any]:
    return call.command(cmds.AcknowledgeRequest)


@router.post("/requests/{reference}/assign", response_model=Outcome)
def assign(
    body: AssignIn, call: Annotated[RequestCall, request_call_by("assign")]
) -> dict[str, Any]:
    return call.command(cmds.AssignRequest, team=body.team, officer=body.officer)


@router.post("/requests/{reference}/notes", response_model=Outcome)
def note(body: NoteIn, call: Annotated[RequestCall, request_call_by("note")]) -> dict[str, Any]:
    return call.command(cmds.AddNote, text=body.text, note_kind=body.kind, channel=body.channel)


@router.post("/requests/{reference}/delay", response_model=Outcome)
def delay(body: DelayIn, call: Annotated[RequestCall, request_call_by("delay")]) -> dict[str, Any]:
    return call.command(
        cmds.DelayRequest,
        reason=body.reason,
        until=body.until,
        awaiting_customer=body.awaiting_customer,
    )


@router.post("/requests/{reference}/escalate", response_model=Outcome)
def escalate(
    body: EscalateIn, call: Annotated[RequestCall, request_call_by("escalate")]
) -> dict[str, Any]:
    return call.command(cmds.EscalateRequest, reason=body.reason, level=body.level)


@router.post("/requests/{reference}/close", response_model=Outcome)
def close(body: CloseIn, call: Annotated[RequestCall, request_call_by("close")]) -> dict[str, Any]:
    return call.command(cmds.CloseRequest, outcome=body.outcome, text=body.text)


@router.post("/requests/{reference}/public-description", response_model=Outcome)
def publish(
    body: PublicDescriptionIn, call: Annotated[RequestCall, request_call_by("publish")]
) -> dict[str, Any]:
    """Approves `text` as the description Open311 and the portal show (none is shown before)."""
    return call.command(cmds.ApprovePublicDescription, text=body.text)


# -- corrections: the CLI's reopen, recategorise, link and refer, and the agencies -----------


class ReopenIn(Body):
    reason: Text


class RecategoriseIn(Body):
    category: Short
    reason: Text


class LinkIn(Body):
    duplicate_of: Short
    reason: Text = "the same problem as an earlier request"


class ReferIn(Body):
    agency: Short
    reason: Text


@router.post("/requests/{reference}/reopen", response_model=Outcome)
def reopen(
    body: ReopenIn, call: Annotated[RequestCall, request_call_by("reopen")]
) -> dict[str, Any]:
    return call.command(fix.ReopenRequest, fix.handle, reason=body.reason)


@router.post("/requests/{reference}/recategorise", response_model=Outcome)
def recategorise(
    body: RecategoriseIn, call: Annotated[RequestCall, request_call_by("recategorise")]
) -> dict[str, Any]:
    return call.command(
        fix.RecategoriseRequest, fix.handle, category=body.category, reason=body.reason
    )


@router.post("/requests/{reference}/link", response_model=Outcome)
def link(body: LinkIn, call: Annotated[RequestCall, request_call_by("link")]) -> dict[str, Any]:
    """Closes the request as a duplicate of `duplicate_of` (`If-Match`: the duplicate's)."""
    return call.command(
        fix.LinkDuplicate, fix.handle, original=body.duplicate_of, reason=body.reason
    )


@router.post("/requests/{reference}/refer", response_model=Outcome)
def refer(body: ReferIn, call: Annotated[RequestCall, request_call_by("refer")]) -> dict[str, Any]:
    return call.command(fix.ReferRequest, fix.handle, agency=body.agency, reason=body.reason)


@router.get("/agencies")
def agencies(who: Annotated[Staff, Depends(staff("agencies"))]) -> list[dict[str, Any]]:
    return [
        {
            "code": a.code,
            "name": a.name,
            "handles": a.handles,
            "contact": a.contact,
            "phone": a.phone,
            "email": a.email,
            "web": a.web,
        }
        for a in who.council.agencies.values()
    ]


# -- views -------------------------------------------------------------------------------------


def _rt(request: Request) -> Runtime:
    return runtime_of(request)


# `?as_at=INSTANT` on the views below: the view as it stood then (everything recorded by that
# instant; SLA states judged at it), as `--as-at` on the command line. Without an offset the
# instant is read in the council's local time.
AsAt = Annotated[Instant | None, Query(alias="as_at")]


def as_at_in_council(who: Staff, as_at: datetime | None) -> datetime | None:
    """An as-at the caller gave, read in the council's local time when it has no offset, and
    judged against the calendar's span once it has one."""
    if as_at is None:
        return None
    if as_at.tzinfo is None:
        as_at = as_at.replace(tzinfo=ZoneInfo(who.council.calendar.timezone))
    if not views.within_calendar(as_at):
        raise HTTPException(status_code=422, detail=f"as_at must lie {views.CALENDAR_SPAN}")
    return as_at


@router.get("/requests/{reference}")
def show(
    reference: str,
    request: Request,
    response: Response,
    who: Annotated[Staff, Depends(staff("show"))],
    as_at: AsAt = None,
) -> dict[str, Any]:
    state = views.request_state(
        _rt(request),
        who.council,
        who.viewer,
        reference,
        "GET /api/v1/requests/{reference}",
        as_at_in_council(who, as_at),
    )
    response.headers["ETag"] = f'"{state["version"]}"'
    return state


@router.get("/requests/{reference}/history")
def history(
    reference: str,
    request: Request,
    who: Annotated[Staff, Depends(staff("history"))],
    as_at: AsAt = None,
) -> list[dict[str, Any]]:
    return views.request_history(
        _rt(request),
        who.council,
        who.viewer,
        reference,
        "GET /api/v1/requests/{reference}/history",
        as_at_in_council(who, as_at),
    )


QUEUE_PATH = "/api/v1/queue"
TEAM_MAX, OFFICER_MAX, CURSOR_MAX = 64, 128, 400  # the queue's query parameters' lengths


@router.get(QUEUE_PATH.removeprefix(router.prefix), response_model=list[dict[str, Any]])
async def queue(
    request: Request,
    who: Annotated[Staff, Depends(staff("queue"))],
    team: Annotated[str | None, Query(max_length=TEAM_MAX)] = None,
    officer: Annotated[str | None, Query(max_length=OFFICER_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=queue_cache.MAX_LIMIT)] = (queue_cache.DEFAULT_LIMIT),
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX)] = None,
    as_at: AsAt = None,
) -> Response:
    """A work queue: open requests, urgent first, then by due instant; `limit` rows (default
    100, at most 1,000) after `cursor`. When more follow, the `Link` header names the next
    page (`rel="next"`, with its `cursor`). `as_at`: the queue as it stood then."""
    cache: queue_cache.QueueCache = request.app.state.queue_cache
    rt, past = _rt(request), as_at_in_council(who, as_at)
    # A held queue with nothing new is answered on the event loop (one look at the change
    # mark); reading the store, now or as it stood, is done on a worker thread. On PostgreSQL
    # that look is itself a round trip to the database server: all of it on a worker thread.
    # (Most such reads never get here: `infra.http.queue_front` answers them first.)
    page = (
        None
        if past is not None or rt.settings.is_postgres
        else cache.held_page(rt, who.council, team, officer, limit, cursor)
    )
    if page is None:
        page = await run_in_threadpool(
            cache.page, rt, who.council, team, officer, limit, cursor, as_at=past
        )
    return queue_answer(request, page, limit)


def queue_answer(request: Request, page: queue_cache.Page, limit: int) -> Response:
    """A page of the queue as the answer: the held bytes, and the next page's `Link`."""
    headers = {"Cache-Control": "no-store"}
    if page.next_cursor is not None:
        following = request.url.include_query_params(cursor=page.next_cursor, limit=limit)
        headers["Link"] = f'<{following}>; rel="next"'
    return Response(page.body, media_type="application/json", headers=headers)


@dataclass(frozen=True)
class QueueAsked:
    """A read of the current queue, as `queue` takes its query parameters."""

    team: str | None
    officer: str | None
    limit: int
    cursor: str | None


def plain_queue_read(params: QueryParams) -> QueueAsked | None:
    """The parameters of a read of the current queue that `queue` would take exactly as given
    (each of `team`, `officer`, `limit`, `cursor` at most once, none empty, within its
    bounds; nothing else: no `as_at`, no `as_role`), else None."""
    given = params.multi_items()
    if len(given) != len(params) or not all(v for _, v in given):
        return None
    asked = dict(given)
    if not asked.keys() <= {"team", "officer", "limit", "cursor"}:
        return None
    team, officer, cursor = asked.get("team"), asked.get("officer"), asked.get("cursor")
    if len(team or "") > TEAM_MAX or len(officer or "") > OFFICER_MAX:
        return None
    if len(cursor or "") > CURSOR_MAX:
        return None
    limit = asked.get("limit", str(queue_cache.DEFAULT_LIMIT))
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= queue_cache.MAX_LIMIT):
        return None
    return QueueAsked(team=team, officer=officer, limit=int(limit), cursor=cursor)


def held_queue_answer(
    request: Request, token: str, asked: QueueAsked, looked: Looked | None = None
) -> Response | None:
    """`queue`'s answer to `asked` from the held queue, after the same caller check as the
    route's (`staff("queue")`: 401, 403); None when the held queue is not current (then the
    route reads it). `looked`: the check and the change mark as read ahead (`looked_first`)."""
    who = api_caller(request, token, "queue", looked)
    cache: queue_cache.QueueCache = request.app.state.queue_cache
    page = cache.held_page(
        _rt(request),
        who.council,
        asked.team,
        asked.officer,
        asked.limit,
        asked.cursor,
        mark=None if looked is None else looked.mark,
    )
    return None if page is None else queue_answer(request, page, asked.limit)


@router.get("/audit")
def audit(
    request: Request,
    who: Annotated[Staff, Depends(staff("audit"))],
    reference: Annotated[str | None, Query(max_length=64)] = None,
    officer: Annotated[str | None, Query(max_length=128)] = None,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
    as_at: AsAt = None,
) -> list[dict[str, Any]]:
    return views.audit(
        _rt(request),
        who.council,
        who.viewer,
        "GET /api/v1/audit",
        reference=reference,
        officer=officer,
        date_from=date_from,
        date_to=date_to,
        as_at=as_at_in_council(who, as_at),
    )


@router.get("/sla/{which}")
def sla(
    which: Literal["breached", "at-risk", "escalated"],
    request: Request,
    who: Annotated[Staff, Depends(staff("sla"))],
    team: Annotated[str | None, Query(max_length=64)] = None,
    level: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    now: Instant | None = None,
    as_at: AsAt = None,
) -> list[dict[str, Any]]:
    rt = _rt(request)
    if as_at is not None and now is not None:
        raise HTTPException(status_code=422, detail="give as_at or now, not both")
    past = as_at_in_council(who, as_at)
    at = past or (now if now is not None and now.tzinfo is not None else rt.clock())
    return views.sla(
        rt,
        who.council,
        which,
        at,
        team=team,
        level=level,
        category=category,
        as_at=past is not None,
    )


@router.get("/kpi")
def kpi(
    request: Request,
    who: Annotated[Staff, Depends(staff("kpi"))],
    by: Literal["category", "team", "channel", "kind", "day"],
    date_from: Annotated[Day, Query(alias="from")],
    date_to: Annotated[Day, Query(alias="to")],
) -> dict[str, Any]:
    rt = _rt(request)
    result = views.kpis(rt, who.council, by, date_from, date_to, rt.clock())
    plain: dict[str, Any] = to_plain({"groups": result.groups, "total": result.total})
    return plain


@router.get("/notices")
def notices(
    request: Request,
    who: Annotated[Staff, Depends(staff("notices"))],
    reference: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    return views.notices(_rt(request), who.council, who.viewer, "GET /api/v1/notices", reference)
