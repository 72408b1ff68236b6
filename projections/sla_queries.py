"""Questions asked of the SLA view, always against an explicit instant `now`.

What has breached, what is at risk, what was escalated (for people), and what is due for the
watchdog. State is never stored: it is computed here from the due instants the events recorded,
and business time is counted with the calendar recorded in the row's own `standard` — so the
same `now` gives the same answer before and after a configuration change or a rebuild.

Conventions: at its due instant a request's time is used up — it is breached from that
instant on unless closed by then, and an escalation level is due from its `next_level_due`
on. A request waiting on the customer (paused) is neither at risk nor breached. An overdue
acknowledgement is a breach too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from projections.base import Row
from projections.sla import Sla, day_length, standard_of
from projections.sla_history import SlaHistory
from projections.temporal import in_force, live_columns

# The live view answers at any `now` by what is recorded now; its history (`sla_history`)
# answers as at `now`: by the rows in force then, each judged then.
SlaSource = Sla | SlaHistory

BREACHED, AT_RISK, PAUSED, ON_TRACK, CLOSED = "breached", "at-risk", "paused", "on-track", "closed"
_RANK = {BREACHED: 0, AT_RISK: 1, PAUSED: 2, ON_TRACK: 3, CLOSED: 4}


@dataclass(frozen=True, kw_only=True)
class SlaFilter:
    """`role` is the request's current escalation level."""

    council: str
    team: str | None = None
    role: str | None = None
    category: str | None = None


@dataclass(frozen=True, kw_only=True)
class SlaState:
    state: str
    breaches: tuple[str, ...]  # "completion", "acknowledgement"
    due: datetime | None  # the instant the state is measured against
    remaining: timedelta | None  # business time left; negative when overdue
    day: timedelta  # the calendar's nominal business day, to express `remaining` in days


def state_at(row: Row, now: datetime) -> SlaState:
    """Where the request stands at `now`, in the business time of its own recorded calendar."""
    _, cal = standard_of(row["standard"])
    day = day_length(cal) if cal else timedelta(hours=24)

    def left(due: datetime) -> timedelta:
        return cal.business_time_elapsed(now, due) if cal else due - now

    complete_by, ack_by = row["complete_by"], row["acknowledge_by"]
    if not row["open"]:
        return SlaState(state=CLOSED, breaches=(), due=complete_by, remaining=None, day=day)
    if row["paused_at"] is not None:
        frozen = (
            cal.business_time_elapsed(row["paused_at"], complete_by)
            if (cal and complete_by)
            else None
        )
        return SlaState(state=PAUSED, breaches=(), due=complete_by, remaining=frozen, day=day)
    overdue: list[tuple[timedelta, str, datetime]] = []
    if complete_by is not None and complete_by <= now:
        overdue.append((left(complete_by), "completion", complete_by))
    if row["acknowledged_at"] is None and ack_by is not None and ack_by <= now:
        overdue.append((left(ack_by), "acknowledgement", ack_by))
    if overdue:
        most, _, due = min(overdue, key=lambda o: o[0])
        return SlaState(
            state=BREACHED, breaches=tuple(o[1] for o in overdue), due=due, remaining=most, day=day
        )
    at_risk = row["at_risk_from"] is not None and row["at_risk_from"] <= now
    return SlaState(
        state=AT_RISK if at_risk else ON_TRACK,
        breaches=(),
        due=complete_by,
        remaining=left(complete_by) if complete_by is not None else None,
        day=day,
    )


# -- for people: breached, at risk, escalated --------------------------------------------------


def breached(
    conn: sa.Connection, model: SlaSource, f: SlaFilter, now: datetime
) -> list[dict[str, Any]]:
    """Open, not paused, past the completion or the acknowledgement due instant; the most
    overdue (in business time) first."""
    t = model.table
    late = sa.or_(
        t.c.complete_by <= now,
        sa.and_(t.c.acknowledged_at.is_(None), t.c.acknowledge_by <= now),
    )
    return _ranked(
        conn, model, f, now, _open(conn, model, now).where(t.c.paused_at.is_(None), late)
    )


def at_risk(
    conn: sa.Connection, model: SlaSource, f: SlaFilter, now: datetime
) -> list[dict[str, Any]]:
    """Open, not paused, past the at-risk threshold but not yet breached; least time left
    first."""
    t = model.table
    q = _open(conn, model, now).where(
        t.c.paused_at.is_(None), t.c.at_risk_from <= now, t.c.complete_by > now
    )
    return [r for r in _ranked(conn, model, f, now, q) if r["state"] == AT_RISK]


def escalated(
    conn: sa.Connection, model: SlaSource, f: SlaFilter, now: datetime
) -> list[dict[str, Any]]:
    """Open requests escalated above the first level; the highest level first, then by
    severity."""
    t = model.table
    rows = _ranked(conn, model, f, now, _open(conn, model, now).where(t.c.escalations > 0))
    return sorted(rows, key=lambda r: -r["level_rank"])  # stable: severity within a level


