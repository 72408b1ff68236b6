"""Realistic envelopes for the read models' tests, and a SQLite database to apply them to.

A request is driven through the real `ServiceRequest` aggregate (Upper Lachlan's configuration,
the fake clock set to each step's instant), saved to an in-memory event store and read back by
the store reader: the very envelopes both delivery paths hand the read models. The one thing
pinned is the store's own recording time, which the library takes from the wall clock: it is set
to the instant the event occurred, so expected rows can be written out by hand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from consumers.store_reader import StoreReader
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.council import Council
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, ContactMethod, Customer, NoteKind, NoticeKind
from infra.store import CrmApplication
from projections.base import ReadModel, Row
from projections.envelope import Envelope
from tests.fakes import FakeClock, sealed

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
FIRST = "UL-2026-000001"
SECOND = "UL-2026-000002"
OFFICER = Actor(id="jsmith", role="officer")
LEADER = Actor(id="mbrown", role="team-leader")
ANN = Customer(name="Ann Lee", phone="0400 000 000", preferred_contact=ContactMethod.PHONE)


def sydney(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SYDNEY)


def id_of(reference: str) -> str:
    """The request id the envelopes and rows carry for one of Upper Lachlan's references."""
    return str(request_id(COUNCIL, reference))


def an_intake(**overrides: Any) -> Intake:
    """A pothole reported by phone by a customer who asked to be called back."""
    fields: dict[str, Any] = {
        "category": "pothole",
        "channel": Channel.PHONE,
        "description": "Deep pothole outside 12 Spring St",
        "customer": ANN,
    }
    fields.update(overrides)
    return Intake(**fields)


def pinned(env: Envelope) -> Envelope:
    return dataclasses.replace(env, recorded_at=env.occurred.astimezone(UTC).isoformat())


class EventLog:
    """An in-memory event store and the store reader over it: where the follower reads."""

    def __init__(self, council: Council, clock: FakeClock) -> None:
        self.council = council
        self.clock = clock
        self.app = CrmApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.reader = StoreReader(self.app)

    def lodge(
        self, *, at: datetime, reference: str = FIRST, actor: Actor = OFFICER, **intake: Any
    ) -> Story:
        self.clock.set(at)
        fields = lodgement_fields(self.council, an_intake(**intake), reference, self.clock())
        story = Story(
            self, ServiceRequest.lodge(occurred_at=self.clock(), actor=actor, **sealed(fields))
        )
        return story.saved()

    def envelopes(self, after: int = 0) -> list[Envelope]:
        """Every event recorded after position `after`, in store order."""
        return [pinned(env) for env in self.reader.read(after, 10_000)]

    def close(self) -> None:
        self.app.close()


@dataclass(frozen=True)
class Story:
    """One request: each step runs at its own instant, as `actor`, and is saved at once."""

    log: EventLog
    request: ServiceRequest

    def saved(self) -> Story:
        self.log.app.save(self.request)
        return self

    def at(self, instant: datetime) -> datetime:
        self.log.clock.set(instant)
        return self.log.clock()

    def acknowledge(self, *, at: datetime, actor: Actor = OFFICER) -> Story:
        self.request.acknowledge(occurred_at=self.at(at), actor=actor)
        return self.saved()

    def assign(
        self, *, team: str, officer: str | None = None, at: datetime, actor: Actor = OFFICER
    ) -> Story:
        self.request.assign(team=team, officer=officer, occurred_at=self.at(at), actor=actor)
        return self.saved()

    def note(
        self,
        text: str = "Rang the customer",
        *,
        at: datetime,
        note_kind: NoteKind = NoteKind.OUTGOING,
        channel: Channel | None = Channel.PHONE,
        actor: Actor = OFFICER,
    ) -> Story:
        self.request.add_note(
            text=text, note_kind=note_kind, channel=channel, occurred_at=self.at(at), actor=actor
        )
        return self.saved()

    def delay(
        self,
        *,
        until: date,
        at: datetime,
        reason: str = "Crew away",
        awaiting_customer: bool = False,
        actor: Actor = OFFICER,
    ) -> Story:
        self.request.delay(
            horizon_days=730,
            reason=reason,
            until=until,
            awaiting_customer=awaiting_customer,
            occurred_at=self.at(at),
            actor=actor,
        )
        return self.saved()

    def escalate(
        self,
        *,
        at: datetime,
        level: str | None = None,
        reason: str = "Customer complained",
        actor: Actor = OFFICER,
    ) -> Story:
        self.request.escalate(level=level, reason=reason, occurred_at=self.at(at), actor=actor)
        return self.saved()

    def close(
        self,
        *,
        at: datetime,
        outcome: str = "completed",
        text: str = "Patched",
        actor: Actor = OFFICER,
    ) -> Story:
        self.request.close(
            outcome=outcome,
            text=text,
            outcomes=self.log.council.outcomes.keys(),
            occurred_at=self.at(at),
            actor=actor,
        )
        return self.saved()

    def send_notice(
        self, notice: NoticeKind, *, at: datetime, text: str = "Dear Ann", actor: Actor = OFFICER
    ) -> Story:
        sent = self.request.send_notice(
            notice=notice, text=text, occurred_at=self.at(at), actor=actor
        )
        assert sent, "the customer left a way to reach them"
        return self.saved()


# -- the read-model database ----------------------------------------------------------------


def apply(model: ReadModel, engine: sa.Engine, envelopes: list[Envelope]) -> int:
    """Applies one batch in one transaction, as a delivery path does; creates the tables first."""
    model.create(engine)
    with engine.begin() as conn:
        return model.apply(conn, envelopes)


def rows(model: ReadModel, engine: sa.Engine) -> list[Row]:
    """Every row of the model's one data table, in primary-key order."""
    [table] = model.data_tables
    with engine.connect() as conn:
        query = sa.select(table).order_by(*table.primary_key.columns)
        return [dict(r._mapping) for r in conn.execute(query)]


def only_row(model: ReadModel, engine: sa.Engine) -> Row:
    [row] = rows(model, engine)
    return row
