"""What each view shows, for every interface: the CLI prints it, the HTTP interface serves it.

Each view takes the runtime, the council and the acting `Viewer` (already authorized for the
view's action by `commands.access.authorize`) and returns plain, JSON-ready data, with residents'
personal fields disclosed as that viewer may see them (`commands.disclosure`) and each opening
recorded in the access log under `via` (the command or endpoint, e.g. `crm show`,
`GET /api/v1/requests/{reference}`). No interface builds a view of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from commands.disclosure import Disclosure
from consumers import follower
from consumers.store_reader import StoreReader
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.council import Council
from domain.permissions import Viewer
from infra.notify import list_outbox
from infra.runtime import Runtime
from projections import audit_record, kpi, request_summary, sla_queries, work_queue
from projections.envelope import event_data, event_type, to_plain
from projections.sla import Sla

SLA_QUERIES = {
    "breached": sla_queries.breached,
    "at-risk": sla_queries.at_risk,
    "escalated": sla_queries.escalated,
}


def read_models_ready(rt: Runtime) -> None:
    """Creates the read-model tables; on the embedded default, first applies every event not
    yet applied, so a query right after a command sees it. The tables are made once per
    runtime: a query is then one position read, or a catch-up when events are new."""
    models = rt.read_models
    if not rt.read_tables_ready:
        follower.ensure_tables(rt.read_engine, models)
        rt.read_tables_ready = True
    if rt.settings.kafka_bootstrap is None:
        follower.catch_up(StoreReader(rt.app), rt.read_engine, models)


def disclosure(rt: Runtime, c: Council, viewer: Viewer, via: str) -> Disclosure:
    """What `viewer` may see of council `c`'s residents' data through `via`."""
    return Disclosure(rt.vault, c.id, viewer, via, rt.clock(), chain=c.roles)


def reveal_per_request(
    conn: sa.Connection, d: Disclosure, council: str, values: Sequence[tuple[str, Any]]
) -> list[Any]:
    """Each `(reference, value)` as `d`'s reader may see it, request by request: the team and
    escalation level that decide it come from the request summary (`read_models_ready` first)."""
    model = request_summary.RequestSummary()
    seen = request_summary.by_references(conn, model, council, (ref for ref, _ in values))
    shown = []
    for ref, value in values:
        s = seen.get(ref, {})
        shown.append(d.reveal_request(value, team=s.get("team"), level=s.get("level"),
                                      customer=s.get("customer")))
    return shown


# -- one request ----------------------------------------------------------------------------


def load_request(rt: Runtime, c: Council, reference: str) -> ServiceRequest:
    """The request as it stands (`RequestNotFound` if the council has no such reference)."""
    ref = reference.strip().upper()
    return rt.ports.get(request_id(c.id, ref), ref)


def _reveal(r: ServiceRequest, d: Disclosure, value: Any) -> Any:
    return d.reveal_request(value, team=r.team, level=r.level,
                            customer=r.customer.number if r.customer else None)


def request_state(rt: Runtime, c: Council, viewer: Viewer, reference: str, via: str
                  ) -> dict[str, Any]:
    """The request as it stands, as `viewer` may see it."""
    r = load_request(rt, c, reference)
    shown: dict[str, Any] = _reveal(r, disclosure(rt, c, viewer, via), to_plain({
        "reference": r.reference, "council": r.council, "request_id": str(r.id),
        "status": r.status.value, "kind": r.kind, "category": r.category, "team": r.team,
        "officer": r.officer, "urgent": r.urgent, "level": r.level, "lodged_at": r.lodged_at,
        "acknowledged_at": r.acknowledged_at, "acknowledge_by": r.acknowledge_by,
        "complete_by": r.complete_by, "closed_at": r.closed_at, "outcome": r.outcome,
        "notes": r.note_count, "delays": r.delay_count, "version": r.version,
        "customer_id": r.customer.number if r.customer else None,
        "customer": r.customer, "location": r.location, "description": r.description,
    }))
    return shown


def request_history(rt: Runtime, c: Council, viewer: Viewer, reference: str, via: str
                    ) -> list[dict[str, Any]]:
    """Every event of the request, oldest first, as `viewer` may see it."""
    r = load_request(rt, c, reference)
    events = rt.app.repository.event_store.get(r.id)
    rows: list[dict[str, Any]] = [
        {
            "type": event_type(e), "version": e.originator_version,
            "occurred_at": e.occurred_at.isoformat(), "recorded_at": e.timestamp.isoformat(),
            "actor": {"id": e.actor.id, "role": e.actor.role}, "data": event_data(e),
        }
        for e in events
        if isinstance(e, ServiceRequest.Event)  # all a request's events are; this names the type
    ]
    shown: list[dict[str, Any]] = _reveal(r, disclosure(rt, c, viewer, via), rows)
    return shown


# -- lists ----------------------------------------------------------------------------------


def queue(rt: Runtime, c: Council, team: str | None, officer: str | None
          ) -> list[dict[str, Any]]:
    """The work queue (open requests, urgent first, then by due instant): no personal data."""
    read_models_ready(rt)
    f = work_queue.QueueFilter(council=c.id, team=team, officer=officer)
    with rt.read_engine.connect() as conn:
        rows: list[dict[str, Any]] = to_plain(work_queue.query(conn, work_queue.WorkQueue(), f))
    return rows


EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def _period(date_from: date | None, date_to: date | None) -> None:
    """A period asked for: its days between 1900 and 2999, and in order."""
    for day in (date_from, date_to):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValueError(f"{day} is outside the dates kept ({EARLIEST} to {LATEST})")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ValueError(f"the period ends ({date_to}) before it starts ({date_from})")


def _day_start(c: Council, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(c.calendar.timezone))


def audit(rt: Runtime, c: Council, viewer: Viewer, via: str, *, reference: str | None = None,
          officer: str | None = None, date_from: date | None = None, date_to: date | None = None,
          payloads: bool = True) -> list[dict[str, Any]]:
    """The audit record's rows (one request's, one officer's, or a period's, in the council's
    days), with each event's payload as `viewer` may see it (`payloads`)."""
    if not (reference or officer or date_from or date_to):
        raise ValueError("say what to list: a reference, an officer, or a period")
    _period(date_from, date_to)
    read_models_ready(rt)
    f = audit_record.AuditFilter(
        council=c.id, reference=reference.strip().upper() if reference else None,
        officer=officer,
        start=_day_start(c, date_from) if date_from else None,
        end=_day_start(c, date_to + timedelta(days=1)) if date_to else None,
    )
    with rt.read_engine.connect() as conn:
        rows = audit_record.query(conn, audit_record.AuditRecord(), f)
        if payloads:
            shown = reveal_per_request(
                conn, disclosure(rt, c, viewer, via), c.id,
                [(row["reference"], json.loads(row["payload"])) for row in rows])
            for row, payload in zip(rows, shown, strict=True):
                row["payload"] = payload
        else:
            for row in rows:
                del row["payload"]
    plain: list[dict[str, Any]] = to_plain(rows)
    return plain


