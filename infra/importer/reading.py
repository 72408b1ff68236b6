"""Reading the CSV and checking every row through the mapping (step 1 of an import).

Guarantees:
- `read_csv` returns the header and every row with the line it starts on, or raises
  `ImportRefused` (empty file, wrong encoding, unreadable CSV).
- `validate` is pure: it reports every bad row with its line number and every reason, and only
  rows without errors become records; their instants keep the order of their texts.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from commands.import_history import HistoricalRequest, problems
from domain.council import Council
from domain.values import Actor, Location, RequestKind
from infra.importer.model import (
    DST_NOTES,
    TIME_FIELDS,
    ImportRefused,
    Mapping,
    Progress,
    RowError,
    Validated,
    _Row,
)
from infra.importer.timestamps import (
    as_written,
    decide_shift,
    order_changes,
    parse_wall,
    shifted,
    shifted_wall,
    wall_kind,
)


def read_csv(
    path: Path, encoding: str = "utf-8-sig"
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
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
        raise ImportRefused(
            f"{path} is not {encoding} text (byte {e.start}, from line {line})"
        ) from None
    except csv.Error as e:
        raise ImportRefused(f"{path}: line {line}: not readable as CSV: {e}") from None
    return header, rows


def _columns_in(mapping: Mapping, header: Sequence[str]) -> dict[str, tuple[str, ...]]:
    present = set(header)
    found = {fld: tuple(c for c in cols if c in present) for fld, cols in mapping.columns.items()}
    missing = [
        f"{fld} ({' or '.join(mapping.columns[fld])})"
        for fld in mapping.required
        if not found.get(fld)
    ]
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
        reasons.append(
            f"unknown status {values.get('status', '')!r} (mapped: {', '.join(mapping.status.map)})"
        )
    closed = (
        status == "closed" if "status" in columns else bool(values.get("closed_at", "").strip())
    )
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


def _float(text: str, what: str, reasons: list[str]) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        reasons.append(f"{what} {text!r} is not a number")
        return None


def _location(
    mapping: Mapping,
    values: dict[str, str],
    reasons: list[str],
    notes: dict[str, list[int]],
    line: int,
) -> Location | None:
    address = values.get("address", "").strip() or None
    lat = _float(values.get("latitude", ""), "latitude", reasons)
    long = _float(values.get("longitude", ""), "longitude", reasons)
    if (
        lat is not None
        and long is not None
        and (round(lat, 4), round(long, 4)) in mapping.placeholder_points
    ):
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
    mapping: Mapping,
    council: Council,
    row: _Row,
    instants: dict[str, datetime],
    reasons: list[str],
    notes: dict[str, list[int]],
) -> HistoricalRequest | None:
    v = row.values
    channel_text = v.get("channel", "")
    channel = mapping.channel.get(channel_text)
    if channel is None:
        reasons.append(
            f"unknown channel {channel_text!r} (mapped: {', '.join(mapping.channel.map)})"
        )
    kind = mapping.kind.get(v.get("kind", ""))
    if kind is None and "kind" in mapping.columns:
        reasons.append(
            f"unknown kind {v.get('kind', '')!r} (mapped: {', '.join(mapping.kind.map)})"
        )
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
    council: Council,
    mapping: Mapping,
    header: Sequence[str],
    rows: Sequence[tuple[int, dict[str, str]]],
    progress: Progress | None = None,
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
    read = shifted if decision.rule == "zone-offset" else as_written
    notes: dict[str, list[int]] = {
        "placeholder point dropped": [],
        "closing instant ignored: the row's status is open": [],
        "closed before lodged (recorded as the source says)": [],
        **{note: [] for note in DST_NOTES.values()},
    }
    records: list[HistoricalRequest] = []
    for i, row in enumerate(good):
        reasons = []
        instants = {f: read(w, zone) for f, w in row.walls.items()}
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
