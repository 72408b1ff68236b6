"""The staff API's twins of `crm alerts` (and `alerts ack`), `crm notices done`, `crm sla sweep`
and `crm record verify|anchor|due-for-disposal|dispose`: the same tables, watchdog, record
checks and handlers as the command line (`infra.operations`, `commands.retention`), with the
staff API's `Idempotency-Key` on every POST."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from commands import alerts as alert_cmds
from commands import retention
from infra import operations, views
from infra.http.auth import Staff, runtime_of, staff
from infra.http.calls import Call, call_by
from infra.http.instants import Day, Instant
from infra.http.staff_api import ERRORS, Body, Short, Text
from infra.notify import mark_done
from projections.envelope import to_plain

router = APIRouter(prefix="/api/v1", tags=["staff"], responses=ERRORS)
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


# -- staff alerts of urgent requests -----------------------------------------------------------


@router.get("/alerts")
def alerts(
    request: Request,
    who: Annotated[Staff, Depends(staff("alerts"))],
    role: Annotated[str | None, Query(max_length=64)] = None,
    all: bool = False,
) -> list[dict[str, Any]]:
    """The council's staff alerts (open ones unless `all`), oldest first; `role`: one role's."""
    rows = runtime_of(request).alerts.listed(who.council.id, role, open_only=not all)
    plain: list[dict[str, Any]] = to_plain(rows)
    return plain


@router.post("/alerts/{alert_id}/ack")
def take_alert(
    alert_id: RowId,
    call: Annotated[Call, call_by("alerts")],
) -> dict[str, Any]:
    """Takes the alert: it is the caller's, and goes no further (422 if already taken)."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        taking = alert_cmds.TakeAlert(
            council=call.who.council.id, alert_id=alert_id, actor=call.who.viewer.actor
        )
        row: dict[str, Any] = to_plain(alert_cmds.take_alert(taking, rt.ports, rt.alerts))
        return row

    return call.once(200, act)


# -- the staff work list of letters and calls --------------------------------------------------


class NoticeDoneIn(Body):
    by: Literal["posted", "called"]
    note: Text | None = None


@router.post("/notices/{notice_id}/done")
def notice_done(
    notice_id: RowId,
    body: NoticeDoneIn,
    call: Annotated[Call, call_by("notices")],
) -> dict[str, Any]:
    """Records a pending letter posted or call made: who, how and when."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        row = mark_done(
            rt.write_engine,
            call.who.council.id,
            notice_id,
            by=call.who.viewer.actor,
            how=body.by,
            note=body.note,
            at=rt.clock(),
        )
        plain: dict[str, Any] = to_plain({k: v for k, v in row.items() if k != "recipient"})
        return plain

    return call.once(200, act)


# -- the SLA watchdog, by hand ------------------------------------------------------------------


class SweepIn(Body):
    now: Instant | None = Field(default=None, description="the instant to sweep at")


@router.post("/sla/sweep")
def sweep(
    call: Annotated[Call, call_by("sla-sweep")],
    body: SweepIn | None = None,
) -> dict[str, Any]:
    """One watchdog sweep of the council, recorded as the caller's: what it escalated,
    notified and alerted; `waiting` lists requests left alone because the view does not yet
    show the watchdog's last command on them (as `crm sla sweep` exiting 1)."""
    rt = call.runtime
    zone = ZoneInfo(call.who.council.calendar.timezone)
    given = body.now if body is not None else None
    now = given if given is None or given.tzinfo else given.replace(tzinfo=zone)

    def act() -> dict[str, Any]:
        report = operations.make_watchdog(rt, [call.who.council.id], call.who.viewer.actor).sweep(
            now or rt.clock()
        )
        return {
            "now": report.now.isoformat(),
            "actions": report.lines(),
            "waiting": [ref for _, ref in report.waiting],
        }

    return call.once(200, act)


# -- the tamper-evident record -------------------------------------------------------------------


@router.get("/record/verify")
def verify(
    request: Request, response: Response, who: Annotated[Staff, Depends(staff("record"))]
) -> dict[str, Any]:
    """Recomputes the chain and checks the event store and the audit record against it:
    `ok`, each log's count and head hash, and the findings (where a source parts from the
    chain). A broken record is still a 200 answer, with `ok` false (`X-Record-Verified`)."""
    checked = operations.verify_record(runtime_of(request))
    response.headers["X-Record-Verified"] = "true" if checked.ok else "false"
    return checked.plain()


@router.post("/record/anchor", status_code=201)
def anchor(
    call: Annotated[Call, call_by("record")],
) -> dict[str, Any]:
    """The record's heads signed with the council's record key (made with `crm record
    keygen` on the server): a manifest to deposit elsewhere. A broken record is not
    anchored (409, with the findings)."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        try:
            return operations.anchor_record(rt, call.who.council)
        except operations.RecordBroken as broken:
            raise RecordNotAnchored(broken) from None

    return call.once(201, act)


class RecordNotAnchored(Exception):
    """An anchor asked of a record that does not verify (answered 409)."""

    def __init__(self, broken: operations.RecordBroken) -> None:
        super().__init__(f"{broken}: " + "; ".join(f.line() for f in broken.findings[:5]))


@router.get("/record/due-for-disposal")
def due_for_disposal(
    request: Request, who: Annotated[Staff, Depends(staff("record"))], on: Day | None = None
) -> list[dict[str, Any]]:
    """Closed requests past their retention, not yet disposed of (as on `on`, default today)."""
    rt = runtime_of(request)
    day = on or views.council_today(rt, who.council)
    return views.due_for_disposal(rt, who.council, day)


class DisposeIn(Body):
    reason: Text


class Disposed(Body):
    disposed: list[Short]
    erased: Short = Field(description="whose data key was destroyed: `customer` or `request`")
    customer: Short | None


@router.post("/requests/{reference}/dispose", response_model=Disposed)
def dispose(
    reference: str,
    body: DisposeIn,
    call: Annotated[Call, call_by("dispose")],
) -> dict[str, Any]:
    """Erases the request's personal data at the end of its retention and records its disposal
    certificate (records officers); refused, with the rule's reason, before then."""
    rt = call.runtime

    def act() -> dict[str, Any]:
        done = retention.dispose_request(
            retention.DisposeRequest(
                council=call.who.council.id,
                reference=reference.strip().upper(),
                reason=body.reason,
                actor=call.who.viewer.actor,
            ),
            rt.ports,
            lambda council_id, number: views.customer_requests(rt, council_id, number),
        )
        return {"disposed": list(done.disposed), "erased": done.erased, "customer": done.customer}

    return call.once(200, act)
