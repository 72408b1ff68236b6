"""The directory: staff users and customers, in an event store of their own.

Kept apart from the request log (on SQLite the file `directory.sqlite3`; on PostgreSQL the
table `councilcrm_directory_events`) so that their events never reach the request read models
or park on their consumers; they travel on their own topic on the Kafka path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

import domain.aggregates.customer  # noqa: F401 - registers the directory's event topics
from commands.errors import ConcurrencyConflict
from infra.settings import Settings
from infra.store import Clock, ReferenceNumbers, opened, system_clock
from infra.transcodings import register_all

A = TypeVar("A", bound=Aggregate)


class DirectoryApplication(Application[UUID]):
    """The event store of staff users and customers."""

    name = "councilcrm_directory"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)


def open_directory(settings: Settings, **extra_env: str) -> DirectoryApplication:
    env: dict[str, Any] = settings.event_store_env("directory.sqlite3", log="directory")
    env.update(extra_env)
    return opened(lambda: DirectoryApplication(env=env))


class DirectoryPorts:
    """What the user and customer handlers need: load and save aggregates of the directory,
    the clock, and numbers that are never issued twice (customer numbers)."""

    def __init__(
        self, app: DirectoryApplication, numbers: ReferenceNumbers, clock: Clock = system_clock
    ) -> None:
        self.app = app
        self.numbers = numbers
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    def find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate, or None if it was never created."""
        try:
            found: Aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(found, kind):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def save(self, *aggregates: Aggregate) -> None:
        """Commits the aggregates' new events atomically; `ConcurrencyConflict` if another
        writer got there first."""
        try:
            self.app.save(*aggregates)
        except IntegrityError:
            raise ConcurrencyConflict(
                "the record was changed by someone else meanwhile: reload it and try again"
            ) from None

    def next_number(self, scope: str) -> int:
        """The next number of a counter (e.g. a council's customer numbers), never reused."""
        return self.numbers.next_number(scope, 0)

    def ids_of(self, topics: Sequence[str]) -> Iterator[UUID]:
        """The ids of every aggregate with an event of one of `topics` (e.g. the creation
        events of staff users), in the order they were recorded."""
        start, page = 0, 1000
        while True:
            found = self.app.recorder.select_notifications(
                start=start, limit=page, topics=topics, inclusive_of_start=False
            )
            for n in found:
                yield UUID(str(n.originator_id))
            if len(found) < page:
                return
            start = found[-1].id


class HeldUsers(DirectoryPorts):
    """The directory for reading who is acting, request after request (the HTTP sign-in
    check): each aggregate found is held, and found again only when a newer event of it is
    stored — one indexed read of its last version instead of replaying its events each time.
    What it returns is shared: read it, never change or save it."""

    MAX_HELD = 4096

    def __init__(
        self, app: DirectoryApplication, numbers: ReferenceNumbers, clock: Clock = system_clock
    ) -> None:
        super().__init__(app, numbers, clock)
        self._held: dict[UUID, Aggregate] = {}
        self._lock = threading.Lock()

    def find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        last = self.app.recorder.select_events(aggregate_id, desc=True, limit=1)
        if not last:
            return None
        with self._lock:
            held = self._held.get(aggregate_id)
        if held is not None and held.version == last[0].originator_version:
            if not isinstance(held, kind):
                raise TypeError(f"{aggregate_id} is a {type(held).__name__}, not a {kind.__name__}")
            return held
        found = super().find(kind, aggregate_id)
        if found is not None:
            with self._lock:
                if len(self._held) >= self.MAX_HELD:
                    self._held.clear()
                self._held[aggregate_id] = found
        return found
