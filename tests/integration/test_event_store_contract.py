"""One contract for the event store, run on the embedded SQLite and on the real PostgreSQL.

A store that passes it keeps every request's history exactly, orders all events globally,
refuses a stale writer without losing anyone's work, and never issues a reference twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from itertools import pairwise
from typing import Any

import pytest

from commands import requests as cmds
from commands.errors import ConcurrencyConflict
from domain.aggregates.service_request import ServiceRequest
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, Customer, NoteKind, Status
from infra.runtime import Runtime
from tests.conftest import add_staff_to
from tests.fakes import FakeClock, sealed

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")
OTHER = Actor(id="kwong", role="officer")
LIFECYCLE = ["Lodged", "Acknowledged", "Assigned", "NoteAdded", "Delayed", "Escalated", "Closed"]


def lodge(rt: Runtime, category: str = "pothole") -> cmds.Result:
    intake = Intake(
        category=category,
        channel=Channel.PHONE,
        description="Deep pothole",
        customer=Customer(name="Ann Lee", phone="0400 000 000"),
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    )


def on(result: cmds.Result) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": result.reference, "actor": OFFICER}


def a_full_lifecycle(rt: Runtime, clock: FakeClock) -> tuple[cmds.Result, list[int]]:
    """Lodges a request and takes it through every event; returns it and each save's position."""
    add_staff_to(rt, COUNCIL, {"kwong": ["officer"]}, {"kwong": ["roads"]})
    lodged = lodge(rt)
    positions = [lodged.position]
    steps = [
        lambda: cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged)), rt.ports),
        lambda: cmds.assign_request(
            cmds.AssignRequest(**on(lodged), team="roads", officer="kwong"), rt.ports
        ),
        lambda: cmds.add_note(
            cmds.AddNote(
                **on(lodged), text="Inspected", note_kind=NoteKind.OUTGOING, channel=Channel.EMAIL
            ),
            rt.ports,
        ),
        lambda: cmds.delay_request(
            cmds.DelayRequest(
                **on(lodged),
                reason="Asphalt on order",
                until=date(2026, 4, 24),
                awaiting_customer=True,
            ),
            rt.ports,
        ),
        lambda: cmds.escalate_request(
            cmds.EscalateRequest(**on(lodged), reason="Customer complained"), rt.ports
        ),
        lambda: cmds.close_request(
            cmds.CloseRequest(**on(lodged), outcome="completed", text="Patched"), rt.ports
        ),
    ]
    for step in steps:
        clock.advance(hours=5)
        positions.append(step().position)
    return lodged, positions


@pytest.fixture
def rt(any_runtime: Runtime) -> Runtime:
    return any_runtime


@pytest.fixture
def fresh_reader(rt: Runtime) -> Iterator[Runtime]:
    """A second runtime on the same store: nothing cached, everything read back from storage."""
    reader = Runtime(rt.settings, clock=rt.clock)
    yield reader
    reader.close()


def test_a_full_lifecycle_reads_back_event_for_event_from_the_store(
    rt: Runtime, clock: FakeClock, fresh_reader: Runtime
) -> None:
    lodged, _ = a_full_lifecycle(rt, clock)
    written = list(rt.app.repository.event_store.get(lodged.request_id))

    read = list(fresh_reader.app.repository.event_store.get(lodged.request_id))

    assert [type(e).__name__ for e in read] == LIFECYCLE
    assert [e.originator_version for e in read] == list(range(1, 8))
    assert [vars(e) for e in read] == [vars(e) for e in written]


def test_a_full_lifecycle_replays_to_the_same_state(
    rt: Runtime, clock: FakeClock, fresh_reader: Runtime
) -> None:
    lodged, _ = a_full_lifecycle(rt, clock)
    in_memory = rt.ports.get(lodged.request_id, lodged.reference)

    replayed = fresh_reader.ports.get(lodged.request_id, lodged.reference)

    assert replayed.version == 7
    assert replayed.status is Status.CLOSED
    assert (replayed.team, replayed.officer, replayed.level) == ("roads", "kwong", "team-leader")
    assert replayed.acknowledged_at is not None
    assert (replayed.note_count, replayed.delay_count) == (1, 1)
    assert vars(replayed) == vars(in_memory)


