"""`crm import`: a CSV export of another system's requests, read through a mapping, becomes history.

Three steps, in this order:
1. **Read and validate the whole file** (`validate`, pure): every row is parsed through the
   mapping and checked against the council; a row that does not parse is reported with its line
   number and every reason. One bad row refuses the file, and then nothing is written.
2. **Decide the timestamp rule once for the file** (`decide_shift`): the same reading for every
   timestamp column of every row — shifted or as written — never a mix.
3. **Write** (`write`): requests in chunks, one `app.save(*aggregates)` (one transaction) per
   chunk, so a crash leaves whole requests only; a request already in the store (same council and
   reference, hence the same aggregate id) is skipped, so a re-run completes an interrupted
   import and a re-import adds nothing.

Mapping files (TOML; `config/mappings/boston311.toml` is an example):

``name``            the source's name; the system actor is ``import:<name>`` unless ``[actor]`` says.
``required``        fields the header must provide (one of their columns), or the file is refused.
``[actor]``         ``id``, ``role`` of the system actor (default ``import:<name>``, ``system``);
                    when the source names officers (the ``actor`` field), each becomes
                    ``Actor(officer, officer_role)`` (default role ``officer``).
``[columns]``       field → list of column names; a row's value is the first non-blank value among
                    those the header has. Fields: reference, lodged_at, complete_by, closed_at,
                    status, category, team, channel, kind, closure, description, address, latitude,
                    longitude, actor.
``[timestamps]``    ``zone`` (IANA name of the wall clock the file is written in), ``formats``
                    (strptime formats tried in order) and ``shift``:
                    ``"none"`` (as written), ``"zone-offset"`` (the file's wall-clock readings were
                    moved back by the zone's UTC offset: the writer read local times as UTC and
                    converted them to local) or ``"detect-from-closure-reason"`` (decide per file
                    from ``[timestamps.detect]``: ``field`` holding a text, ``pattern`` with a
                    ``when`` group, its ``formats``, the timestamp field to ``compare_with``, and
                    ``min_agreement``, the share of evidence that must agree).
``[status]`` ``[channel]`` ``[kind]``  ``map`` of source value → ours, optional ``default``.
``[outcome]``       ``field``, ``preamble`` regex removed before matching, ``rules`` (``match``
                    regex anchored at the start, case-insensitive → ``outcome``), ``default``.
``[location]``      ``placeholder_points``: [lat, long] pairs (compared at 4 decimals) that mean
                    "no known place".

The shift, exactly. A wall-clock reading ``w`` in zone ``Z`` means the instant ``Z(w)``:
``w`` read in ``Z`` with ``fold=0`` (the first of a repeated hour, the offset before the change
for a skipped one). Shifted, it means ``Z(utc_wall(Z(w)))``: the UTC wall clock of ``Z(w)`` is
the true local reading. Both maps are strictly increasing, except near a spring-forward. Across
a fall-back they keep every order: a reading in the repeated hour (or one landing there) is read
as its first occurrence — consistently, so a row's texts keep their order, though within that
hour the source itself cannot say which occurrence it meant. Near a spring-forward a reading in
the skipped hour (or one landing there) comes out after a later reading; so the rule is
checked on every row: if reading a file shifted would change the order, or equality, of any two
instants of one row, the shift is not applied (the report names the row) and the file is read
as written. A row whose own readings cannot keep their order even as written (a wall-clock time
the zone skips) is refused. In every imported row, therefore, ``closed <= due`` holds for the
instants exactly when it holds for the texts.
"""

from __future__ import annotations

import csv
import re
import time as wallclock
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from commands.errors import ConcurrencyConflict
from commands.import_history import (
    SYSTEM_ROLE,
    HistoricalRequest,
    history_of,
    problems,
)
from domain.aggregates.service_request import request_id
from domain.council import Council
from domain.values import Actor, Channel, Location, RequestKind, parse_enum

