"""The command path's cache of recently saved requests (`StorePorts`), on SQLite and on the real
PostgreSQL: whatever happens to a request after it was cached — a conflicting or refused
command, a change never saved, another process's commands — the next command loads the
request exactly as the store holds it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from commands import requests as cmds
from commands.errors import ConcurrencyConflict
from domain.aggregates.service_request import ServiceRequest
from domain.errors import DomainError
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind
from infra.runtime import Runtime
from tests.conftest import DUE_AHEAD, add_staff_to
from tests.fakes import FakeClock

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")
OTHER = Actor(id="kwong", role="officer")


@pytest.fixture
def writer(any_runtime: Runtime) -> Runtime:
    add_staff_to(any_runtime, COUNCIL, {"kwong": ["officer"]}, {"kwong": ["roads"]})
    return any_runtime


@pytest.fixture
def other(writer: Runtime) -> Iterator[Runtime]:
    """A second process on the same store, with a cache of its own."""
    second = Runtime(writer.settings, clock=writer.clock)
    yield second
    second.close()


def lodge(rt: Runtime) -> cmds.Result:
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description="Deep pothole",
        customer=Customer(name="Ann Lee", phone="0400 000 000"),
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    )


def on(result: cmds.Result, actor: Actor = OFFICER) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": result.reference, "actor": actor}


def stored(rt: Runtime, request_id: UUID) -> dict[str, Any]:
    """The request's state replayed from the store by a runtime with nothing cached."""
    fresh = Runtime(rt.settings, clock=rt.clock)
    try:
        request: ServiceRequest = fresh.app.repository.get(request_id)
        return dict(vars(request))
    finally:
        fresh.close()


def loaded(rt: Runtime, result: cmds.Result) -> dict[str, Any]:
    """What the runtime's next command would start from (its cache, fast-forwarded)."""
    request = rt.ports.get(result.request_id, result.reference)
    state = dict(vars(request))
    rt.ports.save(request)  # nothing new: only puts it back in the cache, as a command would
    return state


def test_a_conflicting_command_leaves_the_cache_as_the_store_is(
    writer: Runtime, other: Runtime, clock: FakeClock
) -> None:
    lodged = lodge(writer)
    mine = writer.ports.get(lodged.request_id, lodged.reference)
    clock.advance(minutes=5)
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged, OTHER)), other.ports)
    mine.acknowledge(occurred_at=clock(), actor=OFFICER)

    with pytest.raises(ConcurrencyConflict):
        writer.ports.save(mine)

    now = loaded(writer, lodged)
    assert now == stored(writer, lodged.request_id)
    assert now["_version"] == 2


def test_a_refused_command_leaves_the_cache_as_the_store_is(
    writer: Runtime, clock: FakeClock
) -> None:
    lodged = lodge(writer)
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged)), writer.ports)
    clock.advance(minutes=5)

    with pytest.raises(DomainError):
        cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged)), writer.ports)
    with pytest.raises(DomainError):
        cmds.close_request(
            cmds.CloseRequest(**on(lodged), outcome="no-such-outcome", text="Done"), writer.ports
        )
    half_done = writer.ports.get(lodged.request_id, lodged.reference)
    half_done.add_note(  # a command that changed the request, then failed before its save
        text="Never saved",
        note_kind=NoteKind.ACTION,
        channel=None,
        occurred_at=clock(),
        actor=OFFICER,
    )

    now = loaded(writer, lodged)
    assert now == stored(writer, lodged.request_id)
    assert (now["_version"], now["note_count"]) == (2, 0)


def test_changing_a_saved_request_afterwards_leaves_the_cache_as_the_store_is(
    writer: Runtime, clock: FakeClock
) -> None:
    lodged = lodge(writer)
    request = writer.ports.get(lodged.request_id, lodged.reference)
    request.acknowledge(occurred_at=clock(), actor=OFFICER)
    writer.ports.save(request)

    clock.advance(minutes=5)
    request.add_note(
        text="Never saved",
        note_kind=NoteKind.ACTION,
        channel=None,
        occurred_at=clock(),
        actor=OFFICER,
    )
    request.delays[99] = ("By hand", clock().date())

    now = loaded(writer, lodged)
    assert now == stored(writer, lodged.request_id)
    assert (now["_version"], now["note_count"], now["delays"]) == (2, 0, {})


def test_two_processes_working_one_request_each_start_from_the_others_last_event(
    writer: Runtime, other: Runtime, clock: FakeClock
) -> None:
    lodged = lodge(writer)
    steps = [
        (writer, lambda o: cmds.AcknowledgeRequest(**o)),
        (other, lambda o: cmds.AssignRequest(**o, team="roads", officer="kwong")),
        (writer, lambda o: cmds.AddNote(**o, text="Inspected")),
        (
            other,
            lambda o: cmds.DelayRequest(**o, reason="Asphalt", until=date.fromisoformat(DUE_AHEAD)),
        ),
        (writer, lambda o: cmds.AddNote(**o, text="Crew booked")),
        (other, lambda o: cmds.EscalateRequest(**o, reason="Late")),
        (writer, lambda o: cmds.CloseRequest(**o, outcome="completed", text="Patched")),
    ]
    versions = []
    for rt, command in steps:
        clock.advance(minutes=5)
        versions.append(cmds.handle(command(on(lodged)), rt.ports).version)

    assert versions == list(range(2, 9))
    assert loaded(writer, lodged) == loaded(other, lodged) == stored(writer, lodged.request_id)
