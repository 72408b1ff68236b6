"""SLA view: per request, the due instants its events recorded, pauses, level and outcome.

The projection never reads the wall clock. Everything relative to "now" (on track, at risk,
breached, time remaining) is computed by the queries against an explicit instant. Derived
instants (at-risk threshold, next escalation due, progress-notice due, a due instant shifted by
a customer pause) are computed with the business calendar recorded in the `Lodged` event's
standard, never today's configuration — so a rebuild after a configuration change gives the
same answers. That calendar carries the holidays resolved when the request was lodged (over
its horizon), so a rebuild with another version of the `holidays` package gives them too.
Every derived instant follows the calendar's one rule for "N working days" (see
`domain/calendar.py`), so each falls at the close of a business day.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa

from domain.calendar import BusinessCalendar, CalendarSpec
from projections.base import Row, RowPerRequest, UtcDateTime
from projections.envelope import Envelope

T = TypeVar("T")


@lru_cache(maxsize=64)
def _calendar_of(spec_json: str) -> BusinessCalendar:
    return BusinessCalendar(CalendarSpec.from_dict(json.loads(spec_json)))


def calendar_of(standard: dict[str, Any]) -> BusinessCalendar | None:
    spec = standard.get("calendar")
    return None if not spec else _calendar_of(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=256)
def standard_of(standard_json: str) -> tuple[dict[str, Any], BusinessCalendar | None]:
    """A row's recorded standard and its calendar, parsed once per distinct standard (every
    request lodged under the same standard records the same text): not per event. The dict
    is shared: read it, never change it."""
    standard = json.loads(standard_json)
    return standard, calendar_of(standard)


# What `_schedule` worked out with a recorded calendar, by (the calendar's method, its
# arguments): the calendar's arithmetic is a function of them alone, and a request's successive
# states mostly ask it the same questions (a note or an assignment moves none of its instants).
_WORKED_OUT: dict[tuple[Any, ...], Any] = {}
_WORKED_OUT_SIZE = 50_000


def _worked_out(method: Callable[..., T], *args: Any) -> T:
    """`method(*args)`, remembered (never for more than `_WORKED_OUT_SIZE` questions)."""
    key = (method, *args)
    try:
        return _WORKED_OUT[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    if len(_WORKED_OUT) >= _WORKED_OUT_SIZE:
        _WORKED_OUT.clear()
    found = _WORKED_OUT[key] = method(*args)
    return found


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def day_length(cal: BusinessCalendar) -> timedelta:
    spec = cal.spec
    return datetime.combine(datetime.min, spec.closes) - datetime.combine(datetime.min, spec.opens)


class Sla(RowPerRequest):
    name = "sla"
    schema_version = 2  # 2: the corrections (reopen, recategorise, link, refer; duplicate_of)

    def define(self, metadata: sa.MetaData) -> None:
        p = self.prefix
        self.table = sa.Table(
            f"{p}sla",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("category", sa.String(200), nullable=False),
            sa.Column("category_name", sa.String(200), nullable=False),
            sa.Column("team", sa.String(64), nullable=False),
            sa.Column("officer", sa.String(128)),
            sa.Column("channel", sa.String(32)),
            sa.Column("kind", sa.String(32)),
            sa.Column("urgent", sa.Boolean, nullable=False),
            sa.Column("discretionary", sa.Boolean, nullable=False),
            sa.Column("imported", sa.Boolean, nullable=False),
            sa.Column("open", sa.Boolean, nullable=False),
            sa.Column("level", sa.String(64), nullable=False),
            sa.Column("escalations", sa.Integer, nullable=False),
            sa.Column("lodged_by", sa.String(128), nullable=False),
            sa.Column("lodged_at", UtcDateTime, nullable=False),
            sa.Column("received_at", UtcDateTime, nullable=False),
            sa.Column("acknowledge_by", UtcDateTime),
            sa.Column("acknowledged_at", UtcDateTime),
            sa.Column("complete_by", UtcDateTime),
            sa.Column("at_risk_from", UtcDateTime),
            sa.Column("paused_at", UtcDateTime),
            sa.Column("next_level", sa.String(64)),
            sa.Column("next_level_due", UtcDateTime),
            sa.Column("next_level_standard", sa.String(32)),
            sa.Column("acknowledgement_escalated", sa.Boolean, nullable=False),
            sa.Column("progress_notice_due", UtcDateTime),
            sa.Column("progress_notice_sent", sa.Boolean, nullable=False),
            sa.Column("progress_notice_at", UtcDateTime),
            sa.Column("contact", sa.String(16)),
            sa.Column("touched", sa.Boolean, nullable=False),
            sa.Column("closed_at", UtcDateTime),
            sa.Column("outcome", sa.String(64)),
            sa.Column("business_days_to_complete", sa.Float),
            sa.Column("standard", sa.Text, nullable=False),
            sa.Column("duplicate_of", sa.String(64)),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Index(f"{p}sla_breach", "council", "open", "complete_by"),
            sa.Index(f"{p}sla_at_risk", "council", "open", "at_risk_from"),
            sa.Index(f"{p}sla_escalation_due", "open", "next_level_due"),
            sa.Index(f"{p}sla_notice_due", "open", "progress_notice_due"),
            sa.Index(f"{p}sla_lodged", "council", "lodged_at"),
            sa.Index(f"{p}sla_closed", "council", "closed_at"),
        )

    def evolve(self, row: Row | None, env: Envelope) -> Row | None:
        new = self.step(row, env)
        return None if new is None else _schedule(new)

    def step(self, row: Row | None, env: Envelope) -> Row | None:
        """The row after `env`, its derived instants not yet computed (`derive`): business
        time with the recorded calendar is worked out once per row written, not per event."""
        if env.event_type == "Lodged":
            return _lodged(env)
        assert row is not None
        new = dict(row)
        _resume_if_paused(new, env)
        _apply(new, env)
        return new

    def derive(self, row: Row) -> Row:
        return _schedule(row)


def _lodged(env: Envelope) -> Row:
    d = env.data
    standard = d.get("standard") or {}
    roles = standard.get("escalation_roles") or [""]
    return {
        "request_id": env.request_id,
        "council": env.council,
        "reference": env.reference,
        "category": d["category"],
        "category_name": standard.get("category_name") or d["category"],
        "team": d["team"],
        "officer": None,
        "channel": d.get("channel"),
        "kind": d.get("kind"),
        "urgent": bool(d.get("urgent")),
        "discretionary": bool(d.get("discretionary")),
        "imported": bool(d.get("imported")),
        "open": True,
        "level": roles[0],
        "escalations": 0,
        "lodged_by": env.actor["id"],
        "lodged_at": env.occurred,
        "received_at": _instant(d.get("received_at")) or env.occurred,
        "acknowledge_by": _instant(d.get("acknowledge_by")),
        "acknowledged_at": None,
        "complete_by": _instant(d.get("complete_by")),
        "at_risk_from": None,
        "paused_at": None,
        "next_level": None,
        "next_level_due": None,
        "next_level_standard": None,
        "acknowledgement_escalated": False,
        "progress_notice_due": None,
        "progress_notice_sent": False,
        "progress_notice_at": None,
        "contact": _contact(d.get("customer")),
        "touched": False,
        "closed_at": None,
        "outcome": None,
        "business_days_to_complete": None,
        "standard": json.dumps(standard, sort_keys=True),
        "duplicate_of": None,
    }


def _contact(customer: Any) -> str | None:
    """The customer's preferred contact method; None when there is no way to reach them."""
    method = (customer or {}).get("preferred_contact")
    return None if method in (None, "none") else str(method)


