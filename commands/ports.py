"""What a handler needs from the outside world; `infra` provides it, tests may fake it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

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
