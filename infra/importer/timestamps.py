"""Wall-clock readings, the timestamp shift, and the one rule decided per file.

Guarantees (the exact rule is in `infra.importer`'s docstring):
- `as_written`, `shifted_wall`, `shifted` and `wall_kind` are pure (and cached).
- `decide_shift` returns one `ShiftDecision` for the whole file, shifted or as written, never a
  mix; it falls back to "as written" if shifting would change the order of any row's instants,
  and raises `ImportRefused` when the detection evidence cannot decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from domain.bounds import CALENDAR_SPAN, within_calendar
from infra.importer.model import ImportRefused, Mapping, ShiftDecision, _Row


@lru_cache(maxsize=1 << 16)
def as_written(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock reading means in `zone` (fold=0), in UTC."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def shifted_wall(wall: datetime, zone: ZoneInfo) -> datetime:
    """The true wall-clock reading of a value the writer moved back by the zone's UTC offset."""
    return as_written(wall, zone).replace(tzinfo=None)


def shifted(wall: datetime, zone: ZoneInfo) -> datetime:
    return as_written(shifted_wall(wall, zone), zone)


@lru_cache(maxsize=1 << 16)
def wall_kind(wall: datetime, zone: ZoneInfo) -> str:
    """``ok``; ``repeated`` (the hour a fall-back repeats); ``skipped`` (the hour a spring-forward
    skips: no such reading exists)."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return "ok"
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return "repeated" if back == wall else "skipped"


def _sign(delta: float) -> int:
    return (delta > 0) - (delta < 0)


def order_changes(walls: dict[str, datetime], instants: dict[str, datetime]) -> list[str]:
    """The pairs of fields whose instants are not in the order (or equality) of their readings."""
    names = list(walls)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            written = _sign((walls[a] - walls[b]).total_seconds())
            read = _sign((instants[a] - instants[b]).total_seconds())
            if written != read:
                out.append(f"{a} {walls[a]} / {b} {walls[b]}")
    return out


def parse_wall(text: str, formats: Sequence[str]) -> datetime:
    """A wall-clock reading in one of `formats`, within the calendar's usable span (near its
    ends the reading's UTC instant cannot be worked out)."""
    wall = _parsed_wall(text.strip(), formats)
    if not within_calendar(wall):
        raise ValueError(f"{text.strip()!r} does not lie {CALENDAR_SPAN}")
    return wall


def _parsed_wall(text: str, formats: Sequence[str]) -> datetime:
    for fmt in formats:
        if fmt == "%Y-%m-%d %H:%M:%S" and len(text) == 19 and text[10] == " ":
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                continue
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"{text!r} matches none of the formats {', '.join(formats)}")


def _evidence(mapping: Mapping, row: _Row) -> datetime | None:
    detect = mapping.detect
    assert detect is not None
    wall = row.walls.get(detect.compare_with)
    match = detect.pattern.search(row.values.get(detect.field, ""))
    if wall is None or match is None:
        return None
    try:
        return parse_wall(match.group("when"), detect.formats).replace(microsecond=0)
    except ValueError:
        return None


def decide_shift(mapping: Mapping, rows: Sequence[_Row]) -> ShiftDecision:
    """The file's one timestamp rule, with the reason (see the module's docstring)."""
    zone = mapping.zone
    if mapping.shift == "none":
        return ShiftDecision(rule="none", declared="none", reason="the mapping says: as written")
    if mapping.shift == "zone-offset":
        candidate = ShiftDecision(
            rule="zone-offset",
            declared="zone-offset",
            reason="the mapping says: shifted by the zone's UTC offset",
        )
    else:
        assert mapping.detect is not None
        compare = mapping.detect.compare_with
        evidence = agree_shifted = agree_written = 0
        for row in rows:
            seen = _evidence(mapping, row)
            if seen is None:
                continue
            wall = row.walls[compare].replace(microsecond=0)
            evidence += 1
            agree_written += seen == wall
            agree_shifted += seen == shifted_wall(wall, zone).replace(microsecond=0)
        counts = {
            "evidence": evidence,
            "agree_shifted": agree_shifted,
            "agree_as_written": agree_written,
        }
        declared = mapping.shift
        need = mapping.detect.min_agreement
        if evidence == 0:
            return ShiftDecision(
                rule="none",
                declared=declared,
                **counts,
                reason="no row's closing text gives a time to compare: as written",
            )
        if agree_written >= need * evidence and agree_written >= agree_shifted:
            return ShiftDecision(
                rule="none",
                declared=declared,
                **counts,
                reason=f"{agree_written} of {evidence} closing texts give {compare} as written",
            )
        if agree_shifted < need * evidence:
            raise ImportRefused(
                f"the timestamps' reading cannot be decided: of {evidence} closing texts, "
                f"{agree_written} give {compare} as written and {agree_shifted} shifted by the "
                f"UTC offset of {zone.key} (at least {need:.0%} must agree); set "
                'timestamps.shift to "none" or "zone-offset" in a copy of the mapping'
            )
        candidate = ShiftDecision(
            rule="zone-offset",
            declared=declared,
            **counts,
            reason=(
                f"{agree_shifted} of {evidence} closing texts give {compare} moved forward "
                f"by the UTC offset of {zone.key} (4 h or 5 h in Boston)"
            ),
        )
    for row in rows:
        changed = order_changes(row.walls, {f: shifted(w, zone) for f, w in row.walls.items()})
        if changed:
            return ShiftDecision(
                rule="none",
                declared=candidate.declared,
                evidence=candidate.evidence,
                agree_shifted=candidate.agree_shifted,
                agree_as_written=candidate.agree_as_written,
                reason=(
                    f"{candidate.reason}, but shifting would change the order of line "
                    f"{row.line}'s {changed[0]} (a DST change): no shift applied, "
                    "every timestamp read as written"
                ),
            )
    return candidate
