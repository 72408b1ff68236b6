"""One row per request, for look-up by reference: where it stands and what has been done."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from projections.base import Row, RowPerRequest, UtcDateTime
from projections.envelope import Envelope


class RequestSummary(RowPerRequest):
    name = "request_summary"
    schema_version = 3  # 2: the corrections (duplicate_of, duplicates, referred_to, reopens);
    # 3: disposed_at

    def define(self, metadata: sa.MetaData) -> None:
        self.table = sa.Table(
            f"{self.prefix}request_summary",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("category", sa.String(200), nullable=False),
            sa.Column("category_name", sa.String(200)),
            sa.Column("kind", sa.String(32)),
            sa.Column("channel", sa.String(32)),
            sa.Column("team", sa.String(64), nullable=False),
            sa.Column("officer", sa.String(128)),
            sa.Column("urgent", sa.Boolean, nullable=False),
            sa.Column("level", sa.String(64), nullable=False),
            sa.Column("lodged_at", UtcDateTime, nullable=False),
            sa.Column("acknowledged_at", UtcDateTime),
            sa.Column("acknowledge_by", UtcDateTime),
            sa.Column("complete_by", UtcDateTime),
            sa.Column("closed_at", UtcDateTime),
            sa.Column("outcome", sa.String(64)),
            sa.Column("notes", sa.Integer, nullable=False),
            sa.Column("delays", sa.Integer, nullable=False),
            sa.Column("escalations", sa.Integer, nullable=False),
            sa.Column("customer", sa.String(32)),
            sa.Column("disposed_at", UtcDateTime),
            sa.Column("duplicate_of", sa.String(64)),
            sa.Column("duplicates", sa.Integer, nullable=False, server_default="0"),
            sa.Column("referred_to", sa.String(64)),
            sa.Column("reopens", sa.Integer, nullable=False, server_default="0"),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Index(
                f"{self.prefix}request_summary_by_reference", "council", "reference", unique=True
            ),
            sa.Index(f"{self.prefix}request_summary_by_customer", "council", "customer"),
        )

    def evolve(self, row: Row | None, env: Envelope) -> Row | None:
        d, kind = env.data, env.event_type
        if kind == "Lodged":
            standard = d.get("standard") or {}
            return {
                "request_id": env.request_id,
                "council": env.council,
                "reference": env.reference,
                "status": "open",
                "category": d["category"],
                "category_name": standard.get("category_name"),
                "kind": d.get("kind"),
                "channel": d.get("channel"),
                "team": d["team"],
                "officer": None,
                "urgent": bool(d["urgent"]),
                "level": (standard.get("escalation_roles") or [""])[0],
                "lodged_at": env.occurred_at,
                "acknowledged_at": None,
                "acknowledge_by": d.get("acknowledge_by"),
                "complete_by": d.get("complete_by"),
                "closed_at": None,
                "outcome": None,
                "notes": 0,
                "delays": 0,
                "escalations": 0,
                "customer": (d.get("customer") or {}).get("number"),
                "disposed_at": None,
                "duplicate_of": None,
                "duplicates": 0,
                "referred_to": None,
                "reopens": 0,
            }
        assert row is not None
        new = dict(row)
        if kind == "Acknowledged":
            new["acknowledged_at"] = env.occurred_at
        elif kind == "Assigned":
            new.update(team=d["team"], officer=d.get("officer"))
        elif kind == "NoteAdded":
            new["notes"] += 1
        elif kind == "Delayed":
            new.update(complete_by=d.get("complete_by"), delays=new["delays"] + 1)
        elif kind == "Escalated":
            new.update(level=d["level"], escalations=new["escalations"] + 1)
        elif kind == "Closed":
            new.update(status="closed", closed_at=env.occurred_at, outcome=d["outcome"])
        elif kind == "Disposed":
            new["disposed_at"] = env.occurred_at
        elif kind in ("LinkedAsDuplicate", "Referred"):
            new.update(
                status="closed",
                closed_at=env.occurred_at,
                outcome=d["outcome"],
                duplicate_of=d.get("original"),
                referred_to=d.get("agency"),
            )
        elif kind == "DuplicateAttached":
            new["duplicates"] += 1
        elif kind == "Reopened":
            new.update(
                status="open",
                closed_at=None,
                outcome=None,
                referred_to=None,
                complete_by=d.get("complete_by"),
                reopens=new["reopens"] + 1,
            )
        elif kind == "Recategorised":
            new.update(
                category=d["category"],
                category_name=d["category_name"],
                team=d["team"],
                officer=d.get("officer"),
                acknowledge_by=d.get("acknowledge_by"),
                complete_by=d.get("complete_by"),
            )
        return new


def by_reference(
    conn: sa.Connection, model: RequestSummary, council: str, reference: str
) -> dict[str, Any] | None:
    t = model.table
    q = sa.select(t).where(t.c.council == council, t.c.reference == reference)
    row = conn.execute(q).first()
    return None if row is None else dict(row._mapping)


def any_of(conn: sa.Connection, model: RequestSummary, council: str) -> bool:
    """Whether the council has any request at all."""
    t = model.table
    return (
        conn.execute(sa.select(t.c.reference).where(t.c.council == council).limit(1)).first()
        is not None
    )


def by_references(
    conn: sa.Connection, model: RequestSummary, council: str, references: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The named requests' rows, by reference (a view deciding what each reader may see)."""
    t, refs = model.table, sorted(set(references))
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(refs), 500):
        q = sa.select(t).where(t.c.council == council, t.c.reference.in_(refs[i : i + 500]))
        found.update((r.reference, dict(r._mapping)) for r in conn.execute(q))
    return found


def of_customer(
    conn: sa.Connection, model: RequestSummary, council: str, customer: str
) -> list[dict[str, Any]]:
    """The customer's requests, oldest first."""
    t = model.table
    q = sa.select(t).where(t.c.council == council, t.c.customer == customer).order_by(t.c.lodged_at)
    return [dict(r._mapping) for r in conn.execute(q)]


def closed_not_disposed(
    conn: sa.Connection, model: RequestSummary, council: str
) -> list[dict[str, Any]]:
    """The council's closed requests not yet disposed of, oldest closure first: the candidates
    for disposal, each to be held to its category's retention."""
    t = model.table
    q = (
        sa.select(t)
        .where(t.c.council == council, t.c.status == "closed", t.c.disposed_at.is_(None))
        .order_by(t.c.closed_at, t.c.reference)
    )
    return [dict(r._mapping) for r in conn.execute(q)]
