"""The ECM-style record: one append-only row per event, for records officers and investigators.

Rows are only ever inserted (a redelivered event is ignored by its primary key), never
updated or deleted; every row keeps the event's full payload.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.personal import is_sealed
from projections.base import ReadModel, Row, UtcDateTime, insert_ignoring_duplicates
from projections.bulk import Fold, RowsAtOnce
from projections.envelope import Envelope


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(env: Envelope) -> str:
    """A one-line, human-readable account of the event."""
    d = env.data
    match env.event_type:
        case "Lodged":
            return (
                f"Lodged {d.get('kind', 'request')} '{d['category']}' via {d['channel']}, "
                f"routed to {d['team']}" + (" (urgent)" if d.get("urgent") else "")
            )
        case "Acknowledged":
            return "Acknowledged receipt"
        case "Assigned":
            who = f" / {d['officer']}" if d.get("officer") else ""
            return f"Assigned to {d['team']}{who} (was {d.get('previous_team')})"
        case "NoteAdded":
            if is_sealed(d["text"]):
                return f"Note ({d['note_kind']}): the customer's own words, kept sealed"
            return f"Note ({d['note_kind']}): {_clip(d['text'])}"
        case "Delayed":
            return f"Delayed until {d['until']}: {_clip(d['reason'])}"
        case "Escalated":
            return f"Escalated {d['from_level']} → {d['level']}: {_clip(d['reason'])}"
        case "Closed":
            return f"Closed ({d['outcome']}): {_clip(d['text'])}"
        case "NoticeSent":
            return f"Sent the {d['notice']} notice to the customer by {d['method']}"
        case "AlertTaken":
            return (
                f"Took staff alert {d['alert']} to {d['role']} about the urgent escalation "
                f"(version {d['about_version']})"
            )
        case "Disposed":
            whose = f"customer {d['customer']}'s" if d["erased"] == "customer" else "its"
            return (
                f"Disposed of: retention class {d['retention_class']} ({d['retention_years']} "
                f"years, due {d['due_on']}) — {whose} personal data erased: "
                f"{_clip(d['reason'])}"
            )
        case "Reopened":
            return f"Reopened (was {d['previous_outcome']}): {_clip(d['reason'])}"
        case "Recategorised":
            return (
                f"Recategorised {d['previous_category']} → {d['category']}, routed to "
                f"{d['team']} ({d['targets']} targets): {_clip(d['reason'])}"
            )
        case "LinkedAsDuplicate":
            return f"Closed as a duplicate of {d['original']}: {_clip(d['reason'])}"
        case "DuplicateAttached":
            return f"Linked {d['duplicate']} as a duplicate of this request"
        case "Referred":
            return f"Referred to {d['agency_name']} ({d['contact']}): {_clip(d['reason'])}"
        case "AttachmentAdded":
            note = f": {_clip(d['note'])}" if d.get("note") else ""
            return (
                f"Attached a document ({d['media_type']}, {d['size']:,} bytes, "
                f"sha256 {d['sha256'][:12]}…){note}"
            )
        case "ContactLogged":
            who = "a customer on file" if d.get("customer_id") else "no customer named"
            return (
                f"Enquiry '{d['contact_type']}' via {d['channel']} ({who}), "
                "recorded without opening a request"
            )
        case "ComplaintSubjectRecorded":
            return f"Complaint recorded as about {d['officer']}: {_clip(d['reason'])}"
        case "ComplaintReviewRequested":
            return f"Internal review requested on {d['on']}: {_clip(d['reason'])}"
        case "ComplaintReviewDecided":
            return f"Internal review decided on {d['on']} ({d['decision']}): {_clip(d['text'])}"
        case "ComplaintReferredToOmbudsman":
            theirs = (
                f" (their reference {d['ombudsman_reference']})"
                if d.get("ombudsman_reference")
                else ""
            )
            return f"Referred to the Ombudsman on {d['on']}{theirs}: {_clip(d['reason'])}"
        case "SatisfactionRecorded":
            said = ", with a comment kept sealed" if d.get("comment") else ""
            return f"The customer rated the service {d['score']}{said}"
    return env.event_type


class AuditRecord(ReadModel):
    name = "audit_record"

    def define(self, metadata: sa.MetaData) -> None:
        p = self.prefix
        self.table = sa.Table(
            f"{p}audit_record",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, primary_key=True),
            sa.Column("position", sa.BigInteger, nullable=False),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("event_type", sa.String(32), nullable=False),
            sa.Column("actor_id", sa.String(128), nullable=False),
            sa.Column("actor_role", sa.String(64), nullable=False),
            sa.Column("channel", sa.String(32)),
            sa.Column("occurred_at", UtcDateTime, nullable=False),
            sa.Column("recorded_at", UtcDateTime, nullable=False),
            sa.Column("summary", sa.Text, nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sa.Index(f"{p}audit_record_by_position", "position"),
            sa.Index(f"{p}audit_record_by_reference", "council", "reference", "version"),
            sa.Index(f"{p}audit_record_by_actor", "council", "actor_id", "occurred_at"),
            sa.Index(f"{p}audit_record_by_time", "council", "occurred_at"),
        )

    @staticmethod
    def row(env: Envelope) -> Row:
        return {
            "request_id": env.request_id,
            "version": env.version,
            "position": env.position,
            "council": env.council,
            "reference": env.reference,
            "event_type": env.event_type,
            "actor_id": env.actor["id"],
            "actor_role": env.actor["role"],
            "channel": env.data.get("channel"),
            "occurred_at": env.occurred_at,
            "recorded_at": env.recorded_at,
            "summary": summary(env),
            "payload": json.dumps(env.data, sort_keys=True, ensure_ascii=False),
        }

    def apply(self, conn: sa.Connection, envelopes: Sequence[Envelope]) -> int:
        rows = [self.row(e) for e in envelopes]
        insert_ignoring_duplicates(conn, self.table, rows)
        return len(rows)

    def fold(self) -> Fold:
        return RowsAtOnce(self.table, self.row)


@dataclass(frozen=True, kw_only=True)
class AuditFilter:
    council: str
    reference: str | None = None
    officer: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    as_at: datetime | None = None  # only what was recorded by then (the record is append-only)


def query(conn: sa.Connection, model: AuditRecord, f: AuditFilter) -> list[dict[str, Any]]:
    """Entries in record order (per request by version; across requests by global position)."""
    t = model.table
    q = sa.select(t).where(t.c.council == f.council)
    if f.reference:
        q = q.where(t.c.reference == f.reference)
    if f.officer:
        q = q.where(t.c.actor_id == f.officer)
    if f.start:
        q = q.where(t.c.occurred_at >= f.start)
    if f.end:
        q = q.where(t.c.occurred_at < f.end)
    if f.as_at:
        q = q.where(t.c.recorded_at <= f.as_at)
    return [dict(r._mapping) for r in conn.execute(q.order_by(t.c.position, t.c.version))]
