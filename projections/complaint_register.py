"""The complaints register: which complaints were made, about what and whom, how they ended,
how long they took, and which went to internal review or to the Ombudsman.

Seed 001 §4 defines a complaint and the Group Manager reports on customer service (6.3);
seed 003 asks for "Complaints Handling Reports" and the number of complaints received. One row
per complaint (other kinds have none). Time taken is in business days from receipt to
closure, counted in the calendar the complaint recorded when it was lodged (never today's
configuration), so a rebuild gives the same rows.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from projections.base import Row, RowPerRequest, UtcDateTime
from projections.envelope import Envelope
from projections.sla import standard_of

COMPLAINT = "complaint"


class ComplaintRegister(RowPerRequest):
    name = "complaint_register"
    schema_version = 2  # 2: the corrections (reopen, recategorise, link, refer)

    def define(self, metadata: sa.MetaData) -> None:
        p = self.prefix
        self.table = sa.Table(
            f"{p}complaint_register",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("category", sa.String(200), nullable=False),
            sa.Column("category_name", sa.String(200), nullable=False),
            sa.Column("team", sa.String(64), nullable=False),
            sa.Column("officer", sa.String(128)),
            sa.Column("subject_officer", sa.String(128)),
            sa.Column("channel", sa.String(32)),
            sa.Column("received_at", UtcDateTime, nullable=False),
            sa.Column("acknowledge_by", UtcDateTime),
            sa.Column("acknowledged_at", UtcDateTime),
            sa.Column("complete_by", UtcDateTime),
            sa.Column("closed_at", UtcDateTime),
            sa.Column("outcome", sa.String(64)),
            sa.Column("business_days_taken", sa.Float),
            sa.Column("review_requested_on", sa.Date),
            sa.Column("review_decided_on", sa.Date),
            sa.Column("review_decision", sa.String(64)),
            sa.Column("ombudsman_on", sa.Date),
            sa.Column("satisfaction_score", sa.Integer),
            sa.Column("standard", sa.Text, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Index(f"{p}complaint_register_received", "council", "received_at"),
        )

    def evolve(self, row: Row | None, env: Envelope) -> Row | None:
        d, kind = env.data, env.event_type
        if kind == "Lodged":
            if d.get("kind") != COMPLAINT:
                return None  # not a complaint: no row, and its later events find none
            standard = d.get("standard") or {}
            received = d.get("received_at") or env.occurred_at
            return {
                "request_id": env.request_id,
                "council": env.council,
                "reference": env.reference,
                "category": d["category"],
                "category_name": standard.get("category_name") or d["category"],
                "team": d["team"],
                "officer": None,
                "subject_officer": None,
                "channel": d.get("channel"),
                "received_at": received,
                "acknowledge_by": d.get("acknowledge_by"),
                "acknowledged_at": None,
                "complete_by": d.get("complete_by"),
                "closed_at": None,
                "outcome": None,
                "business_days_taken": None,
                "review_requested_on": None,
                "review_decided_on": None,
                "review_decision": None,
                "ombudsman_on": None,
                "satisfaction_score": None,
                "standard": json.dumps(standard, sort_keys=True),
            }
        assert row is not None
        new = dict(row)
        if kind == "Acknowledged":
            new["acknowledged_at"] = env.occurred_at
        elif kind == "Assigned":
            new.update(team=d["team"], officer=d.get("officer"))
        elif kind == "Delayed":
            new["complete_by"] = d.get("complete_by")
        elif kind in ("Closed", "LinkedAsDuplicate", "Referred"):
            new.update(closed_at=env.occurred_at, outcome=d["outcome"])
            _, cal = standard_of(row["standard"])
            received = _instant(row["received_at"])
            if cal is not None and env.occurred >= received:
                new["business_days_taken"] = round(
                    cal.business_days_elapsed(received, env.occurred), 4
                )
        elif kind == "Reopened":  # corrections: open again, due anew
            new.update(
                closed_at=None,
                outcome=None,
                business_days_taken=None,
                complete_by=d.get("complete_by"),
            )
        elif kind == "Recategorised":
            new.update(
                category=d["category"],
                category_name=d["category_name"],
                team=d["team"],
                officer=d.get("officer"),
            )
            if d.get("standard") is not None:
                new["standard"] = json.dumps(d["standard"], sort_keys=True)
            if d.get("targets") == "new":
                new.update(acknowledge_by=d.get("acknowledge_by"), complete_by=d.get("complete_by"))
        elif kind == "ComplaintSubjectRecorded":
            new["subject_officer"] = d["officer"]
        elif kind == "ComplaintReviewRequested":
            new["review_requested_on"] = _day(d["on"])
        elif kind == "ComplaintReviewDecided":
            new.update(review_decided_on=_day(d["on"]), review_decision=d["decision"])
        elif kind == "ComplaintReferredToOmbudsman":
            new["ombudsman_on"] = _day(d["on"])
        elif kind == "SatisfactionRecorded":
            new["satisfaction_score"] = int(d["score"])
        else:
            return None  # nothing the register keeps (the version moves on)
        return new


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@dataclass(frozen=True, kw_only=True)
class RegisterFilter:
    council: str
    start: datetime | None = None  # received from (inclusive)
    end: datetime | None = None  # received before


def rows(conn: sa.Connection, model: ComplaintRegister, f: RegisterFilter) -> list[Row]:
    """The complaints received in the period, oldest first."""
    t = model.table
    q = sa.select(t).where(t.c.council == f.council)
    if f.start is not None:
        q = q.where(t.c.received_at >= f.start)
    if f.end is not None:
        q = q.where(t.c.received_at < f.end)
    out = []
    for r in conn.execute(q.order_by(t.c.received_at, t.c.reference)):
        row = dict(r._mapping)
        del row["standard"], row["version"]
        out.append(row)
    return out


def _figures(group: Iterable[Row]) -> dict[str, Any]:
    items = list(group)
    days = [r["business_days_taken"] for r in items if r["business_days_taken"] is not None]
    closed = [r for r in items if r["closed_at"] is not None]
    within = [r for r in closed if r["complete_by"] is None or r["closed_at"] <= r["complete_by"]]
    return {
        "received": len(items),
        "closed": len(closed),
        "open": len(items) - len(closed),
        "resolved_within_target": len(within),
        "mean_business_days": round(statistics.fmean(days), 2) if days else None,
        "median_business_days": round(statistics.median(days), 2) if days else None,
        "max_business_days": round(max(days), 2) if days else None,
        "internal_reviews": sum(r["review_requested_on"] is not None for r in items),
        "ombudsman_referrals": sum(r["ombudsman_on"] is not None for r in items),
    }


def report(register: list[Row], outcome_names: dict[str, str]) -> dict[str, Any]:
    """Complaints by category, by outcome (open ones as `open`) and overall: how many, how
    many closed within their resolve target, time taken in business days, reviews and
    Ombudsman referrals."""
    by_category: dict[str, list[Row]] = {}
    by_outcome: dict[str, list[Row]] = {}
    for r in register:
        by_category.setdefault(r["category"], []).append(r)
        by_outcome.setdefault(r["outcome"] or "open", []).append(r)
    return {
        "total": _figures(register),
        "by_category": [
            {"category_code": code, "category": group[0]["category_name"], **_figures(group)}
            for code, group in sorted(by_category.items())
        ],
        "by_outcome": [
            {"outcome": code, "outcome_name": outcome_names.get(code, code), **_figures(group)}
            for code, group in sorted(by_outcome.items())
        ],
    }
