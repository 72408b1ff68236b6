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
from eventsourcing.application import project_aggregate

from commands import attachments as attachment_cmds
from commands import customers
from commands.disclosure import Disclosure
from commands.errors import AttachmentNotFound, RequestNotFound
from consumers import follower, operations, record_follower
from consumers.store_reader import StoreReader
from domain import bounds
from domain.aggregates.customer import Customer, customer_id
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.council import Council
from domain.errors import NotPermitted
from domain.permissions import Viewer
from domain.personal import REDACTED
from domain.retention import disposal_due
from infra.attachments import DirectoryFileStore
from infra.notify import list_outbox
from infra.runtime import Runtime
from projections import (
    audit_record,
    complaint_register,
    enquiry_statistics,
    kpi,
    registry,
    request_attachments,
    request_summary,
    sla_queries,
    work_queue,
    work_queue_history,
)
from projections import public_requests as public_requests_model
from projections.base import ReadModel
from projections.envelope import event_data, event_type, to_plain
from projections.sla import Sla
from projections.sla_history import SlaHistory

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
    embedded = rt.settings.kafka_bootstrap is None
    reader = StoreReader(rt.app)
    if not rt.read_tables_ready:
        follower.ensure_tables(rt.read_engine, models)
        if embedded:
            operations.ensure_tables(rt.read_engine)
            for model in models:  # a model whose definition changed is rebuilt, switched in
                operations.ensure_current(reader, rt.read_engine, model.name)
        rt.read_tables_ready = True
    if embedded:
        _catch_up(rt, reader, models)


def _catch_up(rt: Runtime, reader: StoreReader, models: Sequence[ReadModel]) -> None:
    """Applies what is new in the event logs to the read models and the record chain. When
    neither log's head has moved since this process last caught up, that is one indexed read of
    each log's head and nothing more. Catch-ups in this process take turns, and one that waited
    finds what its predecessor applied: sixteen concurrent readers after one event run one
    catch-up, not sixteen. (A rebuild switched in by another process is seen at the next
    event.)"""
    heads = _heads(rt)
    if _applied(rt, heads):
        return
    with rt.catch_up_lock:
        if _applied(rt, heads):
            return
        follower.catch_up(reader, rt.read_engine, models)
        record_follower.catch_up(rt.chain_engine, rt.record_logs())
        rt.views_caught_up = heads  # at least: the catch-ups read the heads again, later


def _heads(rt: Runtime) -> dict[str, int]:
    return {name: app.recorder.max_notification_id() or 0 for name, app in rt.record_logs().items()}


def _applied(rt: Runtime, heads: dict[str, int]) -> bool:
    seen = rt.views_caught_up
    return all(name in seen and head <= seen[name] for name, head in heads.items())


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
        # a contact (not a request) names its customer in its own payload
        named = value.get("customer_id") if isinstance(value, dict) else None
        shown.append(
            d.reveal_request(
                value, team=s.get("team"), level=s.get("level"), customer=s.get("customer") or named
            )
        )
    return shown


# -- one request ----------------------------------------------------------------------------


def load_request(rt: Runtime, c: Council, reference: str) -> ServiceRequest:
    """The request as it stands (`RequestNotFound` if the council has no such reference)."""
    ref = reference.strip().upper()
    return rt.ports.get(request_id(c.id, ref), ref)


def _as_at(
    rt: Runtime, r: ServiceRequest, instant: datetime | None
) -> tuple[ServiceRequest, list[ServiceRequest.Event]]:
    """The request as the council had recorded it by `instant` (as it stands, without one),
    and its events up to then: those recorded at or before that instant, in order."""
    events = [
        e for e in rt.app.repository.event_store.get(r.id) if isinstance(e, ServiceRequest.Event)
    ]  # all a request's events are
    if instant is None:
        return r, events
    events = [e for e in events if e.timestamp <= instant]
    past: ServiceRequest | None = project_aggregate(None, events)
    if past is None:
        raise RequestNotFound(f"request {r.reference} was not yet lodged at {instant.isoformat()}")
    return past, events