FIELDS = (
    "reference", "lodged_at", "complete_by", "closed_at", "status", "category", "team",
    "channel", "kind", "closure", "description", "address", "latitude", "longitude", "actor",
)
TIME_FIELDS = ("lodged_at", "complete_by", "closed_at")
SHIFT_RULES = ("none", "zone-offset", "detect-from-closure-reason")
STATUSES = ("open", "closed")
MAX_LISTED_ERRORS = 50
DST_NOTES = {
    "repeated": "a reading in the hour a DST fall-back repeats (read as its first occurrence)",
    "skipped": "a reading in the hour a DST change skips (read with the offset before it)",
}
Progress = Callable[[int, int], None]


class MappingError(ValueError):
    """The mapping file is missing, unreadable, or has a key the importer cannot use."""


class ImportRefused(ValueError):
    """The file was refused: nothing of it was written. `errors` lists every bad row."""

    def __init__(self, message: str, errors: Sequence[RowError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


# -- the mapping ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ValueMap:
    map: dict[str, Any]
    default: Any = None

    def get(self, value: str) -> Any:
        """Ours for the source's value (exact, then trimmed), the default, or None."""
        found = self.map.get(value)
        if found is None:
            found = self.map.get(value.strip())
        return self.default if found is None else found


@dataclass(frozen=True, kw_only=True)
class OutcomeRule:
    pattern: re.Pattern[str]
    outcome: str


@dataclass(frozen=True, kw_only=True)
class Detect:
    field: str
    pattern: re.Pattern[str]
    formats: tuple[str, ...]
    compare_with: str
    min_agreement: float


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """A parsed mapping file."""

    name: str
    path: Path
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    actor: Actor
    actor_role: str
    zone: ZoneInfo
    formats: tuple[str, ...]
    shift: str
    detect: Detect | None
    status: ValueMap
    channel: ValueMap
    kind: ValueMap
    outcome_field: str
    outcome_preamble: re.Pattern[str] | None
    outcome_rules: tuple[OutcomeRule, ...]
    outcome_default: str
    placeholder_points: frozenset[tuple[float, float]]

    def outcome_for(self, text: str) -> str:
        body = self.outcome_preamble.sub("", text, count=1) if self.outcome_preamble else text
        body = body.strip()
        for rule in self.outcome_rules:
            if rule.pattern.match(body):
                return rule.outcome
        return self.outcome_default

    def outcomes(self) -> set[str]:
        return {r.outcome for r in self.outcome_rules} | {self.outcome_default}


class _Keys:
    """Typed reads from the parsed TOML, each error naming the file and the key."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(f"{self.path}: {key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is ...:
                    raise self.fail(key, "is required")
                return default
            node = node[part]
        if not isinstance(node, kind) or (isinstance(node, bool) and kind in (int, float)):
            name = getattr(kind, "__name__", str(kind))
            raise self.fail(key, f"must be {name}, got {node!r}")
        return node

    def regex(self, key: str, text: str, flags: int = 0) -> re.Pattern[str]:
        try:
            return re.compile(text, flags)
        except re.error as e:
            raise self.fail(key, f"not a valid regular expression: {e}") from None


def _value_map(k: _Keys, key: str, parse: Callable[[str], Any], optional: bool = True) -> ValueMap:
    table = k.get(f"{key}.map", dict, {})
    values = {}
    for source, ours in table.items():
        if not isinstance(ours, str):
            raise k.fail(f"{key}.map.{source}", "must be a string")
        try:
            values[source] = parse(ours)
        except ValueError as e:
            raise k.fail(f"{key}.map.{source}", str(e)) from None
    default = k.get(f"{key}.default", str, None)
    if default is not None:
        try:
            default = parse(default)
        except ValueError as e:
            raise k.fail(f"{key}.default", str(e)) from None
    if not values and default is None and not optional:
        raise k.fail(key, "needs a map or a default")
    return ValueMap(map=values, default=default)


def _status(text: str) -> str:
    if text not in STATUSES:
        raise ValueError(f"unknown status {text!r} (accepted: {', '.join(STATUSES)})")
    return text


def parse_mapping(path: Path, data: dict[str, Any]) -> Mapping:
    """A validated `Mapping` from one file's parsed TOML, or `MappingError` naming the key."""
    k = _Keys(path, data)
    name = k.get("name", str)
    columns: dict[str, tuple[str, ...]] = {}
    for fld, names in k.get("columns", dict).items():
        if fld not in FIELDS:
            raise k.fail(f"columns.{fld}", f"unknown field (fields: {', '.join(FIELDS)})")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise k.fail(f"columns.{fld}", "must be a column name or a list of them")
        columns[fld] = tuple(names)
    for fld in ("reference", "lodged_at", "category"):
        if fld not in columns:
            raise k.fail(f"columns.{fld}", "is required")
    required = tuple(k.get("required", list, []))
    for fld in required:
        if fld not in columns:
            raise k.fail("required", f"{fld!r} has no entry in [columns]")
    zone_name = k.get("timestamps.zone", str)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise k.fail("timestamps.zone", f"unknown timezone {zone_name!r}") from None
    formats = tuple(k.get("timestamps.formats", list, ["%Y-%m-%d %H:%M:%S"]))
    shift = k.get("timestamps.shift", str, "none")
    if shift not in SHIFT_RULES:
        raise k.fail("timestamps.shift", f"unknown rule {shift!r} (rules: {', '.join(SHIFT_RULES)})")
    detect = None
    if shift == "detect-from-closure-reason":
        fld = k.get("timestamps.detect.field", str)
        compare = k.get("timestamps.detect.compare_with", str, "closed_at")
        if fld not in columns:
            raise k.fail("timestamps.detect.field", f"{fld!r} has no entry in [columns]")
        if compare not in TIME_FIELDS or compare not in columns:
            raise k.fail("timestamps.detect.compare_with", f"{compare!r} is not a timestamp field")
        pattern = k.regex("timestamps.detect.pattern", k.get("timestamps.detect.pattern", str))
        if "when" not in pattern.groupindex:
            raise k.fail("timestamps.detect.pattern", "needs a group named `when`")
        share = float(k.get("timestamps.detect.min_agreement", (int, float), 0.95))
        if not 0.5 < share <= 1:
            raise k.fail("timestamps.detect.min_agreement", "must be above 0.5 and at most 1")
        detect = Detect(
            field=fld, pattern=pattern, compare_with=compare, min_agreement=share,
            formats=tuple(k.get("timestamps.detect.formats", list)),
        )
    rules = []
    for i, rule in enumerate(k.get("outcome.rules", list, [])):
        if not isinstance(rule, dict) or not isinstance(rule.get("match"), str) \
                or not isinstance(rule.get("outcome"), str):
            raise k.fail(f"outcome.rules[{i}]", "needs match = REGEX and outcome = CODE")
        rules.append(OutcomeRule(
            pattern=k.regex(f"outcome.rules[{i}].match", rule["match"], re.IGNORECASE),
            outcome=rule["outcome"],
        ))
    preamble = k.get("outcome.preamble", str, None)
    points = set()
    for i, point in enumerate(k.get("location.placeholder_points", list, [])):
        if not (isinstance(point, list) and len(point) == 2
                and all(isinstance(v, (int, float)) for v in point)):
            raise k.fail(f"location.placeholder_points[{i}]", "must be [latitude, longitude]")
        points.add((round(float(point[0]), 4), round(float(point[1]), 4)))
    actor_id = k.get("actor.id", str, f"import:{name}")
    return Mapping(
        name=name,
        path=path,
        columns=columns,
        required=required,
        actor=Actor(id=actor_id, role=k.get("actor.role", str, SYSTEM_ROLE)),
        actor_role=k.get("actor.officer_role", str, "officer"),
        zone=zone,
        formats=formats,
        shift=shift,
        detect=detect,
        status=_value_map(k, "status", _status),
        channel=_value_map(k, "channel", lambda v: parse_enum(Channel, v, "channel")),
        kind=_value_map(k, "kind", lambda v: parse_enum(RequestKind, v, "kind")),
        outcome_field=k.get("outcome.field", str, "closure"),
        outcome_preamble=(
            k.regex("outcome.preamble", preamble, re.IGNORECASE) if preamble else None
        ),
        outcome_rules=tuple(rules),
        outcome_default=k.get("outcome.default", str, "completed"),
        placeholder_points=frozenset(points),
    )


def load_mapping(path: Path) -> Mapping:
    if not path.is_file():
        raise MappingError(f"no mapping file at {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise MappingError(f"{path}: not valid TOML: {e}") from None
    return parse_mapping(path, data)


def check_against(mapping: Mapping, council: Council) -> None:
    """The mapping's outcomes must be the council's."""
    unknown = sorted(mapping.outcomes() - set(council.outcomes))
    if unknown:
        raise MappingError(
            f"{mapping.path}: outcome: {', '.join(unknown)} not among council {council.id}'s "
            f"outcomes ({', '.join(council.outcomes)})"
        )


# -- time ---------------------------------------------------------------------------------------


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
    text = text.strip()
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


# -- rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RowError:
    line: int
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.reasons)}"


@dataclass(kw_only=True)
class _Row:
    """A row after the first pass: fields read, timestamps parsed as wall-clock readings."""

    line: int
    values: dict[str, str]
    walls: dict[str, datetime]
    closed: bool


@dataclass(frozen=True, kw_only=True)
class ShiftDecision:
    rule: str                      # what was applied: "none" or "zone-offset"
    declared: str                  # the mapping's rule
    reason: str
    evidence: int = 0
    agree_shifted: int = 0
    agree_as_written: int = 0


@dataclass(kw_only=True)
class Validated:
    """The whole file, checked: `records` to write if `errors` is empty."""

    rows: int
    records: list[HistoricalRequest]
    errors: list[RowError]
    decision: ShiftDecision | None
    notes: list[str] = field(default_factory=list)


def read_csv(path: Path, encoding: str = "utf-8-sig") -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and every row with the line it starts on (a quoted field may span lines)."""
    rows = []
    line = 1
    try:
        with path.open(newline="", encoding=encoding) as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                raise ImportRefused(f"{path} is empty: no header") from None
            line = reader.line_num + 1
            for cells in reader:
                if cells:
                    row = dict(zip(header, cells, strict=False))
                    if len(cells) != len(header):
                        row["__cells__"] = f"{len(cells)} cells where the header has {len(header)}"
                    rows.append((line, row))
                line = reader.line_num + 1
    except UnicodeDecodeError as e:
        raise ImportRefused(f"{path} is not {encoding} text (byte {e.start}, from line {line})"
                            ) from None
    except csv.Error as e:
        raise ImportRefused(f"{path}: line {line}: not readable as CSV: {e}") from None
    return header, rows


def _columns_in(mapping: Mapping, header: Sequence[str]) -> dict[str, tuple[str, ...]]:
    present = set(header)
    found = {fld: tuple(c for c in cols if c in present) for fld, cols in mapping.columns.items()}
    missing = [f"{fld} ({' or '.join(mapping.columns[fld])})"
               for fld in mapping.required if not found.get(fld)]
    if missing:
        raise ImportRefused(f"the header has no column for: {', '.join(missing)}")
    return {fld: cols for fld, cols in found.items() if cols}


def _first_pass(
    mapping: Mapping, columns: dict[str, tuple[str, ...]], line: int, row: dict[str, str]
) -> tuple[_Row, list[str]]:
    reasons: list[str] = []
    if "__cells__" in row:
        reasons.append(row["__cells__"])
    values = {}
    for fld, cols in columns.items():
        values[fld] = next((row[c] for c in cols if row.get(c, "").strip()), "")
    status = mapping.status.get(values.get("status", ""))
    if "status" in columns and status is None:
        reasons.append(f"unknown status {values.get('status', '')!r} "
                       f"(mapped: {', '.join(mapping.status.map)})")
    closed = status == "closed" if "status" in columns else bool(values.get("closed_at", "").strip())
    walls = {}
    for fld in TIME_FIELDS:
        text = values.get(fld, "").strip()
        if not text or (fld == "closed_at" and not closed):
            continue
        try:
            walls[fld] = parse_wall(text, mapping.formats)
        except ValueError as e:
            reasons.append(f"{fld}: {e}")
    if "lodged_at" not in walls and not any(r.startswith("lodged_at") for r in reasons):
        reasons.append("no lodgement instant")
    if closed and "closed_at" not in walls and not any(r.startswith("closed_at") for r in reasons):
        reasons.append("closed, but with no closing instant")
    return _Row(line=line, values=values, walls=walls, closed=closed), reasons


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
            rule="zone-offset", declared="zone-offset",
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
        counts = {"evidence": evidence, "agree_shifted": agree_shifted,
                  "agree_as_written": agree_written}
        declared = mapping.shift
        need = mapping.detect.min_agreement
        if evidence == 0:
            return ShiftDecision(rule="none", declared=declared, **counts,
                                 reason="no row's closing text gives a time to compare: as written")
        if agree_written >= need * evidence and agree_written >= agree_shifted:
            return ShiftDecision(
                rule="none", declared=declared, **counts,
                reason=f"{agree_written} of {evidence} closing texts give {compare} as written",
            )
        if agree_shifted < need * evidence:
            raise ImportRefused(
                f"the timestamps' reading cannot be decided: of {evidence} closing texts, "
                f"{agree_written} give {compare} as written and {agree_shifted} shifted by the "
                f"UTC offset of {zone.key} (at least {need:.0%} must agree); set "
                "timestamps.shift to \"none\" or \"zone-offset\" in a copy of the mapping"
            )
        candidate = ShiftDecision(
            rule="zone-offset", declared=declared, **counts,
            reason=(f"{agree_shifted} of {evidence} closing texts give {compare} moved forward "
                    f"by the UTC offset of {zone.key} (4 h or 5 h in Boston)"),
        )
    for row in rows:
        changed = order_changes(row.walls, {f: shifted(w, zone) for f, w in row.walls.items()})
        if changed:
            return ShiftDecision(
                rule="none", declared=candidate.declared, evidence=candidate.evidence,
                agree_shifted=candidate.agree_shifted, agree_as_written=candidate.agree_as_written,
                reason=(f"{candidate.reason}, but shifting would change the order of line "
                        f"{row.line}'s {changed[0]} (a DST change): no shift applied, "
                        "every timestamp read as written"),
            )
    return candidate


def _float(text: str, what: str, reasons: list[str]) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        reasons.append(f"{what} {text!r} is not a number")
        return None


def _location(mapping: Mapping, values: dict[str, str], reasons: list[str],
              notes: dict[str, list[int]], line: int) -> Location | None:
    address = values.get("address", "").strip() or None
    lat = _float(values.get("latitude", ""), "latitude", reasons)
    long = _float(values.get("longitude", ""), "longitude", reasons)
    if lat is not None and long is not None and (round(lat, 4), round(long, 4)) in \
            mapping.placeholder_points:
        lat = long = None
        notes["placeholder point dropped"].append(line)
    if address is None and lat is None and long is None:
        return None
    try:
        return Location(address=address, lat=lat, long=long)
    except ValueError as e:
        reasons.append(str(e))
        return None


def _record(
    mapping: Mapping, council: Council, row: _Row, instants: dict[str, datetime],
    reasons: list[str], notes: dict[str, list[int]],
) -> HistoricalRequest | None:
    v = row.values
    channel_text = v.get("channel", "")
    channel = mapping.channel.get(channel_text)
    if channel is None:
        reasons.append(f"unknown channel {channel_text!r} (mapped: {', '.join(mapping.channel.map)})")
    kind = mapping.kind.get(v.get("kind", ""))
    if kind is None and "kind" in mapping.columns:
        reasons.append(f"unknown kind {v.get('kind', '')!r} (mapped: {', '.join(mapping.kind.map)})")
    kind = kind or RequestKind.SERVICE_REQUEST
    location = _location(mapping, v, reasons, notes, row.line)
    closure = v.get(mapping.outcome_field, "") if row.closed else ""
    officer = v.get("actor", "").strip()
    actor = Actor(id=officer, role=mapping.actor_role) if officer else mapping.actor
    if not row.closed and v.get("closed_at", "").strip():
        notes["closing instant ignored: the row's status is open"].append(row.line)
    if row.closed and instants["closed_at"] < instants["lodged_at"]:
        notes["closed before lodged (recorded as the source says)"].append(row.line)
    if reasons:
        return None
    category = v.get("category", "")
    record = HistoricalRequest(
        line=row.line,
        reference=v.get("reference", "").strip(),
        lodged_at=instants["lodged_at"],
        complete_by=instants.get("complete_by"),
        closed_at=instants.get("closed_at") if row.closed else None,
        outcome=mapping.outcome_for(closure) if row.closed else None,
        closing_text=closure.strip() if row.closed else None,
        category_name=category,
        team=v.get("team", "").strip() or None,
        channel=channel,
        kind=kind,
        description=v.get("description", "").strip() or category.strip(),
        location=location,
        lodged_by=actor,
        closed_by=actor if row.closed else None,
    )
    reasons.extend(problems(council, record))
    return None if reasons else record


def validate(
    council: Council, mapping: Mapping, header: Sequence[str],
    rows: Sequence[tuple[int, dict[str, str]]], progress: Progress | None = None,
) -> Validated:
    """Every row parsed and checked; pure (the caller read the file)."""
    columns = _columns_in(mapping, header)
    errors: dict[int, list[str]] = {}
    firsts: list[_Row] = []
    seen: dict[str, int] = {}
    for line, raw in rows:
        row, reasons = _first_pass(mapping, columns, line, raw)
        ref = row.values.get("reference", "").strip().upper()
        if not ref:
            reasons.append("no reference")
        elif ref in seen:
            reasons.append(f"reference {ref} is already on line {seen[ref]}")
        else:
            seen[ref] = line
        if reasons:
            errors[line] = reasons
        firsts.append(row)
    good = [r for r in firsts if r.line not in errors]
    decision = decide_shift(mapping, good)
    zone = mapping.zone
    read = (lambda w: shifted(w, zone)) if decision.rule == "zone-offset" else (
        lambda w: as_written(w, zone))
    notes: dict[str, list[int]] = {
        "placeholder point dropped": [],
        "closing instant ignored: the row's status is open": [],
        "closed before lodged (recorded as the source says)": [],
        **{note: [] for note in DST_NOTES.values()},
    }
    records: list[HistoricalRequest] = []
    for i, row in enumerate(good):
        reasons = []
        instants = {f: read(w) for f, w in row.walls.items()}
        kinds = {wall_kind(w, zone) for w in row.walls.values()}
        if decision.rule == "zone-offset":
            kinds |= {wall_kind(shifted_wall(w, zone), zone) for w in row.walls.values()}
        for kind in sorted(kinds - {"ok"}):
            notes[DST_NOTES[kind]].append(row.line)
        changed = order_changes(row.walls, instants)
        if changed:
            reasons.append(f"its instants would not keep the order of its texts ({changed[0]})")
        record = None if reasons else _record(mapping, council, row, instants, reasons, notes)
        if reasons:
            errors[row.line] = errors.get(row.line, []) + reasons
        elif record is not None:
            records.append(record)
        if progress and (i % 1000 == 999 or i == len(good) - 1):
            progress(i + 1, len(good))
    return Validated(
        rows=len(rows),
        records=records,
        errors=[RowError(line=n, reasons=tuple(r)) for n, r in sorted(errors.items())],
        decision=decision,
        notes=[_note(what, lines) for what, lines in notes.items() if lines],
    )


def _note(what: str, lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
    return f"{len(lines)} × {what} (line{'s' if len(lines) > 1 else ''} {shown})"


# -- writing ----------------------------------------------------------------------------------------


def _chunks(items: Sequence[HistoricalRequest], size: int) -> Iterator[Sequence[HistoricalRequest]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def recorded(app: Application[UUID], ids: Iterable[UUID]) -> set[UUID]:
    """Which of these requests the store already has."""
    return {i for i in ids if app.recorder.select_events(i, limit=1)}


def write(
    app: Application[UUID], council: Council, records: Sequence[HistoricalRequest],
    chunk: int = 500, progress: Progress | None = None,
) -> tuple[int, int]:
    """Saves the records' requests, `chunk` per transaction; returns (written, already there).

    A chunk is first saved whole (the common case: none of it is there yet). If the store
    refuses it because some request exists (a re-import, a re-run after a crash, another
    import at the same time), the chunk's existing requests are looked up and the rest saved."""
    written = skipped = done = 0
    for part in _chunks(records, chunk):
        pending = list(part)
        for _attempt in range(3):
            try:
                if pending:
                    app.save(*(history_of(council, r) for r in pending))
                break
            except IntegrityError:
                there = recorded(app, (request_id(council.id, r.reference) for r in pending))
                skipped += sum(1 for r in pending if request_id(council.id, r.reference) in there)
                pending = [r for r in pending if request_id(council.id, r.reference) not in there]
        else:
            raise ConcurrencyConflict(
                "the store kept refusing a chunk of requests another writer was adding: "
                "run the import again (what is there is skipped)"
            )
        written += len(pending)
        done += len(part)
        if progress:
            progress(done, len(records))
    return written, skipped


@dataclass(kw_only=True)
class ImportReport:
    file: str
    mapping: str
    council: str
    rows: int
    written: int
    skipped: int
    closed: int
    open: int
    timestamps: dict[str, Any]
    notes: list[str]
    seconds: float
    dry_run: bool = False

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def import_file(
    app: Application[UUID], council: Council, mapping: Mapping, path: Path, *,
    chunk: int = 500, dry_run: bool = False,
    progress: Callable[[str], Progress | None] = lambda what: None,
) -> ImportReport:
    """Reads, validates (refusing the file on any bad row, with nothing written), then writes."""
    started = wallclock.perf_counter()
    check_against(mapping, council)
    header, rows = read_csv(path)
    checked = validate(council, mapping, header, rows, progress=progress(f"validate {path.name}"))
    if checked.errors:
        n = len(checked.errors)
        raise ImportRefused(
            f"{path}: {n} row{'s' if n > 1 else ''} cannot be imported; nothing was written",
            checked.errors,
        )
    written = skipped = 0
    if not dry_run:
        written, skipped = write(app, council, checked.records, chunk,
                                 progress=progress(f"import {path.name}"))
    d = checked.decision
    closed = sum(1 for r in checked.records if r.closed)
    return ImportReport(
        file=str(path), mapping=str(mapping.path), council=council.id, rows=checked.rows,
        written=written, skipped=skipped, closed=closed, open=len(checked.records) - closed,
        timestamps={
            "zone": mapping.zone.key, "declared": d.declared if d else mapping.shift,
            "applied": d.rule if d else "none", "reason": d.reason if d else "",
            "evidence": d.evidence if d else 0,
            "agree_shifted": d.agree_shifted if d else 0,
            "agree_as_written": d.agree_as_written if d else 0,
        },
        notes=checked.notes, seconds=wallclock.perf_counter() - started, dry_run=dry_run,
    )

