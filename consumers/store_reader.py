"""Reads the event store's global log (our outbox) as envelopes, in position order."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from projections.envelope import Envelope


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
        notifications: Sequence[Notification] = self.app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [self.envelope(n) for n in notifications]

    def has_aggregate(self, originator_id: str) -> bool:
        """True when the store holds events of this aggregate (a request, on the request log)."""
        try:
            key = UUID(originator_id)
        except ValueError:
            return False
        return bool(self.app.recorder.select_events(key, limit=1))

    def envelope(self, notification: Notification) -> Envelope:
        event: Any = self.app.mapper.to_domain_event(notification)
        council, reference = self._identify(event)
        return Envelope.of(event, position=notification.id, council=council, reference=reference)

    def _identify(self, event: Any) -> tuple[str, str]:
        key = event.originator_id
        named = _names(event)
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


def _names(event: Any) -> tuple[str, str] | None:
    """The council and the public name an aggregate's creating event gives it: a request's
    or a customer's reference, a staff user's id."""
    council = getattr(event, "council", None)
    name = getattr(event, "reference", None) or getattr(event, "user_id", None)
    return (council, name) if council is not None and name is not None else None
