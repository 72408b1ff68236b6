"""Reads the event store's global log (our outbox) as envelopes, in position order."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, find_id_convertor
from eventsourcing.utils import resolve_topic

from projections.envelope import BASE_FIELDS, SCHEMA_VERSION, Envelope, to_plain


class StoreReader:
    """Turns notifications into envelopes; remembers each request's council and reference."""

    def __init__(self, app: Application[UUID], directory_size: int = 100_000) -> None:
        self.app = app
        self._directory: OrderedDict[UUID, tuple[str, str]] = OrderedDict()
        self._directory_size = directory_size

    def head(self) -> int:
        """The last position written to the store (0 when empty)."""
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int) -> list[Envelope]:
        """Up to `limit` envelopes with positions greater than `after`, in order."""
        return [self.envelope(n) for n in self.notifications(after, limit)]

    def notifications(self, after: int, limit: int) -> Sequence[Notification]:
        """Up to `limit` stored events with positions greater than `after`, in order, not yet
        decoded: a reader that needs only some of them decodes those alone (`envelope`)."""
        return self.app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )

    @staticmethod
    def event_type(notification: Notification) -> str:
        """The stored event's type (an envelope's `event_type`), without decoding it."""
        return str(resolve_topic(notification.topic).__name__)

    def has_aggregate(self, originator_id: str) -> bool:
        """True when the store holds events of this aggregate (a request, on the request log)."""
        try:
            key = UUID(originator_id)
        except ValueError:
            return False
        return bool(self.app.recorder.select_events(key, limit=1))

    def envelope(self, notification: Notification) -> Envelope:
        """The stored event as an envelope, decoded straight from its stored state (no domain
        event object): exactly what `envelope_of_event` gives (a test holds them equal)."""
        mapper = self.app.mapper
        if mapper.cipher is not None or mapper.compressor is not None:
            return self.envelope_of_event(notification)
        cls = resolve_topic(notification.topic)
        state: dict[str, Any] = mapper.transcoder.decode(notification.state)
        # The mapper's upcasting, on the state alone.
        from_version = state.pop("class_version", 1)
        while from_version < getattr(cls, "class_version", 1):
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        raw_id = notification.originator_id
        key = find_id_convertor(cls, cast(Hashable, type(raw_id)))(raw_id)
        council, reference = self._identify(key, _names_in(state, cls))
        actor = state["actor"]
        return Envelope(
            schema_version=SCHEMA_VERSION,
            council=council,
            position=notification.id,
            event_type=cls.__name__,
            request_id=str(key),
            reference=reference,
            version=notification.originator_version,
            occurred_at=state["occurred_at"].isoformat(),
            recorded_at=state["timestamp"].isoformat(),
            actor={"id": actor.id, "role": actor.role},
            data={k: to_plain(v) for k, v in state.items() if k not in BASE_FIELDS},
        )

    def envelope_of_event(self, notification: Notification) -> Envelope:
        """The envelope by way of the domain event the library decodes."""
        event: Any = self.app.mapper.to_domain_event(notification)
        council, reference = self._identify(event.originator_id, _names(event))
        return Envelope.of(event, position=notification.id, council=council, reference=reference)

    def _identify(self, key: Any, named: tuple[str, str] | None) -> tuple[str, str]:
        if named is not None:
            found = named
        elif key in self._directory:
            self._directory.move_to_end(key)
            return self._directory[key]
        else:
            created: Any = next(iter(self.app.events.get(key, lte=1)))
            found = _names(created) or ("", str(key))
        self._directory[key] = found
        if len(self._directory) > self._directory_size:
            self._directory.popitem(last=False)
        return found


def _names_in(state: dict[str, Any], cls: type[Any]) -> tuple[str, str] | None:
    """`_names` of an event's decoded state (its class's defaults where the state has none)."""

    def get(name: str) -> Any:
        return state[name] if name in state else getattr(cls, name, None)

    council = get("council")
    name = get("reference") or get("user_id")
    return (council, name) if council is not None and name is not None else None


def _names(event: Any) -> tuple[str, str] | None:
    """The council and the public name an aggregate's creating event gives it: a request's
    or a customer's reference, a staff user's id."""
    council = getattr(event, "council", None)
    name = getattr(event, "reference", None) or getattr(event, "user_id", None)
    return (council, name) if council is not None and name is not None else None
