"""KPIs for a period: queries over the SLA read model (and the audit record, for who closed a
request and when it was escalated), grouped by category, team, channel, kind or day.

Nothing here is stored: every figure is computed when the query runs from the read models, which
are themselves rebuilt from the events — so the KPIs of any past period can be recomputed, and a
rebuild gives the same figures. Only "now" enters from outside, explicitly (`KpiQuery.now`): it
decides whether a pending due instant has been missed yet.

The period is ``[start, end)``: the caller turns inclusive local dates into the instants of
their local midnights in the council's zone. Each figure belongs to the period (and, with
``--by day``, to the local day) of its own event:

``lodged``
    requests lodged in the period.
``acknowledgement_due``, ``acknowledged_within_standard`` (and ``_pct``)
    of the requests lodged in the period that have an acknowledgement due instant, those whose
    acknowledgement is settled — acknowledged, or due before now — and, of those, the ones
    acknowledged at or before it. Imported history has no acknowledgement due instant.
``closed``
    requests closed in the period.
``completed_within_target`` (and ``_pct`` of ``closed``)
    of those, the ones closed at or before their completion due instant; a request with no due
    instant counts as within target.
``median_business_days_to_complete``, ``p90_business_days_to_complete``
    over the requests closed in the period, their business days from lodgement to closure in
    the calendar recorded at lodgement (the SLA view's ``business_days_to_complete``); p90 by
    linear interpolation between the closest ranks. A request the source says was closed
    before it was lodged has no meaningful duration and is left out of these two (it is
    still counted as closed).
``breaches``
    requests whose completion due instant falls in the period and that missed it: closed after
    it, or still open and due before now. (A breach belongs to the day it happened.)
``escalations``
    escalations recorded in the period.
``duplicates``, ``distinct_hazards``
    of the requests lodged in the period, those linked as duplicates of another request
    (`crm link`), and the rest: the distinct problems reported (ten reports of one fallen tree
    linked together count once). ``closed`` and ``completed_within_target`` still count every
    request, duplicates included.
``closed_by_officer``, ``first_contact_resolution`` (and ``_pct`` of ``closed_by_officer``)
    of the requests closed in the period, those an officer closed (not a system actor such as
    an import: history that names no officer cannot tell), and of those the ones resolved at
    first contact: closed by the same officer who lodged them, with no assignment, delay or
    escalation in between (the SLA view's ``touched`` is false). Imported history without
    officers therefore gives no figure (null), not 0%.

Groups: ``category`` is the request's category (its name as recorded at lodgement — for imported
history the source's own text); ``team`` the team the request is with now (after any
reassignment); ``channel`` and ``kind`` as lodged; ``day`` as above. Every grouping adds up to
the same totals.

``rated``, ``satisfied`` and ``customer_satisfaction_pct``: the customers' ratings of the
service recorded in the period (``SatisfactionRecorded``, grouped by their request), and the
share of them at or above the council's ``satisfied_from`` (seed 003: satisfaction rates).

Beside each figure that the council's ``kpi_targets`` sets a level for (same key), the result
carries ``<key>_expected`` and ``<key>_met``: a percentage is met at or above its level, a count
or a number of days at or below it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from projections.audit_record import AuditRecord
from projections.sla import Sla

GROUPINGS = ("category", "team", "channel", "kind", "day")
SYSTEM_ROLE = "system"
COUNTS = (
    "lodged",
    "acknowledgement_due",
    "acknowledged_within_standard",
    "closed",
    "completed_within_target",
    "breaches",
    "escalations",
    "closed_by_officer",
    "first_contact_resolution",
    "rated",
    "satisfied",
    "duplicates",
)
METRICS = (
    "lodged",
    "closed",
    "completed_within_target",
    "completed_within_target_pct",
    "acknowledgement_due",
    "acknowledged_within_standard",
    "acknowledged_within_standard_pct",
    "median_business_days_to_complete",
    "p90_business_days_to_complete",
    "breaches",
    "escalations",
    "closed_by_officer",
    "first_contact_resolution",
    "first_contact_resolution_pct",
    "rated",
    "satisfied",
    "customer_satisfaction_pct",
    "duplicates",
    "distinct_hazards",
)
_SLA_COLUMNS = (
    "request_id",
    "category",
    "category_name",
    "team",
    "channel",
    "kind",
    "lodged_at",
    "acknowledge_by",
    "acknowledged_at",
    "complete_by",
    "closed_at",
    "touched",
    "lodged_by",
    "business_days_to_complete",
    "duplicate_of",
)


@dataclass(frozen=True, kw_only=True)
class KpiQuery:
    council: str
    by: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    now: datetime
    targets: Mapping[str, float] = field(default_factory=dict)
    team_names: Mapping[str, str] = field(default_factory=dict)
    # The council's satisfaction policy: a rating of this or more counts as satisfied.
    satisfied_from: int = 4

    def __post_init__(self) -> None:
        if self.by not in GROUPINGS:
            raise ValueError(f"unknown grouping {self.by!r} (groupings: {', '.join(GROUPINGS)})")
        if self.end <= self.start:
            raise ValueError("the period's end must be after its start")

    def holds(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end


@dataclass(kw_only=True)
class _Tally:
    label: dict[str, Any]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    days: list[float] = field(default_factory=list)

    def add(self, other: _Tally) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        self.days.extend(other.days)


@dataclass(kw_only=True)
class KpiResult:
    groups: list[dict[str, Any]]
    total: dict[str, Any]


def percentile(values: Iterable[float], share: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * share
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _figures(tally: _Tally, targets: Mapping[str, float]) -> dict[str, Any]:
    c = tally.counts
    out: dict[str, Any] = dict(tally.label)
    out.update(
        lodged=c["lodged"],
        closed=c["closed"],
        completed_within_target=c["completed_within_target"],
        completed_within_target_pct=_pct(c["completed_within_target"], c["closed"]),
        acknowledgement_due=c["acknowledgement_due"],
        acknowledged_within_standard=c["acknowledged_within_standard"],
        acknowledged_within_standard_pct=_pct(
            c["acknowledged_within_standard"], c["acknowledgement_due"]
        ),
        median_business_days_to_complete=_round(
            statistics.median(tally.days) if tally.days else None
        ),
        p90_business_days_to_complete=_round(percentile(tally.days, 0.9)),
        breaches=c["breaches"],
        escalations=c["escalations"],
        closed_by_officer=c["closed_by_officer"],
        first_contact_resolution=c["first_contact_resolution"],
        first_contact_resolution_pct=_pct(c["first_contact_resolution"], c["closed_by_officer"]),
        rated=c["rated"],
        satisfied=c["satisfied"],
        customer_satisfaction_pct=_pct(c["satisfied"], c["rated"]),
        duplicates=c["duplicates"],
        distinct_hazards=c["lodged"] - c["duplicates"],
    )
    for key, level in targets.items():
        if key not in METRICS:
            continue
        value = out[key]
        higher_is_better = key.endswith("_pct")
        out[f"{key}_expected"] = level
        out[f"{key}_met"] = (
            None if value is None else (value >= level if higher_is_better else value <= level)
        )
    return out


def _group_key(q: KpiQuery) -> Callable[[Mapping[str, Any], datetime], tuple[Any, dict[str, Any]]]:
    """(sort key, label) of a request's group; for days, the local date of the given instant."""
    if q.by == "day":

        def by_day(row: Mapping[str, Any], at: datetime) -> tuple[Any, dict[str, Any]]:
            day: date = at.astimezone(q.zone).date()
            return day, {"day": day.isoformat()}

        return by_day
    if q.by == "category":

        def by_category(row: Mapping[str, Any], at: datetime) -> tuple[Any, dict[str, Any]]:
            return row["category"], {
                "category": row["category_name"],
                "category_code": row["category"],
            }

        return by_category
    if q.by == "team":

        def by_team(row: Mapping[str, Any], at: datetime) -> tuple[Any, dict[str, Any]]:
            team = row["team"]
            return team, {"team": team, "team_name": q.team_names.get(team, team)}

        return by_team

    def by_column(row: Mapping[str, Any], at: datetime) -> tuple[Any, dict[str, Any]]:
        value = row[q.by] or "unknown"
        return value, {q.by: value}

    return by_column