def _resume_if_paused(row: Row, env: Envelope) -> None:
    """The next action after an 'awaiting the customer' delay restarts the completion clock,
    keeping the whole business days that were left when it stopped (the calendar's one rule:
    due N working days after the resumption). A notice the council sends is not such an
    action, nor a staff alert taken, nor another delay awaiting the customer (the clock
    stays stopped)."""
    paused_at = _instant(row["paused_at"])
    if paused_at is None or env.event_type in ("NoticeSent", "AlertTaken"):
        return
    if env.event_type == "Delayed" and env.data.get("awaiting_customer"):
        return
    row["paused_at"] = None
    complete_by = _instant(row["complete_by"])
    _, cal = standard_of(row["standard"])
    if complete_by is None or cal is None:
        return
    if complete_by > paused_at:
        left = cal.business_days_left(paused_at, complete_by)
        row["complete_by"] = cal.add_business_days(env.occurred, left)


def _apply(row: Row, env: Envelope) -> None:
    d, kind = env.data, env.event_type
    if kind in ("Assigned", "Delayed", "Escalated"):
        row["touched"] = True
    if kind == "Acknowledged":
        row["acknowledged_at"] = env.occurred
    elif kind == "Assigned":
        row.update(team=d["team"], officer=d.get("officer"))
    elif kind == "Delayed":
        standard, _ = standard_of(row["standard"])
        # When a delay does not move the due instant, the event repeats the aggregate's, which
        # knows nothing of customer pauses: keep this row's, which does.
        if standard.get("delay_moves_due", True):
            row["complete_by"] = _instant(d.get("complete_by"))
        if d.get("awaiting_customer") and standard.get("awaiting_customer_pauses"):
            row["paused_at"] = env.occurred
    elif kind == "Escalated":
        row.update(level=d["level"], escalations=row["escalations"] + 1)
        if d.get("standard") == "acknowledgement":
            row["acknowledgement_escalated"] = True
    elif kind == "NoticeSent" and d.get("notice") == "progress":
        row.update(progress_notice_sent=True, progress_notice_at=env.occurred)
    elif kind in ("Closed", "LinkedAsDuplicate", "Referred"):
        row.update(open=False, closed_at=env.occurred, outcome=d["outcome"])
        if kind == "LinkedAsDuplicate":
            row["duplicate_of"] = d["original"]
        _, cal = standard_of(row["standard"])
        if cal is not None:
            lodged = _instant(row["lodged_at"])
            assert lodged is not None
            row["business_days_to_complete"] = cal.business_days_elapsed(lodged, env.occurred)
    elif kind in ("Reopened", "Recategorised"):
        _correct(row, env)


