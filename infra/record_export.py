"""Exports of the audit record — one request's, one officer's, or a period's — for records
officers (`crm record export`, `GET /api/v1/record/export`): each entry with the record
chain's hash of its event, personal fields disclosed by the reader's role as in every view
(`infra.views.audit`), and the verification of the whole record at the time of the export
(`consumers.record_verify`, as `crm record verify` runs it)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from consumers import record_verify
from domain.council import Council
from domain.permissions import Viewer
from infra import views
from infra.runtime import Runtime
from projections.record_chain import RecordChain

AUDITED_LOG = "requests"  # the log the audit record is fed from
FORMATS = ("csv", "pdf")


def record_export(
    rt: Runtime,
    c: Council,
    viewer: Viewer,
    via: str,
    *,
    reference: str | None = None,
    officer: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    """The entries `reference`, `officer` or the period select, with their chain hashes and
    the record's verification; `ValueError` when nothing says what to export."""
    rows = views.audit(
        rt,
        c,
        viewer,
        via,
        reference=reference,
        officer=officer,
        date_from=date_from,
        date_to=date_to,
        payloads=True,
    )
    hashes = _hashes(rt, [int(r["position"]) for r in rows])
    checked = record_verify.verify(
        rt.record_engine, rt.record_logs(), audit=(rt.read_engine, AUDITED_LOG)
    )
    return {
        "council": c.id,
        "council_name": c.name,
        "timezone": c.calendar.timezone,
        "scope": _scope(reference, officer, date_from, date_to),
        "generated_at": rt.clock().isoformat(),
        "reader": {"id": viewer.user_id, "role": viewer.role},
        "verification": {
            "ok": checked.ok,
            "logs": {
                name: {
                    "event_count": ch.event_count,
                    "position": ch.position,
                    "head_hash": ch.head_hash,
                    "not_yet_chained": ch.pending,
                }
                for name, ch in checked.checks.items()
            },
            "findings": [f.line() for f in checked.findings],
        },
        "entries": [
            {
                "position": r["position"],
                "reference": r["reference"],
                "version": r["version"],
                "event_type": r["event_type"],
                "occurred_at": r["occurred_at"],
                "recorded_at": r["recorded_at"],
                "actor_id": r["actor_id"],
                "actor_role": r["actor_role"],
                "channel": r["channel"],
                "summary": r["summary"],
                "personal": personal_detail(r["event_type"], r["payload"]),
                "chain_hash": hashes.get(int(r["position"])),
            }
            for r in rows
        ],
    }


def _scope(
    reference: str | None, officer: str | None, date_from: date | None, date_to: date | None
) -> str:
    parts = ([f"request {reference.strip().upper()}"] if reference else []) + (
        [f"officer {officer}"] if officer else []
    )
    if date_from or date_to:
        parts.append(f"from {date_from or 'the start'} to {date_to or 'the end'}")
    return ", ".join(parts)


def personal_detail(event_type: str, payload: dict[str, Any]) -> str:
    """The personal fields an entry carries, as the reader may see them (already disclosed):
    the customer and their description on a lodgement, their own words in an incoming note,
    a notice's recipient."""
    if event_type == "Lodged":
        customer = payload.get("customer") or {}
        found = [customer.get(k) for k in ("name", "phone", "email", "address")]
        return "; ".join(str(v) for v in [*found, payload.get("description")] if v)
    if event_type == "NoteAdded" and payload.get("note_kind") == "incoming":
        return str(payload.get("text") or "")
    if event_type == "NoticeSent":
        return str(payload.get("recipient") or "")
    return ""


def _hashes(rt: Runtime, positions: list[int]) -> dict[int, str]:
    """The chain's hash of each position's entry on the request log (none yet: absent)."""
    chain = RecordChain()
    chain.create(rt.record_engine)
    t, found = chain.entries, {}
    with rt.record_engine.connect() as conn:
        for start in range(0, len(positions), 500):
            q = sa.select(t.c.position, t.c.hash).where(
                t.c.log == AUDITED_LOG, t.c.position.in_(positions[start : start + 500])
            )
            found.update({row.position: row.hash for row in conn.execute(q)})
    return found
