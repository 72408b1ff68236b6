"""The event store (the `eventsourcing` library on SQLite or PostgreSQL) and the handlers' ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    LRUCache,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from commands.errors import ConcurrencyConflict, RequestNotFound
from commands.ports import AlertBoard, Directory, Vault
from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from infra.config import load_council
from infra.settings import Settings
from infra.transcodings import register_all
from projections.tables import create_tables

log = structlog.get_logger("councilcrm.store")
T = TypeVar("T")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class CrmApplication(Application[UUID]):
    """The event store of service requests. Its name pins the PostgreSQL table names
    (`councilcrm_events`); on SQLite the store is its own file."""

    name = "councilcrm"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)


def open_event_store(settings: Settings, **extra_env: str) -> CrmApplication:
    """The application on the store the settings select (the database is chosen by environment)."""
    env: dict[str, Any] = settings.event_store_env(log="requests")
    env.update(extra_env)
    return opened(lambda: CrmApplication(env=env))


def opened(make: Callable[[], T]) -> T:
    """`make()`, once more if it lost the race to create the store's tables: two processes
    starting together on a new PostgreSQL database both run CREATE TABLE IF NOT EXISTS, and the
    later one fails on the catalogue's unique index although the table now exists."""
    try:
        return make()
    except Exception as error:
        causes = f"{error!r} {error.__cause__!r}"
        if "pg_type_typname_nsp_index" not in causes and "already exists" not in causes:
            raise
        return make()


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
_NEXT_REFERENCE_PG = (
    "SET LOCAL synchronous_commit TO OFF; "
    "INSERT INTO crm_reference_counters (council, year, last_issued) VALUES (%(c)s, %(y)s, 1) "
    "ON CONFLICT (council, year) DO UPDATE "
    "SET last_issued = crm_reference_counters.last_issued + 1 RETURNING last_issued"
)