def _requests(conn: sa.Connection, sla: Sla, q: KpiQuery) -> dict[str, dict[str, Any]]:
    t = sla.table
    cols = [t.c[name] for name in _SLA_COLUMNS]

    def between(column: Any) -> Any:
        return sa.and_(column >= q.start, column < q.end)

    query = sa.select(*cols).where(
        t.c.council == q.council,
        sa.or_(between(t.c.lodged_at), between(t.c.closed_at), between(t.c.complete_by)),
    )
    return {r.request_id: dict(r._mapping) for r in conn.execute(query)}


def _events(
    conn: sa.Connection, audit: AuditRecord, q: KpiQuery, event_type: str
) -> list[sa.Row[Any]]:
    t = audit.table
    query = sa.select(t.c.request_id, t.c.occurred_at, t.c.actor_id, t.c.actor_role).where(
        t.c.council == q.council,
        t.c.event_type == event_type,
        t.c.occurred_at >= q.start,
        t.c.occurred_at < q.end,
    )
    return list(conn.execute(query))


def _ratings(
    conn: sa.Connection, audit: AuditRecord, q: KpiQuery
) -> list[tuple[str, datetime, int]]:
    """The customers' ratings recorded in the period: request, instant, score."""
    t = audit.table
    query = sa.select(t.c.request_id, t.c.occurred_at, t.c.payload).where(
        t.c.council == q.council,
        t.c.event_type == "SatisfactionRecorded",
        t.c.occurred_at >= q.start,
        t.c.occurred_at < q.end,
    )
    return [
        (r.request_id, r.occurred_at, int(json.loads(r.payload)["score"]))
        for r in conn.execute(query)
    ]


