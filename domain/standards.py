"""Service standards: the rules in force for one request, recorded in full when it is lodged.

A `ServiceStandard` is copied into the `Lodged` event, so the due instants of a request
never depend on today's configuration (history is stable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from domain.calendar import BusinessCalendar, CalendarSpec
from domain.council import Category, Council
from domain.values import Channel


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

    def __post_init__(self) -> None:
        # Stored events decode JSON arrays as lists; keep the value hashable and comparable.
        object.__setattr__(self, "escalation_roles", tuple(self.escalation_roles))
        object.__setattr__(self, "escalation_after_days", tuple(self.escalation_after_days))


@dataclass(frozen=True, kw_only=True)
class DueInstants:
    acknowledge_by: datetime | None
    complete_by: datetime | None


def standard_for(
    council: Council, category_code: str, channel: Channel, urgent: bool
) -> ServiceStandard:
    """The standard in force for a new request of this category arriving by this channel."""
    category = council.category(category_code)
    return ServiceStandard(
        category=category.code,
        category_name=category.name,
        team=category.team,
        acknowledge_days=(
            category.acknowledge_days
            if category.acknowledge_days is not None
            else council.acknowledgement.days_for(channel)
        ),
        complete_days=category.complete_days,
        progress_notice_days=(
            category.progress_notice_days
            if category.progress_notice_days is not None
            else council.progress_notice_days
        ),
        at_risk_share=(
            category.at_risk_share
            if category.at_risk_share is not None
            else council.at_risk_share
        ),
        urgent=urgent or category.urgent,
        **_council_rules(council),
    )


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
    }


@lru_cache(maxsize=64)
def calendar_for(spec: CalendarSpec) -> BusinessCalendar:
    """One calendar per spec: building the holiday tables is the expensive part."""
    return BusinessCalendar(spec)


def due_instants(
    standard: ServiceStandard, lodged_at: datetime, agreed_completion: date | None = None
) -> DueInstants:
    """When acknowledgement and completion fall due; an agreed date replaces the target."""
    calendar = calendar_for(standard.calendar)
    acknowledge_by = (
        calendar.add_business_days(lodged_at, standard.acknowledge_days)
        if standard.acknowledge_days is not None
        else None
    )
    if agreed_completion is not None:
        complete_by: datetime | None = close_of_day(standard.calendar, agreed_completion)
    elif standard.complete_days is not None:
        complete_by = calendar.add_business_days(lodged_at, standard.complete_days)
    else:
        complete_by = None
    return DueInstants(acknowledge_by=acknowledge_by, complete_by=complete_by)


def close_of_day(spec: CalendarSpec, day: date) -> datetime:
    """The council's closing instant on `day` (in UTC), the instant a date-only deadline means."""
    local = datetime.combine(day, spec.closes, tzinfo=ZoneInfo(spec.timezone))
    return local.astimezone(UTC)


def business_day_length(spec: CalendarSpec) -> timedelta:
    opens = datetime.combine(date(2000, 1, 1), spec.opens)
    closes = datetime.combine(date(2000, 1, 1), spec.closes)
    return closes - opens

