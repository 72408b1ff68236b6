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
from infra.held import NotHeld
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
        try:
            return self.held(kind, aggregate_id, last[0].originator_version if last else None)
        except NotHeld:
            pass
        found = super().find(kind, aggregate_id)
        if found is not None:
            with self._lock:
                if len(self._held) >= self.MAX_HELD:
                    self._held.clear()
                self._held[aggregate_id] = found
        return found

    def held(self, kind: type[A], aggregate_id: UUID, last_version: int | None) -> A | None:
        """The aggregate as held, given the version of its last stored event (None: it has
        none, so there is no such aggregate); `NotHeld` if it is not held at that version."""
        if last_version is None:
            return None
        with self._lock:
            held = self._held.get(aggregate_id)
        if held is None or held.version != last_version:
            raise NotHeld(f"{aggregate_id} is not held at version {last_version}")
        if not isinstance(held, kind):
            raise TypeError(f"{aggregate_id} is a {type(held).__name__}, not a {kind.__name__}")
        return held

    def as_read(self, aggregate_id: UUID, last_version: int | None) -> HeldAsRead:
        """The directory as `find` reads it, for the one aggregate whose last stored version
        was read ahead (`infra.http.store_look`): what is held at that version, else
        `NotHeld` (nothing is read)."""
        return HeldAsRead(self, aggregate_id, last_version)


class HeldAsRead(DirectoryPorts):
    """`HeldUsers.as_read`: one aggregate, found as held at the version read ahead (for
    reading who is acting, like `HeldUsers`)."""

    def __init__(self, users: HeldUsers, aggregate_id: UUID, last_version: int | None) -> None:
        super().__init__(users.app, users.numbers, users.clock)
        self._users, self._id, self._version = users, aggregate_id, last_version

    def find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id != self._id:
            raise NotHeld(f"{aggregate_id} was not read ahead")
        return self._users.held(kind, aggregate_id, self._version)
