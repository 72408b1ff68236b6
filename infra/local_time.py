"""Instants as people read them, shared by every interface (the CLI's tables, the documents)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local_minute(value: datetime | str, zone: str) -> str:
    """An instant as people read it: the council's local time, to the minute, with the zone's
    abbreviation (2026-03-30 16:30 AEDT). `--json` keeps ISO 8601 with its offset."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:  # stored instants are UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