def _correct(row: Row, env: Envelope) -> None:
    """A reopened request is open again, due when its event says (counted from the
    reopening); a recategorised one takes its new category and team, and, where the council
    gives it the new category's targets, that standard and its due instants (with `keep`, the
    row's own due instants stay: they know of any customer pause)."""
    d = env.data
    row["touched"] = True
    if env.event_type == "Reopened":
        row.update(
            open=True,
            closed_at=None,
            outcome=None,
            business_days_to_complete=None,
            complete_by=_instant(d.get("complete_by")),
            paused_at=None,
        )
        return
    row.update(
        category=d["category"],
        category_name=d["category_name"],
        team=d["team"],
        officer=d.get("officer"),
    )
    if d.get("standard") is not None:
        row["standard"] = json.dumps(d["standard"], sort_keys=True)
    if d.get("targets") == "new":
        row.update(
            acknowledge_by=_instant(d.get("acknowledge_by")),
            complete_by=_instant(d.get("complete_by")),
        )


def _schedule(row: Row) -> Row:
    """Derived instants: at-risk threshold, next escalation and its due instant, progress
    notice. They depend on the row's other columns alone (never on their own earlier values),
    so they may be computed once for a row's final state."""
    standard, cal = standard_of(row["standard"])
    received, complete_by = _instant(row["received_at"]), _instant(row["complete_by"])
    assert received is not None
    row["at_risk_from"] = row["next_level"] = row["next_level_due"] = None
    row["next_level_standard"] = row["progress_notice_due"] = None
    if cal is None or not row["open"] or row["imported"]:
        return row
    share = float(standard.get("at_risk_share") or 0.8)
    if complete_by is not None:
        total = _worked_out(cal.business_time_elapsed, received, complete_by)
        if total > timedelta(0):
            row["at_risk_from"] = _worked_out(cal.add_business_duration, received, total * share)
    if row["contact"]:
        row["progress_notice_due"] = _progress_notice_due(row, standard, cal)
    if row["paused_at"] is None:
        found = next_escalation(row, standard, cal)
        if found is not None:
            row["next_level"], row["next_level_due"], row["next_level_standard"] = found
    return row