def test_global_positions_strictly_increase_in_the_order_events_were_saved(
    rt: Runtime, clock: FakeClock
) -> None:
    first, first_positions = a_full_lifecycle(rt, clock)
    second = lodge(rt, "barking-dog")
    clock.advance(hours=1)
    ack = cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(second)), rt.ports)

    notifications = rt.app.recorder.select_notifications(start=1, limit=100)

    ids = [n.id for n in notifications]
    assert len(ids) == 9
    assert all(a < b for a, b in pairwise(ids))
    assert ids[:7] == first_positions
    assert ids[7:] == [second.position, ack.position]
    assert [n.originator_id for n in notifications] == [first.request_id] * 7 + [
        second.request_id
    ] * 2
    assert [n.originator_version for n in notifications] == [*range(1, 8), 1, 2]
    assert rt.app.recorder.max_notification_id() == ids[-1]


def test_a_stale_writer_gets_a_conflict_and_its_event_is_not_stored(
    rt: Runtime, clock: FakeClock
) -> None:
    lodged = lodge(rt)
    clock.advance(hours=1)
    mine = rt.ports.get(lodged.request_id, lodged.reference)
    theirs = rt.ports.get(lodged.request_id, lodged.reference)
    mine.acknowledge(occurred_at=clock(), actor=OFFICER)
    theirs.add_note(
        text="Rang the customer",
        note_kind=NoteKind.OUTGOING,
        channel=Channel.PHONE,
        occurred_at=clock(),
        actor=OTHER,
    )
    rt.ports.save(mine)
    before = rt.app.recorder.max_notification_id()

    with pytest.raises(ConcurrencyConflict, match=lodged.reference):
        rt.ports.save(theirs)

    assert rt.app.recorder.max_notification_id() == before
    stored = list(rt.app.repository.event_store.get(lodged.request_id))
    assert [type(e).__name__ for e in stored] == ["Lodged", "Acknowledged"]


def test_a_stale_writer_succeeds_after_reloading(rt: Runtime, clock: FakeClock) -> None:
    lodged = lodge(rt)
    clock.advance(hours=1)
    mine = rt.ports.get(lodged.request_id, lodged.reference)
    theirs = rt.ports.get(lodged.request_id, lodged.reference)
    mine.acknowledge(occurred_at=clock(), actor=OFFICER)
    theirs.add_note(
        text="Rang the customer",
        note_kind=NoteKind.OUTGOING,
        channel=None,
        occurred_at=clock(),
        actor=OTHER,
    )
    rt.ports.save(mine)
    with pytest.raises(ConcurrencyConflict):
        rt.ports.save(theirs)

    reloaded = rt.ports.get(lodged.request_id, lodged.reference)
    reloaded.add_note(
        text="Rang the customer",
        note_kind=NoteKind.OUTGOING,
        channel=None,
        occurred_at=clock(),
        actor=OTHER,
    )
    rt.ports.save(reloaded)

    stored = list(rt.app.repository.event_store.get(lodged.request_id))
    assert [type(e).__name__ for e in stored] == ["Lodged", "Acknowledged", "NoteAdded"]
    assert rt.ports.get(lodged.request_id, lodged.reference).acknowledged_at == clock()


def test_a_handler_on_a_stale_aggregate_cache_still_sees_the_latest_version(
    rt: Runtime, clock: FakeClock, fresh_reader: Runtime
) -> None:
    lodged = lodge(rt)
    rt.ports.get(lodged.request_id, lodged.reference)  # now cached in `rt`
    clock.advance(hours=1)
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged)), fresh_reader.ports)

    result = cmds.add_note(cmds.AddNote(**on(lodged), text="Inspected"), rt.ports)

    assert result.version == 3


def test_references_are_never_issued_twice(rt: Runtime) -> None:
    results = [lodge(rt) for _ in range(12)]

    references = [r.reference for r in results]
    assert len(set(references)) == 12
    assert references == [f"UL-2026-{n:06d}" for n in range(1, 13)]
    assert len({r.request_id for r in results}) == 12


def test_the_store_refuses_a_second_request_with_a_reference_already_used(
    rt: Runtime, clock: FakeClock
) -> None:
    first = lodge(rt)
    council = rt.ports.council(COUNCIL)
    intake = Intake(
        category="barking-dog",
        channel=Channel.EMAIL,
        description="Dog",
        customer=Customer(name="Bob", phone="0411 111 111"),
    )
    fields = lodgement_fields(council, intake, first.reference, clock())
    duplicate = ServiceRequest.lodge(occurred_at=clock(), actor=OFFICER, **sealed(fields))
    before = rt.app.recorder.max_notification_id()

    with pytest.raises(ConcurrencyConflict):
        rt.ports.save(duplicate)

    assert rt.app.recorder.max_notification_id() == before
    assert rt.ports.get(first.request_id, first.reference).category == "pothole"
