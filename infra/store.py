"""The event store (the `eventsourcing` library on SQLite or PostgreSQL) and the handlers' ports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from commands.errors import ConcurrencyConflict, RequestNotFound
from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from infra.config import load_council
from infra.settings import Settings
from infra.transcodings import register_all

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class CrmApplication(Application[UUID]):
    """The event store of service requests. The name pins the table names (`councilcrm_events`)."""

    name = "councilcrm"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)


def open_event_store(settings: Settings, **extra_env: str) -> CrmApplication:
    """The application on the store the settings select (the database is chosen by environment)."""
    env: dict[str, Any] = settings.event_store_env()
    env.update(extra_env)
    return CrmApplication(env=env)


REFERENCE_COUNTERS = sa.Table(
    "crm_reference_counters",
    sa.MetaData(),
    sa.Column("council", sa.String(64), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last_issued", sa.Integer, nullable=False),
)

_NEXT_REFERENCE = sa.text(
    "INSERT INTO crm_reference_counters (council, year, last_issued) VALUES (:c, :y, 1) "
    "ON CONFLICT (council, year) DO UPDATE "
    "SET last_issued = crm_reference_counters.last_issued + 1 RETURNING last_issued"
)


class ReferenceNumbers:
    """Issues `PREFIX-YEAR-NNNNNN` references: one atomic upsert per number, so concurrent
    lodgements never share one, and a number is never reused (a failed lodgement leaves a gap)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        REFERENCE_COUNTERS.metadata.create_all(engine)

    def next(self, council: Council, at: datetime) -> str:
        year = at.astimezone(ZoneInfo(council.calendar.timezone)).year
        with self.engine.begin() as conn:
            number = conn.execute(_NEXT_REFERENCE, {"c": council.id, "y": year}).scalar_one()
        return f"{council.reference_prefix}-{year}-{number:06d}"


class StorePorts:
    """The handlers' ports over one event store, one clock and the councils' configuration."""

    def __init__(
        self,
        app: CrmApplication,
        settings: Settings,
        references: ReferenceNumbers,
        clock: Clock = system_clock,
    ) -> None:
        self.app = app
        self.settings = settings
        self.references = references
        self.clock = clock
        self._councils: dict[str, Council] = {}

    def council(self, council_id: str) -> Council:
        if council_id not in self._councils:
            self._councils[council_id] = load_council(self.settings.config_dir, council_id)
        return self._councils[council_id]

    def now(self) -> datetime:
        return self.clock()

    def get(self, request_id: UUID, reference: str) -> ServiceRequest:
        try:
            request: ServiceRequest = self.app.repository.get(request_id)
        except AggregateNotFoundError:
            raise RequestNotFound(f"no request {reference}") from None
        return request

    def save(self, request: ServiceRequest) -> int:
        try:
            recordings = self.app.save(request)
        except IntegrityError:
            raise ConcurrencyConflict(
                f"request {request.reference} was changed by someone else meanwhile: "
                "reload it and try again"
            ) from None
        return recordings[-1].notification.id if recordings else 0

    def next_reference(self, council: Council, at: datetime) -> str:
        return self.references.next(council, at)