def _reveal(r: ServiceRequest, d: Disclosure, value: Any) -> Any:
    return d.reveal_request(
        value, team=r.team, level=r.level, customer=r.customer.number if r.customer else None
    )


def request_state(
    rt: Runtime, c: Council, viewer: Viewer, reference: str, via: str, as_at: datetime | None = None
) -> dict[str, Any]:
    """The request as it stands (or stood at `as_at`), as `viewer` may see it now."""
    now = load_request(rt, c, reference)
    r = now if as_at is None else _as_at(rt, now, as_at)[0]  # as it stands: no re-read
    shown: dict[str, Any] = _reveal(
        now,
        disclosure(rt, c, viewer, via),
        to_plain(
            {
                "reference": r.reference,
                "council": r.council,
                "request_id": str(r.id),
                "status": r.status.value,
                "kind": r.kind,
                "category": r.category,
                "team": r.team,
                "officer": r.officer,
                "urgent": r.urgent,
                "level": r.level,
                "lodged_at": r.lodged_at,
                "received_at": r.received_at,
                "acknowledged_at": r.acknowledged_at,
                "acknowledge_by": r.acknowledge_by,
                "complete_by": r.complete_by,
                "closed_at": r.closed_at,
                "outcome": r.outcome,
                "notes": r.note_count,
                "delays": r.delay_count,
                "version": r.version,
                "customer_id": r.customer.number if r.customer else None,
                "customer": r.customer,
                "location": r.location,
                "description": r.description,
                "attributes": r.attributes,
                "duplicate_of": r.duplicate_of,
                "duplicates": list(r.duplicates),
                "referred_to": r.referred_to,
                "reopens": r.reopen_count,
                **({"as_at": as_at} if as_at is not None else {}),
            }
        ),
    )
    return shown


