"""The dates and instants a client gives the HTTP interfaces, as types every route uses.

`Day` and `Instant` are a date and an instant within the calendar's usable span
(`domain.bounds.CALENDAR_SPAN`): anything else is a 422 naming the field (a web form's page
names it too), never a server error from working out UTC or a window of days around it. An
instant without an offset is judged by its reading here; the route that reads it in the
council's local time judges it again once it has one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator

from domain.bounds import CALENDAR_SPAN, within_calendar

_When = TypeVar("_When", date, datetime)


def _within(value: _When) -> _When:
    if not within_calendar(value):
        raise ValueError(f"must lie {CALENDAR_SPAN}")  # the 422's `loc` names the field
    return value


Day = Annotated[date, AfterValidator(_within)]
Instant = Annotated[datetime, AfterValidator(_within)]