def notices(rt: Runtime, c: Council, viewer: Viewer, via: str, reference: str | None = None
            ) -> list[dict[str, Any]]:
    """The customer notices in the outbox, oldest first, recipients as `viewer` may see them."""
    rows = list_outbox(rt.write_engine, c.id, reference.strip().upper() if reference else None)
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        shown: list[dict[str, Any]] = to_plain(reveal_per_request(
            conn, disclosure(rt, c, viewer, via), c.id, [(row["reference"], row) for row in rows]))
    return shown


def sla(rt: Runtime, c: Council, which: str, now: datetime, *, team: str | None = None,
        level: str | None = None, category: str | None = None) -> list[dict[str, Any]]:
    """Open requests breached, at risk or escalated (`which`) at `now`: no personal data."""
    if which not in SLA_QUERIES:
        raise ValueError(f"no SLA view {which!r} (one of {', '.join(SLA_QUERIES)})")
    read_models_ready(rt)
    f = sla_queries.SlaFilter(council=c.id, team=team, role=level, category=category)
    with rt.read_engine.connect() as conn:
        rows: list[dict[str, Any]] = to_plain(SLA_QUERIES[which](conn, Sla(), f, now))
    return rows


def kpis(rt: Runtime, c: Council, by: str, date_from: date, date_to: date, now: datetime
         ) -> kpi.KpiResult:
    """The KPIs of the requests lodged from `date_from` to `date_to` (the council's days),
    grouped `by` category, team, channel, kind or day."""
    _period(date_from, date_to)
    zone = ZoneInfo(c.calendar.timezone)
    query = kpi.KpiQuery(
        council=c.id, by=by, zone=zone,
        start=datetime.combine(date_from, time(0), tzinfo=zone),
        end=datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=zone),
        now=now, targets=dict(c.kpi_targets),
        team_names={t.code: t.name for t in c.teams.values()},
    )
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        return kpi.compute(conn, Sla(), audit_record.AuditRecord(), query)
