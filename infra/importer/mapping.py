"""Loading and validating a mapping file (the format is documented in `infra.importer`).

Guarantees:
- `load_mapping` / `parse_mapping` return a fully validated `Mapping`, or raise `MappingError`
  naming the file and the offending key; nothing is half-parsed.
- `check_against` raises `MappingError` unless every outcome of the mapping is the council's.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commands.import_history import SYSTEM_ROLE
from domain.council import Council
from domain.values import Actor, Channel, RequestKind, parse_enum
from infra.importer.model import (
    FIELDS,
    SHIFT_RULES,
    STATUSES,
    TIME_FIELDS,
    Detect,
    Mapping,
    MappingError,
    OutcomeRule,
    ValueMap,
)


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
        raise k.fail(
            "timestamps.shift", f"unknown rule {shift!r} (rules: {', '.join(SHIFT_RULES)})"
        )
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
            field=fld,
            pattern=pattern,
            compare_with=compare,
            min_agreement=share,
            formats=tuple(k.get("timestamps.detect.formats", list)),
        )
    rules = []
    for i, rule in enumerate(k.get("outcome.rules", list, [])):
        if (
            not isinstance(rule, dict)
            or not isinstance(rule.get("match"), str)
            or not isinstance(rule.get("outcome"), str)
        ):
            raise k.fail(f"outcome.rules[{i}]", "needs match = REGEX and outcome = CODE")
        rules.append(
            OutcomeRule(
                pattern=k.regex(f"outcome.rules[{i}].match", rule["match"], re.IGNORECASE),
                outcome=rule["outcome"],
            )
        )
    preamble = k.get("outcome.preamble", str, None)
    points = set()
    for i, point in enumerate(k.get("location.placeholder_points", list, [])):
        if not (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, (int, float)) for v in point)
        ):
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