def request_history(
    rt: Runtime, c: Council, viewer: Viewer, reference: str, via: str, as_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Every event of the request (recorded by `as_at`), oldest first, as `viewer` may see
    it."""
    r = load_request(rt, c, reference)
    _, events = _as_at(rt, r, as_at)
    rows: list[dict[str, Any]] = [
        {
            "type": event_type(e),
            "version": e.originator_version,
            "occurred_at": e.occurred_at.isoformat(),
            "recorded_at": e.timestamp.isoformat(),
            "actor": {"id": e.actor.id, "role": e.actor.role},
            "data": event_data(e),
        }
        for e in events
    ]
    shown: list[dict[str, Any]] = _reveal(r, disclosure(rt, c, viewer, via), rows)
    return shown


# -- lists ----------------------------------------------------------------------------------


def queue(
    rt: Runtime, c: Council, team: str | None, officer: str | None, as_at: datetime | None = None
) -> list[dict[str, Any]]:
    """The work queue (open requests, urgent first, then by due instant), as it stands or as it
    stood at `as_at`: no personal data."""
    read_models_ready(rt)
    f = work_queue.QueueFilter(council=c.id, team=team, officer=officer)
    with rt.read_engine.connect() as conn:
        found = (
            work_queue_history.query_as_at(conn, work_queue_history.WorkQueueHistory(), f, as_at)
            if as_at is not None
            else work_queue.query(conn, work_queue.WorkQueue(), f)
        )
    rows: list[dict[str, Any]] = to_plain(found)
    return rows


def queue_plain(
    rt: Runtime, c: Council, team: str | None, officer: str | None
) -> work_queue.PlainRows:
    """The work queue as it stands (`queue`'s rows, in its order), as the database driver
    hands them over: for a reader that encodes the rows itself (the held queue over HTTP)."""
    read_models_ready(rt)
    f = work_queue.QueueFilter(council=c.id, team=team, officer=officer)
    with rt.read_engine.connect() as conn:
        return work_queue.query_plain(conn, work_queue.WorkQueue(), f)


def queue_with_sla(
    rt: Runtime, c: Council, team: str | None, officer: str | None, now: datetime
) -> list[dict[str, Any]]:
    """The work queue, each row with its SLA state at `now` (`sla_state`: breached, at-risk,
    paused, on-track; `sla_breaches`; `sla_remaining`, e.g. '2d 3h 0m left'): no personal
    data."""
    rows = queue(rt, c, team, officer)
    with rt.read_engine.connect() as conn:
        seen = sla_queries.states(conn, Sla(), c.id, [r["reference"] for r in rows], now)
    for row in rows:
        s = seen.get(row["reference"], {})
        row.update(
            sla_state=s.get("state"),
            sla_breaches=s.get("breaches", []),
            sla_remaining=s.get("remaining", ""),
        )
    return rows


def request_sla(rt: Runtime, c: Council, reference: str, now: datetime) -> dict[str, Any] | None:
    """The request's SLA state at `now` as the SLA views show it (None before the SLA view has
    it): no personal data."""
    read_models_ready(rt)
    ref = reference.strip().upper()
    with rt.read_engine.connect() as conn:
        found: dict[str, Any] | None = to_plain(
            sla_queries.states(conn, Sla(), c.id, [ref], now).get(ref)
        )
    return found


def change_mark(rt: Runtime) -> int:
    """A number that grows whenever the views may show something new: on the embedded default
    the event store's last position (the views apply it when they run); on the Kafka path the
    positions the work queue and SLA read models have applied."""
    if rt.settings.kafka_bootstrap is None:
        return StoreReader(rt.app).head()
    models = [registry.build("work_queue"), registry.build("sla")]
    follower.ensure_tables(rt.read_engine, models)
    with rt.read_engine.connect() as conn:
        return sum(sum(m.positions_by_source(conn).values()) for m in models)


def _period(date_from: date | None, date_to: date | None) -> None:
    """A period asked for: its days within the calendar's usable span, and in order."""
    bounds.require_within_calendar(date_from, "the period's first day")
    bounds.require_within_calendar(date_to, "the period's last day")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ValueError(f"the period ends ({date_to}) before it starts ({date_from})")


def _day_start(c: Council, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(c.calendar.timezone))


def audit(
    rt: Runtime,
    c: Council,
    viewer: Viewer,
    via: str,
    *,
    reference: str | None = None,
    officer: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    payloads: bool = True,
    as_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The audit record's rows (one request's, one officer's, or a period's, in the council's
    days), with each event's payload as `viewer` may see it (`payloads`); with `as_at`, only
    the entries recorded by then (the record is append-only: that is the record as it stood)."""
    if not (reference or officer or date_from or date_to):
        raise ValueError("say what to list: a reference, an officer, or a period")
    _period(date_from, date_to)
    read_models_ready(rt)
    f = audit_record.AuditFilter(
        council=c.id,
        reference=reference.strip().upper() if reference else None,
        officer=officer,
        start=_day_start(c, date_from) if date_from else None,
        end=_day_start(c, date_to + timedelta(days=1)) if date_to else None,
        as_at=as_at,
    )
    with rt.read_engine.connect() as conn:
        rows = audit_record.query(conn, audit_record.AuditRecord(), f)
        if payloads:
            shown = reveal_per_request(
                conn,
                disclosure(rt, c, viewer, via),
                c.id,
                [(row["reference"], json.loads(row["payload"])) for row in rows],
            )
            for row, payload in zip(rows, shown, strict=True):
                row["payload"] = payload
        else:
            for row in rows:
                del row["payload"]
    plain: list[dict[str, Any]] = to_plain(rows)
    return plain


def notices(
    rt: Runtime,
    c: Council,
    viewer: Viewer,
    via: str,
    reference: str | None = None,
    *,
    pending: bool = False,
) -> list[dict[str, Any]]:
    """The customer notices in the outbox, oldest first (`pending`: those still to send or
    still to post or call by hand), recipients as `viewer` may see them."""
    rows = list_outbox(
        rt.write_engine, c.id, reference.strip().upper() if reference else None, pending=pending
    )
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        shown: list[dict[str, Any]] = to_plain(
            reveal_per_request(
                conn,
                disclosure(rt, c, viewer, via),
                c.id,
                [(row["reference"], row) for row in rows],
            )
        )
    return shown


def sla(
    rt: Runtime,
    c: Council,
    which: str,
    now: datetime,
    *,
    team: str | None = None,
    level: str | None = None,
    category: str | None = None,
    as_at: bool = False,
) -> list[dict[str, Any]]:
    """Open requests breached, at risk or escalated (`which`) at `now`: no personal data.
    By default by what is recorded now; `as_at`: by what had been recorded by `now` (the SLA
    view's history), each state judged at `now` — the view as it stood then."""
    if which not in SLA_QUERIES:
        raise ValueError(f"no SLA view {which!r} (one of {', '.join(SLA_QUERIES)})")
    read_models_ready(rt)
    f = sla_queries.SlaFilter(council=c.id, team=team, role=level, category=category)
    source: sla_queries.SlaSource = SlaHistory() if as_at else Sla()
    with rt.read_engine.connect() as conn:
        rows: list[dict[str, Any]] = to_plain(SLA_QUERIES[which](conn, source, f, now))
    return rows


def kpis(
    rt: Runtime, c: Council, by: str, date_from: date, date_to: date, now: datetime
) -> kpi.KpiResult:
    """The KPIs of the requests lodged from `date_from` to `date_to` (the council's days),
    grouped `by` category, team, channel, kind or day."""
    _period(date_from, date_to)
    zone = ZoneInfo(c.calendar.timezone)
    query = kpi.KpiQuery(
        council=c.id,
        by=by,
        zone=zone,
        start=datetime.combine(date_from, time(0), tzinfo=zone),
        end=datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=zone),
        now=now,
        targets=dict(c.kpi_targets),
        team_names={t.code: t.name for t in c.teams.values()},
        satisfied_from=c.satisfaction.satisfied_from,
    )
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        return kpi.compute(conn, Sla(), audit_record.AuditRecord(), query)


# the calendar's usable span for instants and dates a client gives: one bound, in the domain
CALENDAR_SPAN = bounds.CALENDAR_SPAN
within_calendar = bounds.within_calendar


def council_today(rt: Runtime, c: Council) -> date:
    """Today in the council's own time zone: the date a UTC clock gives is the day before for
    part of every day in a council east of Greenwich (from 13:00 UTC in Sydney's summer)."""
    return rt.clock().astimezone(ZoneInfo(c.calendar.timezone)).date()


def enquiry_stats(
    rt: Runtime, c: Council, by: str, date_from: date | None = None, date_to: date | None = None
) -> list[dict[str, Any]]:
    """Enquiries and requests received each of the council's days from `date_from` to
    `date_to` (default: the seven days to the council's today), by type (enquiry type or
    request category) or by channel."""
    _period(date_from, date_to)  # the dates given, before a default is reckoned from them
    date_to = date_to or council_today(rt, c)
    date_from = date_from or date_to - timedelta(days=6)
    _period(date_from, date_to)
    q = enquiry_statistics.StatsQuery(
        council=c.id,
        by=by,
        zone=ZoneInfo(c.calendar.timezone),
        start=_day_start(c, date_from),
        end=_day_start(c, date_to + timedelta(days=1)),
    )
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        return enquiry_statistics.daily(conn, enquiry_statistics.EnquiryStatistics(), q)


_ATTACHMENT_FIELDS = (
    "reference",
    "sha256",
    "media_type",
    "size",
    "filename",
    "note",
    "uploaded_by",
    "uploaded_role",
    "attached_at",
)


def attachments(
    rt: Runtime, c: Council, viewer: Viewer, reference: str, via: str
) -> list[dict[str, Any]]:
    """A request's attachments (file names as `viewer` may see them); `RequestNotFound` if the
    council has no such request."""
    ref = reference.strip().upper()
    load_request(rt, c, ref)
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        rows = request_attachments.of_request(
            conn, request_attachments.RequestAttachments(), c.id, ref
        )
        shown = reveal_per_request(
            conn,
            disclosure(rt, c, viewer, via),
            c.id,
            [(ref, {k: r[k] for k in _ATTACHMENT_FIELDS}) for r in rows],
        )
    plain: list[dict[str, Any]] = to_plain(shown)
    return plain


def attachment_content(
    rt: Runtime, c: Council, viewer: Viewer, sha256: str, via: str
) -> tuple[dict[str, Any], bytes]:
    """The attachment with this content hash (the first attached, if several) and its bytes,
    intact: checked against the stored file's name, its seal and the recorded SHA-256. Only
    for a reader who may see the request's personal data (the opening is logged)."""
    wanted = sha256.strip().lower()
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        found = request_attachments.by_hash(
            conn, request_attachments.RequestAttachments(), c.id, wanted
        )
        if not found:
            raise AttachmentNotFound(f"no attachment {wanted[:80]}")
        row = found[0]
        [shown] = reveal_per_request(
            conn,
            disclosure(rt, c, viewer, via),
            c.id,
            [(row["reference"], {k: row[k] for k in _ATTACHMENT_FIELDS})],
        )
    if shown["filename"] == REDACTED:
        raise NotPermitted(
            f"{viewer.user_id} ({viewer.role}) may not read the documents of "
            f"request {row['reference']}"
        )
    content = attachment_cmds.read_content(
        DirectoryFileStore.for_settings(rt.settings), rt.vault.opener(), row["blob"], wanted
    )
    plain: dict[str, Any] = to_plain(shown)
    return plain, content


# -- customers ------------------------------------------------------------------------------


def customer_record(customer: Customer, today: date) -> dict[str, Any]:
    """A customer's record as stored (personal fields sealed): what a view discloses."""
    plain: dict[str, Any] = to_plain(
        {
            "customer_id": customer.number,
            **customer.details,
            "erased_at": customer.erased_at,
            "declarations": [to_plain(d) for d in customer.declarations.values()],
            "restrictions_in_force": [
                {**to_plain(r), "summary": r.describe()}
                for r in customer.restrictions_in_force(today)
            ],
            "reviews_overdue": [
                f"{type(d).__name__.lower()} {d.id}" for d in customer.reviews_overdue(today)
            ],
        }
    )
    return plain


def find_customers(
    rt: Runtime, c: Council, viewer: Viewer, field: str, value: str, via: str
) -> list[dict[str, Any]]:
    """The customers whose `field` (phone, email, name) is `value`, by the blind index."""
    if field not in customers.FINDABLE:
        raise ValueError(f"find customers by {', '.join(customers.FINDABLE)}, not {field!r}")
    d = disclosure(rt, c, viewer, via)
    rows = []
    for number in customers.find_customers(rt.vault, c.id, field, value):
        found = rt.directory_ports.find(Customer, customer_id(c.id, number))
        if found is None:  # a registration under way, or one that failed half-way
            continue
        rows.append(
            d.reveal(
                {
                    "customer_id": found.number,
                    "name": found.details["name"],
                    "preferred_contact": found.details["preferred_contact"].value,
                },
                allowed=d.sees_customers,
                customer=found.number,
            )
        )
    return rows


def customer_state(
    rt: Runtime, c: Council, viewer: Viewer, number: str, via: str
) -> dict[str, Any]:
    customer = customers.load(rt.directory_ports, c.id, number)
    d = disclosure(rt, c, viewer, via)
    shown: dict[str, Any] = d.reveal(
        customer_record(customer, rt.clock().date()),
        allowed=d.sees_customers,
        customer=customer.number,
    )
    return shown


def customer_history(
    rt: Runtime, c: Council, viewer: Viewer, number: str, via: str
) -> dict[str, Any]:
    """The record's events and the customer's requests."""
    customer = customers.load(rt.directory_ports, c.id, number)
    stored: list[Any] = list(rt.directory.repository.event_store.get(customer.id))
    events = [
        {
            "type": event_type(e),
            "version": e.originator_version,
            "occurred_at": e.occurred_at.isoformat(),
            "actor": {"id": e.actor.id, "role": e.actor.role},
            "data": event_data(e),
        }
        for e in stored
    ]
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        requests = [
            {
                k: r[k]
                for k in (
                    "reference",
                    "status",
                    "category",
                    "team",
                    "lodged_at",
                    "closed_at",
                    "outcome",
                )
            }
            for r in request_summary.of_customer(
                conn, request_summary.RequestSummary(), customer.council, customer.number
            )
        ]
        contacts = enquiry_statistics.of_customer(
            conn, enquiry_statistics.EnquiryStatistics(), customer.council, customer.number
        )
    d = disclosure(rt, c, viewer, via)
    shown: dict[str, Any] = d.reveal(
        {
            "customer_id": customer.number,
            "events": events,
            "requests": to_plain(requests),
            "contacts": to_plain(contacts),
        },
        allowed=d.sees_customers,
        customer=customer.number,
    )
    return shown


def open_requests(rt: Runtime, council_id: str, number: str) -> list[str]:
    """The references of the customer's open requests (what an erasure must wait for)."""
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        rows = request_summary.of_customer(
            conn, request_summary.RequestSummary(), council_id, number
        )
    return [r["reference"] for r in rows if r["status"] == "open"]


def due_for_disposal(rt: Runtime, c: Council, on: date) -> list[dict[str, Any]]:
    """Closed requests whose retention has run out by `on` and not yet disposed of, oldest
    closure first, each with its class, the day it fell due and, for a customer's request,
    `waits_for`: the customer's requests still holding their data (open or within retention;
    the customer's data is erased as a whole, so disposal waits for them)."""
    read_models_ready(rt)
    zone = c.calendar.timezone
    model = request_summary.RequestSummary()
    out: list[dict[str, Any]] = []
    with rt.read_engine.connect() as conn:
        holding: dict[str, list[str]] = {}
        for row in request_summary.closed_not_disposed(conn, model, c.id):
            retention = c.retention_of(row["category"])
            if retention is None:
                continue
            due = disposal_due(row["closed_at"], retention, zone)
            if due > on:
                continue
            number = row["customer"]
            if number and number not in holding:
                holding[number] = _holding_data(conn, model, c, number, on)
            out.append(
                {
                    "reference": row["reference"],
                    "category": row["category"],
                    "closed_at": row["closed_at"],
                    "retention_class": retention.code,
                    "retention_years": retention.years,
                    "due_on": due.isoformat(),
                    "customer": number,
                    "waits_for": [
                        r for r in holding.get(number or "", []) if r != row["reference"]
                    ],
                }
            )
    rows: list[dict[str, Any]] = to_plain(out)
    return rows


def _holding_data(
    conn: sa.Connection, model: request_summary.RequestSummary, c: Council, number: str, on: date
) -> list[str]:
    """The customer's requests, not disposed of, that are open or within retention on `on`."""
    held = []
    for row in request_summary.of_customer(conn, model, c.id, number):
        if row["disposed_at"] is not None:
            continue
        retention = c.retention_of(row["category"])
        if row["closed_at"] is None or (
            retention is not None
            and disposal_due(row["closed_at"], retention, c.calendar.timezone) > on
        ):
            held.append(row["reference"])
    return held


def customer_requests(rt: Runtime, council_id: str, number: str) -> list[str]:
    """The references of every request of the customer's."""
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        rows = request_summary.of_customer(
            conn, request_summary.RequestSummary(), council_id, number
        )
    return [r["reference"] for r in rows]


def reviews_due(rt: Runtime, c: Council, on: date) -> list[dict[str, Any]]:
    """Conduct declarations and restrictions past their review date on `on`."""
    return [
        {
            "customer_id": customer.number,
            "what": type(item).__name__.lower(),
            "id": item.id,
            "review_by": item.review_by.isoformat(),
        }
        for customer in customers.with_conduct_records(rt.directory_ports, c.id)
        for item in customer.reviews_overdue(on)
    ]


def access_log(rt: Runtime, c: Council, number: str) -> list[dict[str, Any]]:
    """Who opened the customer's personal data, when, through what (never the values)."""
    known = customers.load(rt.directory_ports, c.id, number).number
    rows: list[dict[str, Any]] = to_plain(
        [
            {k: r[k] for k in ("at", "user_id", "role", "via")}
            for r in rt.vault.access_log(c.id, known)
        ]
    )
    return rows


# -- what the public sees (Open311, the residents' portal) -----------------------------------


def _w3c(c: Council, instant: datetime | None) -> str | None:
    """An instant as the W3C profile of ISO 8601, in the council's own zone, with its offset."""
    if instant is None:
        return None
    return instant.astimezone(ZoneInfo(c.calendar.timezone)).isoformat(timespec="seconds")


def _status_notes(c: Council, row: dict[str, Any]) -> str:
    if row["status"] == "closed":
        return c.outcomes.get(row["outcome"] or "", row["outcome"] or "Closed")
    return "Acknowledged: in progress" if row["acknowledged"] else "Received"


def _public(c: Council, row: dict[str, Any]) -> dict[str, Any]:
    """Open311's fields of one request: never a contact detail, never the resident's own words
    (the description is the one staff approved for the public, or none)."""
    team = c.teams.get(row["team"])
    return {
        "service_request_id": row["reference"],
        "status": row["status"],
        "status_notes": _status_notes(c, row),
        "service_name": row["category_name"] or row["category"],
        "service_code": row["category"],
        "description": row["description"],
        "agency_responsible": team.name if team else row["team"],
        "service_notice": None,
        "requested_datetime": _w3c(c, row["requested_at"]),
        "updated_datetime": _w3c(c, row["updated_at"]),
        "expected_datetime": _w3c(c, row["complete_by"]),  # the completion due instant
        "address": row["address"],
        "address_id": row["address_id"],
        "zipcode": row["zipcode"],
        "lat": row["lat"],
        "long": row["long"],
        "media_url": row["media_url"],
    }


def public_requests(
    rt: Runtime, c: Council, f: public_requests_model.PublicFilter
) -> list[dict[str, Any]]:
    """The requests `f` selects, newest first, as the public may see them."""
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        rows = public_requests_model.query(conn, public_requests_model.PublicRequests(), f)
    return [_public(c, row) for row in rows]


def public_request(rt: Runtime, c: Council, reference: str) -> dict[str, Any]:
    """One request as the public may see it (`RequestNotFound` if the council has none)."""
    ref = reference.strip().upper()
    found = public_requests(
        rt, c, public_requests_model.PublicFilter(council=c.id, references=[ref])
    )
    if not found:
        raise RequestNotFound(f"no request {ref} in council {c.id}")
    return found[0]


# -- complaints -----------------------------------------------------------------------------


def complaint_report(
    rt: Runtime, c: Council, date_from: date | None, date_to: date | None
) -> dict[str, Any]:
    """The complaints received in the period (the council's days, inclusive; default all):
    by category, by outcome and overall, with time taken in business days, and each complaint
    (no personal data: who complained is not in the register)."""
    _period(date_from, date_to)
    read_models_ready(rt)
    f = complaint_register.RegisterFilter(
        council=c.id,
        start=_day_start(c, date_from) if date_from else None,
        end=_day_start(c, date_to + timedelta(days=1)) if date_to else None,
    )
    with rt.read_engine.connect() as conn:
        register = complaint_register.rows(conn, complaint_register.ComplaintRegister(), f)
    result = complaint_register.report(register, dict(c.outcomes))
    result.update(council=c.id, date_from=date_from, date_to=date_to, complaints=register)
    plain: dict[str, Any] = to_plain(result)
    return plain
