"""How many enquiries of each type, and requests, reached the council each day, by channel.

Greater Dandenong's customer service officers "record statistics in relation to the nature and
type of customer enquiries on a daily basis" (seed 004), at the counter, on the phone and in
webchat; Upper Lachlan records rates, planning, certificate, permit, road-closure and GIPA
enquiries as contacts that are not service requests (seed 002). One row per contact
(`ContactLogged`) and per request (`Lodged`, counted from its receipt): the statistics are
counted at query time, in the council's days, so a row is only ever inserted (a redelivery is
ignored by its key) and the model equals its rebuild.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from projections.base import ReadModel, Row, UtcDateTime, insert_ignoring_duplicates
from projections.bulk import Fold, Rows
from projections.envelope import Envelope

ENQUIRY = "enquiry"
GROUPINGS = ("type", "channel")
ROW_EVENTS = frozenset({"ContactLogged", "Lodged"})  # the events `row` makes a row of


class EnquiryStatistics(ReadModel):
    name = "enquiry_statistics"
    schema_version = 2  # 2: a recategorised request counts under its corrected category

    def define(self, metadata: sa.MetaData) -> None:
        p = self.prefix
        self.table = sa.Table(
            f"{p}enquiry_statistics",
            metadata,
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            # `enquiry` for a contact; for a request, its kind (`request`, `complaint` …)
            sa.Column("kind", sa.String(32), nullable=False),
            # the enquiry type, or the request's category
            sa.Column("type", sa.String(200), nullable=False),
            sa.Column("channel", sa.String(32), nullable=False),
            sa.Column("at", UtcDateTime, nullable=False),
            sa.Column("customer", sa.String(32)),
            sa.Index(f"{p}enquiry_statistics_by_time", "council", "at"),
            sa.Index(f"{p}enquiry_statistics_by_customer", "council", "customer"),
        )

    @staticmethod
    def row(env: Envelope) -> Row | None:
        d = env.data
        if env.event_type == "ContactLogged":
            return {
                "id": env.request_id,
                "council": env.council,
                "reference": env.reference,
                "kind": ENQUIRY,
                "type": d["contact_type"],
                "channel": d["channel"],
                "at": env.occurred_at,
                "customer": d.get("customer_id"),
            }
        if env.event_type == "Lodged":
            customer = d.get("customer") or {}
            return {
                "id": env.request_id,
                "council": env.council,
                "reference": env.reference,
                "kind": d.get("kind") or "request",
                "type": d["category"],
                "channel": d["channel"],
                "at": d.get("received_at") or env.occurred_at,
                "customer": customer.get("number"),
            }
        return None

    def apply(self, conn: sa.Connection, envelopes: Sequence[Envelope]) -> int:
        """Inserts each contact's and request's row; a recategorised request's row takes its
        corrected category (in log order: a redelivery replays the later ones after it)."""
        rows = [r for r in (self.row(e) for e in envelopes) if r is not None]
        insert_ignoring_duplicates(conn, self.table, rows)
        t = self.table
        corrected = [e for e in envelopes if e.event_type == "Recategorised"]
        for e in corrected:
            conn.execute(sa.update(t).where(t.c.id == e.request_id).values(type=e.data["category"]))
        return len(rows) + len(corrected)

    def fold(self) -> Fold:
        return _Rows(self)


class _Rows:
    """The bulk rebuild's fold: every row in memory until the end of the log, since a later
    `Recategorised` may still correct a request's category (as `apply` does, in log order)."""

    def __init__(self, model: EnquiryStatistics) -> None:
        self.model = model
        self.rows: dict[str, Row] = {}

    def needs(self, event_type: str, request_id: str) -> bool:
        return event_type in ROW_EVENTS or (
            event_type == "Recategorised" and request_id in self.rows
        )

    def add(self, env: Envelope) -> None:
        if env.event_type == "Recategorised":
            row = self.rows.get(env.request_id)
            if row is not None:
                row["type"] = env.data["category"]
            return
        row = self.model.row(env)
        if row is not None:
            self.rows.setdefault(row["id"], row)

    def take(self) -> Rows:
        return [(self.model.table, [])]

    def finish(self) -> Rows:
        rows, self.rows = list(self.rows.values()), {}
        return [(self.model.table, rows)]


@dataclass(frozen=True, kw_only=True)
class StatsQuery:
    council: str
    by: str  # `type` or `channel`, always per day
    zone: ZoneInfo
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.by not in GROUPINGS:
            raise ValueError(f"unknown grouping {self.by!r} (accepted: day,type or day,channel)")


def daily(conn: sa.Connection, model: EnquiryStatistics, q: StatsQuery) -> list[dict[str, Any]]:
    """Per local day and type (or channel): enquiries, requests (of every kind) and both,
    days in order, then by the type or channel."""
    t = model.table
    found = conn.execute(
        sa.select(t.c.kind, t.c.type, t.c.channel, t.c.at).where(
            t.c.council == q.council, t.c.at >= q.start, t.c.at < q.end
        )
    )
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for kind, kind_type, channel, at in found:
        day = at.astimezone(q.zone).date().isoformat()
        group = kind_type if q.by == "type" else channel
        counts[(day, group)][0 if kind == ENQUIRY else 1] += 1
    return [
        {"day": day, q.by: group, "enquiries": e, "requests": r, "total": e + r}
        for (day, group), (e, r) in sorted(counts.items())
    ]


def of_customer(
    conn: sa.Connection, model: EnquiryStatistics, council: str, customer: str
) -> list[dict[str, Any]]:
    """The customer's contacts (enquiries, not requests), oldest first."""
    t = model.table
    q = (
        sa.select(t.c.reference, t.c.type, t.c.channel, t.c.at)
        .where(t.c.council == council, t.c.customer == customer, t.c.kind == ENQUIRY)
        .order_by(t.c.at, t.c.reference)
    )
    return [
        {"reference": r.reference, "type": r.type, "channel": r.channel, "logged_at": r.at}
        for r in conn.execute(q)
    ]
