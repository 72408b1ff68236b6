"""The importer's vocabulary: constants, errors, the parsed mapping and the per-row results.

Guarantees:
- Everything here is plain data (no I/O): a `Mapping` is immutable once parsed, and
  `Mapping.outcome_for` maps a closing text to exactly one outcome (a rule's, else the default).
- `ImportRefused` means nothing of the file was written; its `errors` list every bad row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from commands.import_history import HistoricalRequest
from domain.values import Actor

FIELDS = (
    "reference",
    "lodged_at",
    "complete_by",
    "closed_at",
    "status",
    "category",
    "team",
    "channel",
    "kind",
    "closure",
    "description",
    "address",
    "latitude",
    "longitude",
    "actor",
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
    rule: str  # what was applied: "none" or "zone-offset"
    declared: str  # the mapping's rule
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
