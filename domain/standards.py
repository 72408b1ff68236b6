"""Service standards: the rules in force for one request, recorded in full when it is lodged.

A `ServiceStandard` is copied into the `Lodged` event, so the due instants of a request
never depend on today's configuration (history is stable).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from domain.calendar import BusinessCalendar, CalendarSpec
from domain.council import Category, Council
from domain.values import Channel, RequestKind


@dataclass(frozen=True, kw_only=True)
class ServiceStandard:
    """Targets in business days, the escalation chain and the calendar they are counted in."""

    category: str
    category_name: str
    team: str
    acknowledge_days: int | None
    complete_days: int | None
    progress_notice_days: int | None
    at_risk_share: float
    urgent: bool
    escalation_roles: tuple[str, ...]
    escalation_after_days: tuple[float, ...]
    discretionary_role: str | None
    urgent_role: str | None
    delay_moves_due: bool
    awaiting_customer_pauses: bool
    calendar: CalendarSpec
    # Recorded since the second pass of the council rules; absent from older events (defaults).
    progress_notice_every_days: int | None = None
    acknowledge_escalation_role: str | None = None
    acknowledge_escalation_after_days: int = 0
    urgent_alert_ack_minutes: int | None = None
    # The kind's handling (`domain/kinds.py`), recorded since kinds were; absent from older
    # events, which were all handled alike (the defaults).
    kind: str = RequestKind.SERVICE_REQUEST.value
    escalates: bool = True
    progress_notices: bool = True
    priority: bool = False

    def __post_init__(self) -> None:
        # Stored events decode JSON arrays as lists; keep the value hashable and comparable.
        object.__setattr__(self, "escalation_roles", tuple(self.escalation_roles))
        object.__setattr__(self, "escalation_after_days", tuple(self.escalation_after_days))


@dataclass(frozen=True, kw_only=True)
class DueInstants:
    acknowledge_by: datetime | None
    complete_by: datetime | None
    # An agreed completion date that is not a business day moves to this one.
    agreed_rolled_to: date | None = None


# Years past the year of lodgement whose holidays a standard records: a request's targets,
# escalations and notices fall well within them.
HORIZON_YEARS = 2


def standard_for(
    council: Council,
    category_code: str,
    channel: Channel,
    urgent: bool,
    kind: RequestKind = RequestKind.SERVICE_REQUEST,
) -> ServiceStandard:
    """The standard in force for a new request of this kind and category arriving by this
    channel: the kind's own targets where the council sets them (a complaint's acknowledge
    and resolve targets), else the category's; a kind without a completion target, progress
    notices or escalation (a compliment) records none."""
    category = council.category(category_code)
    rules = council.kind_rules(kind)
    first_notice = (
        (
            category.progress_notice_days
            if category.progress_notice_days is not None
            else council.progress_notice_days
        )
        if rules.progress_notices
        else None
    )
    acknowledge_days = (
        rules.acknowledge_days
        if rules.acknowledge_days is not None
        else category.acknowledge_days
        if category.acknowledge_days is not None
        else council.acknowledgement.days_for(channel)
    )
    complete_days = (
        None
        if not rules.completion_target
        else rules.complete_days
        if rules.complete_days is not None
        else category.complete_days
    )
    standard = ServiceStandard(
        category=category.code,
        category_name=category.name,
        team=category.team,
        acknowledge_days=acknowledge_days,
        complete_days=complete_days,
        progress_notice_days=first_notice,
        at_risk_share=(
            category.at_risk_share if category.at_risk_share is not None else council.at_risk_share
        ),
        urgent=(urgent or category.urgent) and rules.escalates,
        progress_notice_every_days=(
            council.progress_notice_every_days or first_notice if rules.progress_notices else None
        ),
        **_council_rules(council),
        kind=kind.value,
        escalates=rules.escalates,
        progress_notices=rules.progress_notices,
        priority=rules.priority,
    )
    if not rules.escalates:  # nothing raises it: not a missed acknowledgement either
        standard = replace(standard, acknowledge_escalation_role=None)
    return standard


def recorded(
    standard: ServiceStandard, received_at: datetime, keyed_at: datetime
) -> ServiceStandard:
    """The standard as a request records it: its calendar's holidays resolved from the year the
    request was received to `HORIZON_YEARS` after it was keyed in, so nothing derived from it
    later depends on the installed `holidays` package."""
    zone = ZoneInfo(standard.calendar.timezone)  # the council's own years
    first = received_at.astimezone(zone).year
    return _recorded(standard, first, keyed_at.astimezone(zone).year + HORIZON_YEARS)


@lru_cache(maxsize=256)
def _recorded(standard: ServiceStandard, first: int, last: int) -> ServiceStandard:
    return replace(standard, calendar=calendar_for(standard.calendar).resolved_spec(first, last))


def history_standard(council: Council, category: Category, team: str) -> ServiceStandard:
    """The standard recorded on imported history: the council's calendar (so business time can
    be counted later) and its chain, nothing due, nothing urgent."""
    return ServiceStandard(
        category=category.code,
        category_name=category.name,
        team=team,
        acknowledge_days=None,
        complete_days=None,
        progress_notice_days=None,
        at_risk_share=council.at_risk_share,
        urgent=False,
        **_council_rules(council),
    )


def _council_rules(council: Council) -> dict[str, Any]:
    """What every standard of this council records alike: its chain, policies and calendar."""
    return {
        "escalation_roles": council.roles,
        "escalation_after_days": tuple(s.after_breach_days for s in council.escalation_chain),
        "discretionary_role": council.discretionary_role,
        "urgent_role": council.urgent_role,
        "delay_moves_due": council.delay_moves_due,
        "awaiting_customer_pauses": council.awaiting_customer_pauses,
        "calendar": council.calendar,
        "acknowledge_escalation_role": council.acknowledgement.escalate_to,
        "acknowledge_escalation_after_days": council.acknowledgement.escalate_after_days,
        "urgent_alert_ack_minutes": council.urgent_alert_ack_minutes,
    }


@lru_cache(maxsize=64)
def calendar_for(spec: CalendarSpec) -> BusinessCalendar:
    """One calendar per spec: building the holiday tables is the expensive part."""
    return BusinessCalendar(spec)


def due_instants(
    standard: ServiceStandard, received_at: datetime, agreed_completion: date | None = None
) -> DueInstants:
    """When acknowledgement and completion fall due, counted from receipt (see the calendar's
    "One rule"); an agreed date replaces the completion target and lands at the close of a
    business day."""
    calendar = calendar_for(standard.calendar)
    acknowledge_by = (
        calendar.add_business_days(received_at, standard.acknowledge_days)
        if standard.acknowledge_days is not None
        else None
    )
    rolled: date | None = None
    if agreed_completion is not None:
        complete_by: datetime | None
        complete_by, business_day = calendar.close_of_business_day(agreed_completion)
        rolled = business_day if business_day != agreed_completion else None
    elif standard.complete_days is not None:
        complete_by = calendar.add_business_days(received_at, standard.complete_days)
    else:
        complete_by = None
    return DueInstants(
        acknowledge_by=acknowledge_by, complete_by=complete_by, agreed_rolled_to=rolled
    )


def deadline_of(spec: CalendarSpec, day: date) -> tuple[datetime, date]:
    """The instant a date-only deadline means (the close of `day`, or of the next business day
    when `day` is not one), and the business day it closes."""
    return calendar_for(spec).close_of_business_day(day)


def date_gone(spec: CalendarSpec, day: date, now: datetime) -> bool:
    """True when a date-only deadline can no longer be met: the date is before the council's
    today, or its business day has closed. A date that is merely not a business day is never
    gone for that: it rolls forward."""
    today = now.astimezone(ZoneInfo(spec.timezone)).date()
    return day < today or deadline_of(spec, day)[0] <= now
