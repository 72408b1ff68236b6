"""The envelope every reader sees: one stored event, in plain JSON-ready form.

The relay publishes exactly this to Kafka and the in-process follower hands exactly this to
the projections, so both paths share every line of projection code.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum
from typing import Any
from uuid import UUID

from domain.calendar import CalendarSpec

# 2: `Lodged` carries `received_at` and a standard whose calendar records its resolved holidays
# (and the escalation, progress-notice and alert rules); `Escalated` carries `standard` and
# `due`. Version 1 envelopes (events recorded before) still read: every new field has a
# default. A reader older than version 2 parks version 2 envelopes rather than misread them.
# 3: the corrections' events (`Reopened`, `Recategorised`, `LinkedAsDuplicate`,
# `DuplicateAttached`, `Referred`): a reader that does not know them waits for its upgrade
# rather than leave its rows behind the request.
SCHEMA_VERSION = 3
READABLE_VERSIONS = frozenset({1, 2, 3})
BASE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "occurred_at", "actor"}
)
FIELDS = (
    "schema_version",
    "council",
    "position",
    "event_type",
    "request_id",
    "reference",
    "version",
    "occurred_at",
    "recorded_at",
    "actor",
    "data",
)


class EnvelopeError(ValueError):
    """A message is not a valid envelope: it is parked, never applied."""


class NewerSchema(EnvelopeError):
    """The envelope was written by a newer release (`schema_version` above ours): the reader
    waits for its upgrade rather than park it."""

    def __init__(self, version: int) -> None:
        super().__init__(f"schema_version {version} is newer than this reader's {SCHEMA_VERSION}")
        self.version = version


_PLAIN = frozenset({str, int, float, bool})  # exactly these types (an enum may be a str)
_FIELDS: dict[type[Any], tuple[str, ...]] = {}  # a dataclass's field names, per type
# Values decoded once per distinct value and shared by every event that recorded it (the
# store's transcoding keeps one `CalendarSpec` per distinct spec): their plain form is made
# once too, and shared. Keyed by identity, holding the value so that its id is not reused.
_SHARED_TYPES: frozenset[type[Any]] = frozenset({CalendarSpec})
_SHARED: dict[int, tuple[Any, Any]] = {}
_SHARED_SIZE = 64


def to_plain(value: Any) -> Any:
    """JSON-ready form of an event field: enums by value, instants in ISO 8601 with offset.
    A value of a shared type gives the same plain form (never to be changed) each time."""
    kind = type(value)
    if value is None or kind in _PLAIN:  # most values: answered before the checks below
        return value
    if kind in _SHARED_TYPES:
        hit = _SHARED.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        plain = _dataclass_plain(value)
        if len(_SHARED) >= _SHARED_SIZE:
            _SHARED.clear()
        _SHARED[id(value)] = (value, plain)
        return plain
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if kind in _FIELDS or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return _dataclass_plain(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def _dataclass_plain(value: Any) -> dict[str, Any]:
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    return {name: to_plain(getattr(value, name)) for name in names}


def event_type(event: Any) -> str:
    return type(event).__name__


def event_data(event: Any) -> dict[str, Any]:
    """The event's own fields (not the library's bookkeeping, not instant or actor)."""
    return {k: to_plain(v) for k, v in vars(event).items() if k not in BASE_FIELDS}


@dataclass(frozen=True, kw_only=True)
class Envelope:
    schema_version: int
    council: str
    position: int
    event_type: str
    request_id: str
    reference: str
    version: int
    occurred_at: str
    recorded_at: str
    actor: dict[str, str]
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Any, *, position: int, council: str, reference: str) -> Envelope:
        return cls(
            schema_version=SCHEMA_VERSION,
            council=council,
            position=position,
            event_type=event_type(event),
            request_id=str(event.originator_id),
            reference=reference,
            version=event.originator_version,
            occurred_at=event.occurred_at.isoformat(),
            recorded_at=event.timestamp.isoformat(),
            actor={"id": event.actor.id, "role": event.actor.role},
            data=event_data(event),
        )

    def to_json(self) -> bytes:
        # Not dataclasses.asdict: it deep-copies `data`, and this runs once per relayed event.
        return json.dumps({f: getattr(self, f) for f in FIELDS}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> Envelope:
        """The envelope in `raw`, or `EnvelopeError` saying what is wrong with it (whatever
        `raw` holds: a null value, bytes that are not UTF-8, nesting too deep to parse …);
        `NewerSchema` when a newer release wrote it."""
        if raw is None:
            raise EnvelopeError("a null value (a tombstone), not an envelope")
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError, TypeError) as e:
            raise EnvelopeError(f"not JSON: {type(e).__name__}: {str(e)[:200]}") from None
        if not isinstance(doc, dict):
            raise EnvelopeError("not a JSON object")
        missing = [f for f in FIELDS if f not in doc]
        if missing:
            raise EnvelopeError(f"missing fields: {', '.join(missing)}")
        version = doc["schema_version"]
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            raise NewerSchema(version)
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise EnvelopeError(f"unsupported schema_version {version!r}")
        try:
            env = cls(**{f: doc[f] for f in FIELDS})
            datetime.fromisoformat(env.occurred_at)
            datetime.fromisoformat(env.recorded_at)
            UUID(env.request_id)
        except Exception as e:  # noqa: BLE001 - any malformed field is the message's fault
            raise EnvelopeError(f"bad field: {type(e).__name__}: {str(e)[:200]}") from None
        if not isinstance(env.version, int) or not isinstance(env.data, dict):
            raise EnvelopeError("version must be an integer and data an object")
        if not isinstance(env.actor, dict) or not all(
            isinstance(env.actor.get(k), str) for k in ("id", "role")
        ):
            raise EnvelopeError("actor must be an object with an id and a role")
        for name in ("council", "event_type", "reference"):
            if not isinstance(doc[name], str):
                raise EnvelopeError(f"{name} must be a string")
        return env

    @property
    def occurred(self) -> datetime:
        return datetime.fromisoformat(self.occurred_at)