def _progress_notice_due(
    row: Row, standard: dict[str, Any], cal: BusinessCalendar
) -> datetime | None:
    """N working days after receipt; then, where the standard repeats it, every M working days
    after the previous notice (the aggregate applies the same rule)."""
    first = standard.get("progress_notice_days")
    if not first:
        return None
    last = _instant(row["progress_notice_at"])
    if last is None:
        if row["progress_notice_sent"]:  # a notice recorded before notices kept their instant
            return None
        received = _instant(row["received_at"])
        assert received is not None
        return _worked_out(cal.add_business_days, received, int(first))
    every = standard.get("progress_notice_every_days")
    return _worked_out(cal.add_business_days, last, int(every)) if every else None


def next_escalation(
    row: Row, standard: dict[str, Any], cal: BusinessCalendar
) -> tuple[str, datetime, str] | None:
    """The level the request is due to reach next, when, and which standard's breach takes it
    there; None if none is due.

    One ladder: urgent requests go to the urgent role at lodgement; a missed acknowledgement
    raises the request one level (to the role its standard names) its configured business
    days after the acknowledgement fell due; a discretionary request goes straight to its role
    (the Director) when its agreed date is missed; otherwise each level above the current one
    falls due its configured business days after the completion breach."""
    roles: list[str] = list(standard.get("escalation_roles") or [])
    if row["level"] not in roles or standard.get("escalates") is False:
        return None  # a kind that never escalates (a compliment) has nothing due
    current = roles.index(row["level"])
    urgent_role = standard.get("urgent_role")
    if row["urgent"] and urgent_role in roles and current < roles.index(urgent_role):
        return urgent_role, _instant(row["received_at"]) or row["lodged_at"], "urgent"
    candidates = [
        c
        for c in (
            _acknowledgement_step(row, standard, cal, current),
            _completion_step(row, standard, cal, roles, current),
        )
        if c
    ]
    return min(candidates, key=lambda c: c[1]) if candidates else None


def _acknowledgement_step(
    row: Row, standard: dict[str, Any], cal: BusinessCalendar, current: int
) -> tuple[str, datetime, str] | None:
    role = standard.get("acknowledge_escalation_role")
    ack_by = _instant(row["acknowledge_by"])
    roles: list[str] = list(standard.get("escalation_roles") or [])
    if (
        role not in roles
        or ack_by is None
        or row["acknowledged_at"] is not None
        or row["acknowledgement_escalated"]
        or current >= roles.index(role)
    ):
        return None
    after = int(standard.get("acknowledge_escalation_after_days") or 0)
    return role, _worked_out(cal.add_business_days_after_due, ack_by, after), "acknowledgement"


def _completion_step(
    row: Row, standard: dict[str, Any], cal: BusinessCalendar, roles: list[str], current: int
) -> tuple[str, datetime, str] | None:
    complete_by = _instant(row["complete_by"])
    if complete_by is None or current + 1 >= len(roles):
        return None
    discretionary_role = standard.get("discretionary_role")
    if (
        row["discretionary"]
        and discretionary_role in roles
        and current < roles.index(discretionary_role)
    ):
        return discretionary_role, complete_by, "discretionary"
    target = current + 1
    after = list(standard.get("escalation_after_days") or [0] * len(roles))
    due = _worked_out(cal.add_business_days_after_due, complete_by, int(after[target]))
    return roles[target], due, "completion"