def _more_requests(conn: sa.Connection, sla: Sla, ids: set[str]) -> dict[str, dict[str, Any]]:
    t = sla.table
    out: dict[str, dict[str, Any]] = {}
    wanted = sorted(ids)
    for i in range(0, len(wanted), 500):
        query = sa.select(*[t.c[n] for n in _SLA_COLUMNS]).where(
            t.c.request_id.in_(wanted[i : i + 500])
        )
        out.update({r.request_id: dict(r._mapping) for r in conn.execute(query)})
    return out


def compute(conn: sa.Connection, sla: Sla, audit: AuditRecord, q: KpiQuery) -> KpiResult:
    """The KPIs of the period per group (sorted by group), and over all groups."""
    requests = _requests(conn, sla, q)
    closers = {r.request_id: r for r in _events(conn, audit, q, "Closed")}
    escalations = _events(conn, audit, q, "Escalated")
    ratings = _ratings(conn, audit, q)
    missing = ({e.request_id for e in escalations} | {r[0] for r in ratings}) - requests.keys()
    if missing:
        requests.update(_more_requests(conn, sla, missing))
    key_of = _group_key(q)
    tallies: dict[Any, _Tally] = {}

    def tally(row: Mapping[str, Any], at: datetime) -> _Tally:
        key, label = key_of(row, at)
        if key not in tallies:
            tallies[key] = _Tally(label=label)
        return tallies[key]

    for rid, row in requests.items():
        lodged, closed, due = row["lodged_at"], row["closed_at"], row["complete_by"]
        if q.holds(lodged):
            c = tally(row, lodged).counts
            c["lodged"] += 1
            c["duplicates"] += row["duplicate_of"] is not None
            ack_by, ack_at = row["acknowledge_by"], row["acknowledged_at"]
            if ack_by is not None and (ack_at is not None or ack_by < q.now):
                c["acknowledgement_due"] += 1
                c["acknowledged_within_standard"] += ack_at is not None and ack_at <= ack_by
        if q.holds(closed):
            t = tally(row, closed)
            t.counts["closed"] += 1
            t.counts["completed_within_target"] += due is None or closed <= due
            days = row["business_days_to_complete"]
            if days is not None and closed >= lodged:
                t.days.append(float(days))
            closer = closers.get(rid)
            if closer is not None and closer.actor_role != SYSTEM_ROLE:
                t.counts["closed_by_officer"] += 1
                t.counts["first_contact_resolution"] += (
                    closer.actor_id == row["lodged_by"] and not row["touched"]
                )
        if q.holds(due):
            missed = (closed is not None and closed > due) or (closed is None and due < q.now)
            if missed:
                tally(row, due).counts["breaches"] += 1
    for e in escalations:
        escalated = requests.get(e.request_id)
        if escalated is not None:
            tally(escalated, e.occurred_at).counts["escalations"] += 1
    for rid, at, score in ratings:  # counted in the group and period of the rating
        rated = requests.get(rid)
        if rated is not None:
            counts = tally(rated, at).counts
            counts["rated"] += 1
            counts["satisfied"] += score >= q.satisfied_from

    total = _Tally(label={})
    for t in tallies.values():
        total.add(t)

    def order(item: tuple[Any, _Tally]) -> Any:
        key, t = item
        if q.by == "category":
            return (str(t.label["category"]).casefold(), str(key))
        return key if q.by == "day" else str(key).casefold()

    groups = [_figures(t, q.targets) for _, t in sorted(tallies.items(), key=order)]
    return KpiResult(groups=groups, total=_figures(total, q.targets))
