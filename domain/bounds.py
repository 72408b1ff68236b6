"""How long each identifier and free text a request records may be: the one place that says so.

Every value a request's events record is bounded, so that valid input never makes an event a
read model cannot hold (the read models' columns are at least these widths):

- an **identifier** — an officer's or actor's id, an actor's role, a team, an escalation level,
  an outcome code, a category code, a council id or a reference — at most `IDENTIFIER_MAX`
  (64) characters;
- a **label** a council's configuration gives (a category's name) at most `LABEL_MAX` (200);
- **free text** staff type — a note, the reason for a delay or an escalation, the closing
  text — at most `FREE_TEXT_MAX` (4,000) characters once trimmed. The description a resident
  gives has its own, smaller, per-council limit (`description_max_chars`). Text recorded sealed
  (personal data) is bounded before it is sealed.

Every **instant or date** a client gives — an as-at, a period's ends, a new due date, a date
of receipt — lies between 1900 and 9000 (`CALENDAR_SPAN`): near the ends of the calendar
(year 1, year 9999) working out UTC, or a window of days around it, overflows.

A value over its bound is refused with `OutOfBounds` (bad input: nothing is recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from domain.errors import OutOfBounds
from domain.personal import is_sealed

IDENTIFIER_MAX = 64
LABEL_MAX = 200
FREE_TEXT_MAX = 4000

IDENTIFIER_FIELDS = {
    "council": "the council id",
    "reference": "the reference",
    "category": "the category",
    "team": "the team",
    "officer": "the officer's id",
    "previous_team": "the previous team",
    "previous_officer": "the previous officer's id",
    "level": "the escalation level",
    "from_level": "the escalation level",
    "outcome": "the outcome code",
}
FREE_TEXT_FIELDS = {"text": "the text", "reason": "the reason"}

_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
CALENDAR_SPAN = "between 1900 and 9000"


def within_calendar(value: date | datetime) -> bool:
    """Whether a date or instant a client gave lies where UTC and a window of days around it
    can be worked out: near the ends of the calendar (year 1, year 9999) they overflow. An
    instant without an offset is judged by its wall-clock reading, as a date is."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            return _EARLIEST <= value.astimezone(UTC) <= _LATEST
        except OverflowError:
            return False
    day = value.date() if isinstance(value, datetime) else value
    return _EARLIEST.date() <= day <= _LATEST.date()


def require_within_calendar(value: date | datetime | None, what: str) -> None:
    """`OutOfBounds` (bad input) for a date or instant outside `CALENDAR_SPAN`."""
    if value is not None and not within_calendar(value):
        raise OutOfBounds(f"{what} must lie {CALENDAR_SPAN}")


def require_identifier(value: str | None, what: str) -> None:
    if value is not None and len(value) > IDENTIFIER_MAX:
        raise OutOfBounds(
            f"{what} has {len(value)} characters; at most {IDENTIFIER_MAX} are allowed"
        )


def require_label(value: str | None, what: str) -> None:
    if value is not None and len(value) > LABEL_MAX:
        raise OutOfBounds(f"{what} has {len(value)} characters; at most {LABEL_MAX} are allowed")


def require_free_text(value: str | None, what: str) -> None:
    """Plain text over `FREE_TEXT_MAX` (trimmed) is refused; a sealed token was bounded as
    plain text before it was sealed."""
    if value is None or is_sealed(value):
        return
    length = len(value.strip())
    if length > FREE_TEXT_MAX:
        raise OutOfBounds(f"{what} has {length} characters; at most {FREE_TEXT_MAX} are allowed")


def require_event_fields(fields: Mapping[str, Any]) -> None:
    """Checks every bounded field a request event is about to record, and its actor."""
    actor = fields.get("actor")
    if actor is not None:
        require_identifier(actor.id, "the acting user's id")
        require_identifier(actor.role, "the acting role")
    for name, what in IDENTIFIER_FIELDS.items():
        value = fields.get(name)
        if isinstance(value, str):
            require_identifier(value, what)
    for name, what in FREE_TEXT_FIELDS.items():
        value = fields.get(name)
        if isinstance(value, str):
            require_free_text(value, what)
    standard = fields.get("standard")
    if standard is not None:
        require_label(getattr(standard, "category_name", None), "the category's name")
        for role in getattr(standard, "escalation_roles", ()):
            require_identifier(role, "an escalation level")
