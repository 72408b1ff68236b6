"""How the domain's value objects are stored: plain JSON the event store can read back exactly."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, time
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.aggregates.customer import Declaration, Restriction
from domain.calendar import CalendarSpec
from domain.standards import ServiceStandard
from domain.values import (
    Actor,
    Channel,
    Conduct,
    ContactMethod,
    Customer,
    Location,
    NoteKind,
    NoticeKind,
    RequestKind,
    Status,
)

ENUMS: tuple[type[Enum], ...] = (
    Channel,
    RequestKind,
    NoteKind,
    ContactMethod,
    Status,
    NoticeKind,
    Conduct,
)
DATACLASSES: tuple[type[Any], ...] = (
    Actor,
    Customer,
    Location,
    ServiceStandard,
    CalendarSpec,
    Declaration,
    Restriction,
)


class CalendarSpecAsPlainJSON(Transcoding):
    """A calendar spec as its own plain JSON (`to_dict`): dates as ISO strings, not one nested
    transcoding each — a recorded calendar carries a few dozen holidays, on every `Lodged`.
    Registered after the field-by-field form, which still decodes what older events hold.

    A council's calendar changes rarely, so nearly every `Lodged` carries one of a handful of
    specs: each distinct spec is decoded once and the (immutable) spec shared by every event
    that recorded it, rather than its few dozen holidays parsed and sorted again per event."""

    type = CalendarSpec
    name = "councilcrm.CalendarSpec.plain"
    CACHE_SIZE = 64

    def __init__(self) -> None:
        self._decoded: dict[str, CalendarSpec] = {}

    def encode(self, obj: CalendarSpec) -> dict[str, object]:
        return obj.to_dict()

    def decode(self, data: dict[str, Any]) -> CalendarSpec:
        key = json.dumps(data, separators=(",", ":"))
        spec = self._decoded.get(key)
        if spec is None:
            spec = CalendarSpec.from_dict(data)
            if len(self._decoded) >= self.CACHE_SIZE:
                self._decoded.clear()
            self._decoded[key] = spec
        return spec


class EnumAsValue(Transcoding):
    """A plain Enum stored as its value under a stable name (not its module path)."""

    def __init__(self, enum_type: type[Enum]) -> None:
        self.type = self.enum_type = enum_type
        self.name = f"councilcrm.{enum_type.__name__}"

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.enum_type(data)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class DataclassAsDict(Transcoding):
    """A frozen dataclass stored as a dict of its fields; JSON arrays come back as tuples."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = f"councilcrm.{cls.__name__}"
        self.fields = tuple(f.name for f in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**{k: _tuples(v) for k, v in data.items() if k in self.fields})


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class TimeAsISO(Transcoding):
    type = time
    name = "time_iso"

    def encode(self, obj: time) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> time:
        return time.fromisoformat(data)


def register_all(transcoder: JSONTranscoder) -> None:
    """Registers every transcoding the service-request events need."""
    transcoder.register(DateAsISO())
    transcoder.register(TimeAsISO())
    for enum_type in ENUMS:
        transcoder.register(EnumAsValue(enum_type))
    for cls in DATACLASSES:
        transcoder.register(DataclassAsDict(cls))
    transcoder.register(CalendarSpecAsPlainJSON())  # encodes from now on; both forms decode