class ReferenceNumbers:
    """Issues `PREFIX-YEAR-NNNNNN` references: one atomic upsert per number, so concurrent
    lodgements never share one, and a number is never reused (a failed lodgement leaves a gap).

    On PostgreSQL the upsert commits without waiting for its WAL flush (`synchronous_commit`
    off for that transaction alone), which spares a lodgement one of its two disk flushes. It
    stays safe: a number is only handed out to be recorded in a `Lodged` event, whose own
    (synchronous) commit flushes the WAL up to and past the counter's commit record — so
    whenever a lodgement is durable, so is its counter. A crash can only forget an increment
    that no durable lodgement used."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        create_tables(REFERENCE_COUNTERS.metadata, engine)

    def next(self, council: Council, at: datetime) -> str:
        year = at.astimezone(ZoneInfo(council.calendar.timezone)).year
        number = self.next_number(council.id, year)
        return f"{council.reference_prefix}-{year}-{number:06d}"

    def next_number(self, scope: str, year: int) -> int:
        """The next number of the counter (`scope`, `year`): 1 for a new counter. On
        PostgreSQL one round trip: the `SET LOCAL` and the upsert sent together, outside an
        explicit transaction, run as one implicit transaction."""
        if self.is_postgres:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                found = conn.exec_driver_sql(_NEXT_REFERENCE_PG, {"c": scope, "y": year})
                pg_number: int = found.scalar_one()
            return pg_number
        with self.engine.begin() as conn:
            number: int = conn.execute(_NEXT_REFERENCE, {"c": scope, "y": year}).scalar_one()
        return number


_IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    Decimal,
    UUID,
    datetime,
    date,
    time,
    timedelta,
    Enum,
)


def _is_value(obj: object) -> bool:
    """Immutable by type: scalars, enums, and frozen dataclasses (the project's value objects)."""
    if isinstance(obj, _IMMUTABLE):
        return True
    params = getattr(type(obj), "__dataclass_params__", None)
    return params is not None and params.frozen and dataclasses.is_dataclass(obj)


_VALUE_TYPES: dict[type, bool] = {}  # type → `_is_value` of its instances (it is the type's)
_SCALAR_TYPES: dict[type, bool] = {}  # type → whether its instances are `_IMMUTABLE` ones


def _is_scalar(value: object) -> bool:
    """Immutable by type without looking inside: scalars and enums (by type, once per type)."""
    kind = type(value)
    found = _SCALAR_TYPES.get(kind)
    if found is None:
        found = _SCALAR_TYPES[kind] = isinstance(value, _IMMUTABLE)
    return found


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    """`deepcopy(value, memo)`, without its cost where none is needed: a scalar is itself; a
    plain dict, list, set or tuple is copied item by item (a tuple of scalars is itself, as
    `deepcopy` leaves it); anything else is `deepcopy`'s. `memo` keeps each container copied
    once, so two references to one list stay two references to one (new) list, as with
    `deepcopy`."""
    if _is_scalar(value):
        return value
    kind = type(value)
    if kind is tuple:
        if all(_SCALAR_TYPES.get(type(v)) for v in value):
            return value
        items = tuple([_copied(v, memo) for v in value])
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind is not dict and kind is not list and kind is not set:
        return deepcopy(value, memo)
    key = id(value)
    if key in memo:
        return memo[key]
    copy: Any
    if kind is dict:
        copy = memo[key] = {}
        for k, v in value.items():
            copy[_copied(k, memo)] = _copied(v, memo)
    elif kind is list:
        copy = memo[key] = []
        copy.extend(_copied(v, memo) for v in value)
    else:
        copy = memo[key] = {_copied(v, memo) for v in value}
    return copy


def private_copy(request: ServiceRequest) -> ServiceRequest:
    """The copy `deepcopy` makes of the request once its immutable values are shared — the
    aggregate's own attributes that are scalars, enums or frozen dataclasses (the recorded
    service standard with its whole calendar, the customer, instants …) — built attribute by
    attribute instead of through `deepcopy`'s generic machinery: every other attribute is
    copied (`_copied`: its containers item by item, anything else by `deepcopy`), so the
    copy shares nothing mutable with the request. About a tenth of `deepcopy`'s cost."""
    kind = type(request)
    copy: ServiceRequest = kind.__new__(kind)
    memo: dict[int, Any] = {id(request): copy}
    state = vars(copy)
    state.update(vars(request))  # every attribute shared, then each not a value copied
    values = _VALUE_TYPES
    for name, value in state.items():
        shared = values.get(type(value))
        if shared is None:
            shared = values[type(value)] = _is_value(value)
        if not shared:
            state[name] = _copied(value, memo)
    return copy


class StorePorts:
    """The handlers' ports over one event store, one clock and the councils' configuration.

    With `cache_size` > 0 it keeps recently saved requests in memory, so a command loads its
    request with one `SELECT` of whatever was recorded since (by anyone, in any process) —
    normally nothing — instead of reading and decoding the whole history. The cache never
    shares an object: `get` takes the request out of the cache (the caller owns it; a second
    caller meanwhile rebuilds its own from the store), and `save` puts back a private copy
    once the new events are committed. A refused or conflicting command leaves nothing in the
    cache, so the next load reads the store afresh. Correctness never rests on the cache: the
    store refuses a version that exists already, which is how a concurrent change surfaces as
    `ConcurrencyConflict`.
    """

    def __init__(
        self,
        app: CrmApplication,
        settings: Settings,
        references: ReferenceNumbers,
        clock: Clock = system_clock,
        cache_size: int = 0,
        *,
        vault: Vault,
        directory: Directory,
        alerts: AlertBoard,
    ) -> None:
        self.vault = vault
        self.directory = directory
        self.alerts = alerts
        self.app = app
        self.settings = settings
        self.references = references
        self.clock = clock
        self._councils: dict[str, Council] = {}
        self._cache: LRUCache[UUID, ServiceRequest] | None = (
            LRUCache(maxsize=cache_size) if cache_size > 0 else None
        )

    def council(self, council_id: str) -> Council:
        if council_id not in self._councils:
            self._councils[council_id] = load_council(self.settings.config_dir, council_id)
        return self._councils[council_id]

    def now(self) -> datetime:
        return self.clock()

    def get(self, request_id: UUID, reference: str) -> ServiceRequest:
        cached: ServiceRequest | None = None
        if self._cache is not None:
            try:
                cached = self._cache.get(request_id, evict=True)
            except KeyError:
                pass
        if cached is not None:
            # Fast-forward: whatever was recorded since it was cached, by anyone.
            newer = self.app.repository.event_store.get(request_id, gt=cached.version)
            current: ServiceRequest | None = project_aggregate(cached, newer)
            if current is None:
                raise RequestNotFound(f"no request {reference}")
            return current
        try:
            request: ServiceRequest = self.app.repository.get(request_id)
        except AggregateNotFoundError:
            raise RequestNotFound(f"no request {reference}") from None
        return request

    def save(self, request: ServiceRequest, *others: ServiceRequest) -> int:
        saved = (request, *others)
        pending = [
            (r, type(e).__name__, e.originator_version, e.actor)
            for r in saved
            for e in r.pending_events
            if isinstance(e, ServiceRequest.Event)
        ]
        try:
            recordings = self.app.save(*saved)
        except IntegrityError:
            raise ConcurrencyConflict(
                f"request {request.reference} was changed by someone else meanwhile: "
                "reload it and try again"
            ) from None
        if self._cache is not None:
            for r in saved:
                self._cache.put(r.id, private_copy(r))
        position = recordings[-1].notification.id if recordings else 0
        for (
            r,
            kind,
            version,
            actor,
        ) in pending:  # what was done, by whom: never a resident's details
            log.info(
                "request_event_recorded",
                council=r.council,
                reference=r.reference,
                event_type=kind,
                version=version,
                position=position,
                actor=actor.id,
                role=actor.role,
            )
        return position

    def record(self, aggregate: Aggregate) -> int:
        try:
            recordings = self.app.save(aggregate)
        except IntegrityError:
            raise ConcurrencyConflict(f"{aggregate.id} was recorded meanwhile: try again") from None
        return recordings[-1].notification.id if recordings else 0

    def next_reference(self, council: Council, at: datetime) -> str:
        return self.references.next(council, at)
