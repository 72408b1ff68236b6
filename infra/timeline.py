"""The investigation timeline of one request: every step, the business time it took and the
standards that applied, for an investigator answering a complaint (the CLI's `crm timeline`
and `GET /api/v1/requests/{reference}/timeline` both call `request_timeline`).

Nothing here re-states a council rule. Business time is the request's recorded calendar
(`domain.calendar`, the one the standards were counted in when it was lodged); what fell due
when — acknowledgement, completion as delays and pauses moved it, each progress notice, each
escalation level — is what the SLA read model's own pure `evolve` derives, folded over the
request's events one by one, so the timeline and the SLA views can never disagree. Each step
carries the record chain's hash of its entry and whether the event as stored still hashes to
what the chain recorded. Personal fields are disclosed by `commands.disclosure`, as in every
other view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from domain.aggregates.service_request import ServiceRequest
from domain.calendar import BusinessCalendar
from domain.council import Council
from domain.permissions import Viewer
from domain.standards import calendar_for
from infra.runtime import Runtime
from infra.views import _as_at as recorded_by  # the one rule for "as recorded by an instant"
from infra.views import _reveal, disclosure, load_request, read_models_ready
from projections import audit_record
from projections.envelope import Envelope, to_plain
from projections.record_chain import RecordChain, StoredEvent, digest
from projections.sla import Sla, day_length
from projections.sla_queries import business_span

REQUEST_LOG = "requests"


def request_timeline(
    rt: Runtime, c: Council, viewer: Viewer, reference: str, via: str, as_at: datetime | None = None
) -> dict[str, Any]:
    """The timeline of the request as recorded by `as_at` (everything, without one), its
    standards judged at `as_at` (else the clock), as `viewer` may see it."""
    read_models_ready(rt)  # the audit record's positions and the chain, caught up
    now = load_request(rt, c, reference)
    request, events = recorded_by(rt, now, as_at)
    at = as_at or rt.clock()
    standard = request.standard
    cal = calendar_for(standard.calendar if standard else c.calendar)
    zone = ZoneInfo(cal.spec.timezone)
    envelopes = _envelopes(rt, request, events)
    chained = _chained(rt, request, [e.position for e in envelopes])
    fold = _Fold(cal, request.received_at, at)
    steps = [fold.step(env, chained.get(env.version)) for env in envelopes]
    timeline = {
        "reference": request.reference,
        "council": c.id,
        "council_name": c.name,
        "category": request.category,
        "team": request.team,
        "status": request.status.value,
        "level": request.level,
        "customer_id": request.customer.number if request.customer else None,
        "customer": request.customer,
        "description": request.description,
        "lodged_at": request.lodged_at,
        "received_at": request.received_at,
        "closed_at": request.closed_at,
        "judged_at": at,
        "as_at": as_at,
        "timezone": cal.spec.timezone,
        "working_day": f"{cal.spec.opens:%H:%M}–{cal.spec.closes:%H:%M}",
        "day_length_hours": day_length(cal) / timedelta(hours=1),
        "steps": steps,
        "standards": fold.standards(),
        "notices": [_notice(s) for s in steps if s["type"] == "NoticeSent"],
        "chain": {
            "entries": sum(1 for s in steps if s["chain_hash"]),
            "matching": sum(1 for s in steps if s["chain_matches"]),
            "steps": len(steps),
        },
    }
    shown: dict[str, Any] = _reveal(now, disclosure(rt, c, viewer, via), _plain(timeline, zone))
    return shown


# -- the events, their positions and their chain entries -----------------------------------------


def _envelopes(
    rt: Runtime, r: ServiceRequest, events: Sequence[ServiceRequest.Event]
) -> list[Envelope]:
    """The events as envelopes, each with its position in the store (from the audit record;
    0 for one the audit record has not seen yet, on the Kafka path)."""
    model = audit_record.AuditRecord()
    with rt.read_engine.connect() as conn:
        rows = audit_record.query(
            conn, model, audit_record.AuditFilter(council=r.council, reference=r.reference)
        )
    position = {row["version"]: row["position"] for row in rows}
    return [
        Envelope.of(
            e,
            position=position.get(e.originator_version, 0),
            council=r.council,
            reference=r.reference,
        )
        for e in events
    ]


def _chained(rt: Runtime, r: ServiceRequest, positions: list[int]) -> dict[int, tuple[str, bool]]:
    """By version: the chain's hash of the event's entry, and whether the event as stored
    now still hashes to the digest the chain recorded for it."""
    stored = {
        s.originator_version: digest(cast(StoredEvent, s))  # a digest reads no position
        for s in rt.app.recorder.select_events(r.id)
    }
    chain = RecordChain()
    chain.create(rt.record_engine)
    t = chain.entries
    with rt.record_engine.connect() as conn:
        rows = conn.execute(
            sa.select(t).where(
                t.c.log == REQUEST_LOG, t.c.position.in_([p for p in positions if p])
            )
        ).all()
    found: dict[int, tuple[str, bool]] = {}
    for row in rows:
        if row.originator_id != r.id.hex:
            continue  # the entry at that position is another event's: not this one's
        found[row.version] = (row.hash, stored.get(row.version, b"").hex() == row.digest)
    return found


# -- the fold: steps and standards ---------------------------------------------------------------


class _Fold:
    """Walks the events in order, keeping the SLA row before and after each one."""

    def __init__(self, cal: BusinessCalendar, received: datetime, at: datetime) -> None:
        self.cal, self.received, self.at = cal, received, at
        self.day = day_length(cal)
        self.model = Sla()
        self.row: dict[str, Any] | None = None
        self.previous: datetime | None = None
        self.first: dict[str, Any] | None = None
        self.progress: list[dict[str, Any]] = []
        self.escalations: list[dict[str, Any]] = []
        self.completion_moves: list[dict[str, Any]] = []

    def span(self, since: datetime, until: datetime) -> dict[str, Any]:
        elapsed = self.cal.business_time_elapsed(since, until)
        return {
            "business_seconds": int(elapsed.total_seconds()),
            "business_days": round(elapsed / self.day, 3),
            "business": business_span(elapsed, self.day),
        }

    def step(self, env: Envelope, chained: tuple[str, bool] | None) -> dict[str, Any]:
        before, occurred = self.row, env.occurred
        self.row = self.model.evolve(before, env) or before
        self._watch(env, before, occurred)
        d = env.data
        shown = {
            "step": env.version,
            "position": env.position or None,
            "type": env.event_type,
            "summary": audit_record.summary(env),
            "occurred_at": occurred,
            "recorded_at": datetime.fromisoformat(env.recorded_at),
            "actor": env.actor["id"],
            "role": env.actor["role"],
            "channel": d.get("channel") or d.get("method"),
            "since_lodgement": self.span(self.received, occurred),
            "since_previous": self.span(self.previous or self.received, occurred),
            "chain_hash": chained[0] if chained else None,
            "chain_matches": bool(chained and chained[1]),
            **(
                {
                    "notice": d["notice"],
                    "recipient": d.get("recipient"),
                    "about_version": d.get("about_version"),
                }
                if env.event_type == "NoticeSent"
                else {}
            ),
        }
        self.previous = occurred
        return shown

    def _watch(self, env: Envelope, before: dict[str, Any] | None, occurred: datetime) -> None:
        row = self.row
        assert row is not None
        if before is None:
            self.first = dict(row)
            return
        if row["complete_by"] != before["complete_by"]:
            self.completion_moves.append(
                {
                    "step": env.version,
                    "at": occurred,
                    "from": before["complete_by"],
                    "to": row["complete_by"],
                    "why": env.event_type,
                }
            )
        pending = before["progress_notice_due"]
        if env.event_type == "NoticeSent" and env.data.get("notice") == "progress":
            self.progress.append({"due": pending, "done_at": occurred, "step": env.version})
        elif pending is not None and row["progress_notice_due"] is None and pending < occurred:
            self.progress.append({"due": pending, "done_at": None, "step": None})
        if env.event_type == "Escalated":
            due = before["next_level_due"] if before["next_level"] == env.data["level"] else None
            self.escalations.append(
                {
                    "level": env.data["level"],
                    "from_level": env.data["from_level"],
                    "cause": env.data.get("standard") or "decision",
                    "due": due,
                    "done_at": occurred,
                    "step": env.version,
                }
            )

    def judge(
        self, name: str, due: datetime | None, done: datetime | None, **more: Any
    ) -> dict[str, Any]:
        """A standard's state: met (done by its due instant), missed (done late, or not done
        by the instant judged), pending (not done, not yet due), or done (nothing was due)."""
        if due is None:
            state = "done" if done else "no-target"
        elif done is not None:
            state = "met" if done <= due else "missed"
        else:
            state = "missed" if self.at > due else "pending"
        late = None
        if due is not None and state == "missed":
            late = self.span(due, done or self.at)
        return {
            "standard": name,
            "due": due,
            "done_at": done,
            "state": state,
            "missed_at": due if state == "missed" else None,
            "late_by": late,
            "within": self.span(self.received, done) if done else None,
            **more,
        }

    def standards(self) -> list[dict[str, Any]]:
        first, row = self.first, self.row
        if first is None or row is None:
            return []
        found = [
            self.judge("acknowledgement", first["acknowledge_by"], row["acknowledged_at"]),
            self.judge(
                "completion",
                row["complete_by"],
                row["closed_at"],
                first_due=first["complete_by"],
                moves=self.completion_moves,
            ),
        ]
        progress = list(self.progress)
        if row["open"] and row["progress_notice_due"] is not None:
            progress.append({"due": row["progress_notice_due"], "done_at": None, "step": None})
        found += [
            self.judge("progress notice", p["due"], p["done_at"], step=p["step"]) for p in progress
        ]
        found += [
            self.judge(
                "escalation",
                e["due"],
                e["done_at"],
                level=e["level"],
                from_level=e["from_level"],
                cause=e["cause"],
                step=e["step"],
            )
            for e in self.escalations
        ]
        if row["open"] and row["next_level"] is not None:
            found.append(
                self.judge(
                    "escalation",
                    row["next_level_due"],
                    None,
                    level=row["next_level"],
                    from_level=row["level"],
                    cause=row["next_level_standard"],
                    step=None,
                )
            )
        return found


def _notice(step: dict[str, Any]) -> dict[str, Any]:
    return {
        k: step[k]
        for k in ("step", "notice", "channel", "recipient", "occurred_at", "about_version", "actor")
    }


def _plain(value: Any, zone: ZoneInfo) -> Any:
    """JSON-ready, every instant in the council's own zone with its offset."""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, dict):
        return {k: _plain(v, zone) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, zone) for v in value]
    return to_plain(value)
