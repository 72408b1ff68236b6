"""What a handler needs from the outside world; `infra` provides it, tests may fake it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from domain.values import Actor


class Ports(Protocol):
    def council(self, council_id: str) -> Council:
        """The council's configuration; KeyError with a clear message if unknown."""

    def now(self) -> datetime:
        """The business instant of the command (tz-aware), from the injected clock."""

    def get(self, request_id: UUID, reference: str) -> ServiceRequest:
        """The request's current state; `RequestNotFound` if it was never lodged."""

    def save(self, request: ServiceRequest, *others: ServiceRequest) -> int:
        """Commits the new events of the request (and of `others`, e.g. a duplicate's original)
        atomically, all or none, and returns the last global position; `ConcurrencyConflict`
        if another writer got there first."""

    def record(self, aggregate: Aggregate) -> int:
        """Commits a new aggregate of the request log other than a request (a contact) and
        returns the last global position; `ConcurrencyConflict` if its id was taken."""

    def next_reference(self, council: Council, at: datetime) -> str:
        """A reference number never issued before in this council."""

    @property
    def vault(self) -> Vault:
        """The data keys that seal residents' personal data."""

    @property
    def directory(self) -> Directory:
        """The customer records (and staff users)."""

    @property
    def alerts(self) -> AlertBoard:
        """Where staff alerts are raised (see `commands/alerts.py`)."""


@dataclass(frozen=True, kw_only=True)
class StaffAlert:
    """An alert to the staff of `role` about a request; `version` is the request's event that
    raised it (an alert passed on keeps its first one), `take_by` when it passes on."""

    council: str
    reference: str
    request_id: UUID
    version: int
    role: str
    reason: str
    raised_at: datetime
    take_by: datetime | None
    recipients: tuple[str, ...]
    emails: tuple[str, ...]


class AlertBoard(Protocol):
    def raise_alert(self, alert: StaffAlert) -> None:
        """Records the alert; idempotent on (request id, version, role)."""

    def take(self, council: str, alert_id: int, actor: Actor, at: datetime) -> dict[str, Any]:
        """Marks an open alert taken by `actor`; `AlertRefused` if unknown or not open."""

    def get(self, council: str, alert_id: int) -> dict[str, Any] | None:
        """The council's alert with this number, or None."""

    def unanswered(self, council: str | None, now: datetime) -> list[dict[str, Any]]:
        """Open alerts whose `take_by` has come, oldest first."""

    def pass_on(self, alert_id: int, at: datetime) -> bool:
        """Marks an open alert passed on; False if someone took it meanwhile."""


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


class Sealer(Protocol):
    def seal(self, text: str | None) -> str | None:
        """The sealed token of `text` (None stays None)."""

    def seal_bytes(self, data: bytes) -> bytes:
        """A file's content, sealed under the same key."""


class Opener(Protocol):
    def open(self, token: str) -> str | None:
        """The plain text of a token; None once its key was destroyed (erased)."""

    def open_bytes(self, blob: bytes) -> bytes | None:
        """Sealed bytes opened; None once their key was destroyed; ValueError if altered."""


class FileStore(Protocol):
    """Where attachments' bytes are kept, by the SHA-256 of the bytes stored."""

    def put(self, blob: bytes) -> str:
        """Stores `blob` (idempotent) and returns its name: its SHA-256, in hex."""

    def discard(self, name: str) -> None:
        """Removes a blob nothing recorded (its attachment was refused or lost a race)."""

    def get(self, name: str) -> bytes:
        """The stored bytes; a `ValueError` if they are missing or no longer hash to their
        name (the store was tampered with)."""


class Vault(Protocol):
    """Data keys kept apart from the events (see `infra/keys.py`)."""

    def sealer(self, key_id: UUID, council: str, at: datetime, *, new: bool = False) -> Sealer:
        """Seals under the key `key_id`, creating it if needed. With `new` the key must not
        exist yet (its id comes from a number never issued before): it is created without a
        look first, and an existing key is never overwritten (an error instead)."""

    def new_customer(
        self,
        key_id: UUID,
        council: str,
        customer: str,
        details: Mapping[str, str | None],
        at: datetime,
    ) -> Sealer:
        """A new customer's key (which must not exist yet) and their index entries for
        `find`, written together; the sealer of the key. The entries are keyed by the
        customer's number, so an erasure reaches them even if the record is never saved."""

    def opener(self) -> Opener:
        """Opens tokens, for one view."""

    def destroy(self, key_id: UUID) -> bool:
        """Destroys the key for good (idempotent); True if there was one."""

    def index(self, council: str, customer: str, details: Mapping[str, str | None]) -> None:
        """Indexes a customer's plain details for `find`, without storing them."""

    def find(self, council: str, field: str, value: str) -> list[str]:
        """The numbers of the customers whose `field` equals `value`."""

    def unindex(self, council: str, customer: str) -> None:
        """Drops the customer's index entries."""

    def holds(self, key_id: UUID, council: str, customer: str) -> bool:
        """True if the key `key_id` or any index entry of the customer exists."""

    def indexed(self, council: str) -> list[str]:
        """The numbers of the council's customers with index entries."""

    def created_at(self, key_id: UUID) -> datetime | None:
        """When the key was created; None if there is none."""

    def pseudonym(self, council: str, customer: str) -> str:
        """A stable id for the customer that says nothing of who they are."""

    def log_access(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Records reads of personal fields (who, whose, when, through what)."""

    def access_log(self, council: str, customer: str) -> list[dict[str, Any]]:
        """The recorded reads of the customer's personal fields, oldest first."""