def states(
    conn: sa.Connection, model: Sla, council: str, references: Sequence[str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Each of `references` (the council's) as the SLA view shows it at `now`, by reference."""
    t = model.table
    rows: dict[str, dict[str, Any]] = {}
    for chunk in range(0, len(references), 500):
        q = sa.select(t).where(
            t.c.council == council, t.c.reference.in_(references[chunk : chunk + 500])
        )
        rows.update((r.reference, present(dict(r._mapping), now)) for r in conn.execute(q))
    return rows


def _open(conn: sa.Connection, model: SlaSource, now: datetime) -> sa.Select[Any]:
    """Open requests: in the live view, as recorded now; in its history, as recorded by `now`."""
    t = model.table
    if isinstance(model, SlaHistory):
        return sa.select(*live_columns(t)).where(
            model.open_rows(t), *in_force(t, now, conn.dialect.name)
        )
    return sa.select(t).where(t.c.open == sa.true())


def _ranked(
    conn: sa.Connection, model: SlaSource, f: SlaFilter, now: datetime, q: sa.Select[Any]
) -> list[dict[str, Any]]:
    t = model.table
    q = q.where(t.c.council == f.council)
    for column, value in ((t.c.team, f.team), (t.c.level, f.role), (t.c.category, f.category)):
        if value:
            q = q.where(column == value)
    rows = [present(dict(r._mapping), now) for r in conn.execute(q)]
    return sorted(rows, key=severity)


def severity(row: dict[str, Any]) -> tuple[Any, ...]:
    """Breached before at risk before the rest; within a state, least business time left
    (most overdue) first; then urgent first, then by reference."""
    seconds = row["remaining_business_seconds"]
    return (
        _RANK[row["state"]],
        float("inf") if seconds is None else seconds,
        not row["urgent"],
        row["reference"],
    )


def present(row: Row, now: datetime) -> dict[str, Any]:
    """The row as shown: its state at `now` and the business time remaining or overdue."""
    s = state_at(row, now)
    roles = json.loads(row["standard"]).get("escalation_roles") or []
    seconds = None if s.remaining is None else int(s.remaining.total_seconds())
    return {
        "reference": row["reference"],
        "council": row["council"],
        "state": s.state,
        "breaches": list(s.breaches),
        "urgent": row["urgent"],
        "category": row["category"],
        "team": row["team"],
        "officer": row["officer"],
        "level": row["level"],
        "level_rank": roles.index(row["level"]) if row["level"] in roles else -1,
        "escalations": row["escalations"],
        "due": s.due,
        "remaining_business_seconds": seconds,
        "remaining_business_days": None if s.remaining is None else round(s.remaining / s.day, 3),
        "remaining": describe(s.remaining, s.day),
        "lodged_at": row["lodged_at"],
        "acknowledge_by": row["acknowledge_by"],
        "acknowledged_at": row["acknowledged_at"],
        "complete_by": row["complete_by"],
        "at_risk_from": row["at_risk_from"],
        "paused_at": row["paused_at"],
        "next_level": row["next_level"],
        "next_level_due": row["next_level_due"],
        "received_at": row["received_at"],
    }


def describe(remaining: timedelta | None, day: timedelta) -> str:
    """'2d 3h 15m left' or 'overdue 0d 1h 0m', counting days of the council's working day."""
    if remaining is None:
        return ""
    text = business_span(abs(remaining), day)
    return f"overdue {text}" if remaining < timedelta(0) else f"{text} left"


def business_span(span: timedelta, day: timedelta) -> str:
    """Business time as people read it, '2d 3h 15m': whole working days of length `day`, then
    hours and minutes (a negative span is shown with a minus sign)."""
    sign, span = ("-", -span) if span < timedelta(0) else ("", span)
    days, rest = divmod(span, day)
    hours, rest = divmod(rest, timedelta(hours=1))
    return f"{sign}{days}d {hours}h {rest // timedelta(minutes=1)}m"


# -- for the watchdog: the due set -------------------------------------------------------------


class DueEscalation(NamedTuple):
    """A request whose next level is due. Tuples, not dataclasses, and the due instant read as
    stored (naive UTC) and made aware only when asked for: a due set can be 10,000 rows long."""

    request_id: str
    council: str
    reference: str
    level: str
    stored_due: datetime
    standard: str  # which standard's breach: acknowledgement, completion, urgent, discretionary

    @property
    def due(self) -> datetime:
        return self.stored_due.replace(tzinfo=UTC)


class DueNotice(NamedTuple):
    request_id: str
    council: str
    reference: str


def due_escalations(
    conn: sa.Connection, model: Sla, now: datetime, council: str | None = None
) -> list[DueEscalation]:
    """Open, running requests whose next level is due at `now`: one range scan of the
    (open, next_level_due) index, soonest due first."""
    q = due_escalations_query(model.table, now, council)
    return [DueEscalation._make(r) for r in conn.execute(q).all()]


def due_progress_notices(
    conn: sa.Connection, model: Sla, now: datetime, council: str | None = None
) -> list[DueNotice]:
    """Open requests past their next progress-notice instant (the first, or a repeat): one
    range scan of the (open, progress_notice_due) index."""
    q = due_notices_query(model.table, now, council)
    return [DueNotice._make(r) for r in conn.execute(q).all()]


def due_escalations_query(t: sa.Table, now: datetime, council: str | None) -> sa.Select[Any]:
    return (
        sa.select(
            t.c.request_id,
            t.c.council,
            t.c.reference,
            t.c.next_level,
            sa.type_coerce(t.c.next_level_due, sa.DateTime()),  # as stored: naive UTC
            t.c.next_level_standard,
        )
        .where(*escalation_due(t, now, council))
        .order_by(t.c.next_level_due)
    )


def due_notices_query(t: sa.Table, now: datetime, council: str | None) -> sa.Select[Any]:
    return (
        sa.select(t.c.request_id, t.c.council, t.c.reference)
        .where(*notice_due(t, now, council))
        .order_by(t.c.progress_notice_due)
    )


def escalation_due(t: sa.Table, now: datetime, council: str | None) -> list[Any]:
    """The predicate of the escalation due set (the bench counts with the same one)."""
    where = [t.c.open == sa.true(), t.c.next_level_due <= now, t.c.paused_at.is_(None)]
    return where + ([t.c.council == council] if council else [])


def notice_due(t: sa.Table, now: datetime, council: str | None) -> list[Any]:
    where = [t.c.open == sa.true(), t.c.progress_notice_due <= now]
    return where + ([t.c.council == council] if council else [])
