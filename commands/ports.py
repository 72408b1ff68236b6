"""What a handler needs from the outside world; `infra` provides it, tests may fake it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.aggregates.service_request import ServiceRequest
from domain.council import Council


class Ports(Protocol):
    def council(self, council_id: str) -> Council:
        """The council's configuration; KeyError with a clear message if unknown."""

    def now(self) -> datetime:
        """The business instant of the command (tz-aware), from the injected clock."""

    def get(self, request_id: UUID, reference: str) -> ServiceRequest:
        """The request's current state; `RequestNotFound` if it was never lodged."""

    def save(self, request: ServiceRequest) -> int:
        """Commits the request's new events atomically and returns the last global position;
        `ConcurrencyConflict` if another writer got there first."""

    def next_reference(self, council: Council, at: datetime) -> str:
        """A reference number never issued before in this council."""


A = TypeVar("A", bound=Aggregate)


class Directory(Protocol):
    """What the staff-user and customer handlers need: their own event store (apart from the
    request log), the clock, and counters."""

    def now(self) -> datetime:
        """The business instant of the command (tz-aware), from the injected clock."""

    def find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate, or None if it was never created."""

    def save(self, *aggregates: Aggregate) -> None:
        """Commits the new events atomically; `ConcurrencyConflict` if another writer won."""

    def next_number(self, scope: str) -> int:
        """The next number of a counter, never issued before."""

    def ids_of(self, topics: Sequence[str]) -> Iterator[UUID]:
        """The ids of every aggregate with an event of one of `topics`, in recorded order."""
