"""Retention and disposal: how long a closed request's record is kept before it may be disposed of.

Each category carries a retention class of the council's configuration (`[retention]`), whose
period and citation come from the records authority the council follows (NSW GA39, Victoria's
PROS retention and disposal authorities, WA's General Disposal Authority for Local Government).
The period runs from the day the request was closed (the "action completed" trigger of those
authorities), in the council's own time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True, kw_only=True)
class RetentionClass:
    """A class of the council's disposal authority: keep `years` after the request closed."""

    code: str
    years: int
    citation: str


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def disposal_due(closed_at: datetime, retention: RetentionClass, timezone: str) -> date:
    """The first day the record of a request closed at `closed_at` may be disposed of."""
    closed_on = closed_at.astimezone(ZoneInfo(timezone)).date()
    return add_years(closed_on, retention.years)
