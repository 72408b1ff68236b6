"""What the public may see of each request (Open311 GeoReport v2 and the residents' portal): one
row per request, with nothing personal in it — no customer, no description the resident wrote,
no notes; only the description staff approved for the public, where the problem is, and where
the request stands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from projections.base import Row, RowPerRequest, UtcDateTime
from projections.envelope import Envelope

MAX_ROWS = 1000  # Open311's default bound on one answer


class PublicRequests(RowPerRequest):
    name = "public_requests"
    schema_version = 2  # 2: the corrections (reopen, recategorise, link, refer)

    def define(self, metadata: sa.MetaData) -> None:
        self.table = sa.Table(
            f"{self.prefix}public_requests",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("category", sa.String(200), nullable=False),
            sa.Column("category_name", sa.String(200)),
            sa.Column("team", sa.String(64), nullable=False),
            sa.Column("requested_at", UtcDateTime, nullable=False),
            sa.Column("updated_at", UtcDateTime, nullable=False),
            sa.Column("complete_by", UtcDateTime),
            sa.Column("acknowledged", sa.Boolean, nullable=False),
            sa.Column("outcome", sa.String(64)),
            sa.Column("address", sa.Text),
            sa.Column("address_id", sa.String(200)),
            sa.Column("zipcode", sa.String(32)),
            sa.Column("lat", sa.Float),
            sa.Column("long", sa.Float),
            sa.Column("media_url", sa.Text),
            sa.Column("description", sa.Text),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Index(
                f"{self.prefix}public_requests_by_reference", "council", "reference", unique=True
            ),
            sa.Index(f"{self.prefix}public_requests_by_time", "council", "requested_at"),
        )

    def evolve(self, row: Row | None, env: Envelope) -> Row | None:
        d, kind = env.data, env.event_type
        if kind == "Lodged":
            loc = d.get("location") or {}
            return {
                "request_id": env.request_id,
                "council": env.council,
                "reference": env.reference,
                "status": "open",
                "category": d["category"],
                "category_name": (d.get("standard") or {}).get("category_name"),
                "team": d["team"],
                "requested_at": env.occurred_at,
                "updated_at": env.occurred_at,
                "complete_by": d.get("complete_by"),
                "acknowledged": False,
                "outcome": None,
                "address": loc.get("address"),
                "address_id": loc.get("address_id"),
                "zipcode": loc.get("zipcode"),
                "lat": loc.get("lat"),
                "long": loc.get("long"),
                "media_url": d.get("media_url"),
                "description": None,
            }
        assert row is not None
        new = dict(row, updated_at=env.occurred_at)
        if kind == "Acknowledged":
            new["acknowledged"] = True
        elif kind == "Assigned":
            new["team"] = d["team"]
        elif kind == "Delayed":
            new["complete_by"] = d.get("complete_by")
        elif kind in ("Closed", "LinkedAsDuplicate", "Referred"):
            new.update(status="closed", outcome=d["outcome"])
        elif kind == "Reopened":
            new.update(status="open", outcome=None, complete_by=d.get("complete_by"))
        elif kind == "Recategorised":
            new.update(
                category=d["category"],
                category_name=d["category_name"],
                team=d["team"],
                complete_by=d.get("complete_by"),
            )
        elif kind == "PublicDescriptionApproved":
            new["description"] = d["text"]
        elif kind in ("NoteAdded", "NoticeSent", "AlertTaken", "DuplicateAttached", "Disposed"):
            return None  # internal: not a change the public sees (the version moves on)
        return new


@dataclass(frozen=True, kw_only=True)
class PublicFilter:
    """Which requests: `references` alone, or those lodged in [start, end] of the given
    categories and statuses (None: any); newest first, at most `limit`."""

    council: str
    references: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_ROWS


def query(conn: sa.Connection, model: PublicRequests, f: PublicFilter) -> list[dict[str, Any]]:
    t = model.table
    q = sa.select(t).where(t.c.council == f.council)
    if f.references is not None:
        q = q.where(t.c.reference.in_(list(f.references)))
    else:
        if f.categories:
            q = q.where(t.c.category.in_(list(f.categories)))
        if f.statuses:
            q = q.where(t.c.status.in_(list(f.statuses)))
        if f.start is not None:
            q = q.where(t.c.requested_at >= f.start)
        if f.end is not None:
            q = q.where(t.c.requested_at <= f.end)
    q = q.order_by(t.c.requested_at.desc(), t.c.reference.desc()).limit(f.limit)
    return [dict(r._mapping) for r in conn.execute(q)]
