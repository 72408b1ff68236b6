"""Building a read model in bulk (its fold, rows written once with COPY or executemany) gives
exactly the rows the model gets event by event."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from commands import requests as cmds
from consumers import follower, operations
from consumers.store_reader import StoreReader
from domain.lodgement import Intake
from domain.values import Channel, Customer, NoteKind, RequestKind
from infra.runtime import Runtime
from projections import registry
from projections.envelope import Envelope
from tests.fakes import FakeClock
from tests.integration.kafka_support import COUNCIL, OFFICER, Driver

# The models with at least a row for every request (the others pass over most events).
EVERY_REQUEST = {
    "work_queue",
    "request_summary",
    "audit_record",
    "sla",
    "work_queue_history",
    "public_requests",
    "enquiry_statistics",
}
# Characters COPY's text format must escape, and text that looks like its markers.
AWKWARD = "Crew\tbooked \\N back\\slash\nsecond line\r\nend ‘quoted’ — ok"


def make_history(rt: Runtime, clock: FakeClock) -> int:
    """Full lifecycles interleaved, some requests left open, notes with awkward text."""
    driver = Driver(rt, clock)
    references = driver.interleaved(6)
    open_ones = [driver.lodge(n=100 + i).reference for i in range(3)]
    for reference in open_ones[:2]:
        driver.step(reference, 1)
        cmds.add_note(
            cmds.AddNote(
                council=COUNCIL,
                reference=reference,
                actor=OFFICER,
                text=AWKWARD,
                note_kind=NoteKind.ACTION,
            ),
            rt.ports,
        )
    return len(references) + len(open_ones)


def test_each_model_built_in_bulk_equals_the_model_fed_event_by_event(any_runtime: Runtime) -> None:
    rt = any_runtime
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    requests = make_history(rt, clock)
    reader = StoreReader(rt.app)
    head = reader.head()
    live = registry.build_all()
    follower.ensure_tables(rt.read_engine, live)
    follower.catch_up(reader, rt.read_engine, live, batch_size=4)  # `apply`, a few at a time
    for model in live:
        bulk = registry.build(model.name, "bulk_")
        bulk.drop(rt.read_engine)
        bulk.create(rt.read_engine)
        assert operations.build_bulk(reader, rt.read_engine, bulk, until=head) == head
        with rt.read_engine.connect() as conn:
            want, got = model.snapshot(conn), bulk.snapshot(conn)
        assert got == want, model.name
        if model.name in EVERY_REQUEST:
            assert sum(len(rows) for rows in got.values()) >= requests, model.name
        bulk.drop(rt.read_engine)
    with rt.read_engine.connect() as conn:
        table = registry.build("audit_record").table  # type: ignore[attr-defined]
        payloads = conn.execute(sa.select(table.c.payload)).scalars().all()
    assert any("back\\\\slash" in p for p in payloads)  # the awkward note went through


def test_a_bulk_build_up_to_a_position_keeps_only_what_it_is_told(any_runtime: Runtime) -> None:
    rt = any_runtime
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    make_history(rt, clock)
    reader = StoreReader(rt.app)
    until = reader.head() - 5
    model = operations.build_into(
        reader, rt.read_engine, "audit_record", "scratch_", until, keep=lambda env: env.version <= 2
    )
    with rt.read_engine.connect() as conn:
        rows = conn.execute(sa.select(model.table.c.position, model.table.c.version)).all()  # type: ignore[attr-defined]
    assert rows and max(p for p, _ in rows) <= until
    assert {v for _, v in rows} == {1, 2}
    model.drop(rt.read_engine)


class CountingReader(StoreReader):
    """A store reader that counts the events it decodes into envelopes."""

    decoded = 0

    def envelope(self, notification: Any) -> Envelope:
        self.decoded += 1
        return super().envelope(notification)


def test_a_rebuild_decodes_only_the_events_its_model_can_use(any_runtime: Runtime) -> None:
    rt = any_runtime
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    driver = Driver(rt, clock)
    references = driver.interleaved(3, steps=3)  # service requests: lodged, acknowledged …
    complaint = cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            actor=OFFICER,
            intake=Intake(
                category="pothole",
                channel=Channel.PHONE,
                kind=RequestKind.COMPLAINT,
                description="Nobody came about the pothole",
                customer=Customer(name="Jo Citizen", phone="0400 000 000"),
            ),
        ),
        rt.ports,
    )
    for step in (1, 2, 3, 6):
        driver.step(complaint.reference, step)
    reader = StoreReader(rt.app)
    head = reader.head()
    live = [
        registry.build(n)
        for n in ("complaint_register", "enquiry_statistics", "request_attachments", "work_queue")
    ]
    follower.ensure_tables(rt.read_engine, live)
    follower.catch_up(reader, rt.read_engine, live, batch_size=4)
    wanted = {  # the events each model's fold can use, of the store's 3 × 4 + 5
        "complaint_register": 3 + 5,  # every lodgement, and the complaint's own events
        "enquiry_statistics": 4,  # lodgements (and contacts, recategorisations: none here)
        "request_attachments": 0,  # attachments only
        "work_queue": 17,  # every event of every request
    }
    for model in live:
        counting = CountingReader(rt.app)
        bulk = registry.build(model.name, "bulk_")
        bulk.drop(rt.read_engine)
        bulk.create(rt.read_engine)
        assert operations.build_bulk(counting, rt.read_engine, bulk, until=head) == head
        with rt.read_engine.connect() as conn:
            assert bulk.snapshot(conn) == model.snapshot(conn), model.name
        assert counting.decoded == wanted[model.name], model.name
        bulk.drop(rt.read_engine)
    assert len(references) == 3
