"""How far ahead a date a user sets as a request's due date may lie: the council's
`due_date_horizon_days` (council configuration), counted in calendar days from the council's
local date at the instant the command is recorded.

A due date is measured in business time (the council's calendar works out every year up to
it), so a date decades ahead would make every view that measures the request do that work.
At the bound a date is accepted; a day past it is refused with `OutOfBounds` (bad input:
nothing is recorded).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.errors import OutOfBounds


def latest_due_date(horizon_days: int, now: datetime, timezone: str) -> date:
    """The last date a user may set as a due date when a command is recorded at `now`."""
    return now.astimezone(ZoneInfo(timezone)).date() + timedelta(days=horizon_days)


def require_within_horizon(
    day: date | None, *, horizon_days: int, now: datetime, timezone: str, what: str
) -> None:
    """`OutOfBounds` for a due date later than `latest_due_date`."""
    if day is None:
        return
    latest = latest_due_date(horizon_days, now, timezone)
    if day > latest:
        raise OutOfBounds(
            f"{what} {day.isoformat()} is too far ahead: the council takes due dates up to "
            f"{horizon_days} days ahead (at the latest {latest.isoformat()})"
        )
