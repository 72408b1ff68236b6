"""Bad messages on the real servers: valid input never makes an unprojectable event, a parked
event holds the rest of its request until it is retried, no message can stop a consumer, and an
envelope from a newer release waits for the upgrade. Each test ends with `crm projections
verify` exiting 0: nothing lost, nothing applied twice."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from commands import requests as cmds
from consumers.dead_letters import DEAD_LETTERS
from consumers.store_reader import StoreReader
from infra.runtime import Runtime
from projections import envelope as envelope_module
from projections.envelope import Envelope
from projections.work_queue import WorkQueue
from tests.conftest import add_staff_to
from tests.fakes import FakeClock
from tests.integration.kafka_support import (
    ALL_MODELS,
    COUNCIL,
    OFFICER,
    Driver,
    Pipeline,
    stored_offsets,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def produce_raw(pipeline: Pipeline, key: bytes, values: list[bytes | None]) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    try:
        for value in values:
            producer.send(pipeline.config.topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def queue_version(rt: Runtime, request_id: str) -> int | None:
    t = WorkQueue().table
    with rt.read_engine.connect() as conn:
        q = sa.select(t.c.version).where(t.c.request_id == request_id)
        return conn.execute(q).scalar_one_or_none()


def test_an_identifier_longer_than_the_domain_records_is_refused_at_the_cli(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    reference = Driver(rt, clock).lodge().reference
    done = pipeline.crm("assign", reference, "--team", "roads", "--officer", "o" * 200)
    assert done.returncode == 2, done.stderr
    assert "at most 64" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    long_note = pipeline.crm("note", reference, "x" * 4001)
    assert long_note.returncode == 2 and "at most 4000" in long_note.stderr
    history = StoreReader(rt.app).read(0, 100)
    assert [e.event_type for e in history if e.reference == reference] == ["Lodged"]


def test_a_parked_event_holds_its_request_until_retried_after_a_fix(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    held, other = driver.lodge(n=1), driver.lodge(n=2)
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
        # A read-model defect the domain does not know of: the queue refuses one officer.
        with rt.read_engine.begin() as conn:
            conn.execute(
                sa.text(
                    "ALTER TABLE work_queue ADD CONSTRAINT no_poison "
                    "CHECK (officer IS NULL OR officer <> 'o.poison')"
                )
            )
        driver.step(held.reference, 1)  # acknowledged: applied
        add_staff_to(rt, COUNCIL, {"o.poison": ["officer"]}, {"o.poison": ["roads"]})
        poisoned = cmds.AssignRequest(
            council=COUNCIL,
            reference=held.reference,
            actor=OFFICER,
            team="roads",
            officer="o.poison",
        )
        cmds.assign_request(poisoned, rt.ports)  # the queue will refuse it
        driver.step(held.reference, 3)  # a note and a closure behind it
        driver.step(held.reference, 6)
        for step in (1, 2, 3):
            driver.step(other.reference, step)  # another request is not held up
        pipeline.wait_drained(rt)

        request_id = str(held.request_id)
        assert queue_version(rt, request_id) == 2  # lodged + acknowledged, nothing after
        assert queue_version(rt, str(other.request_id)) == 4
        listed = json.loads(pipeline.crm("projections", "dead-letters", "--json").stdout)
        mine = [r for r in listed if r["read_model"] == "work_queue"]
        assert [(r["version"], r["event_type"]) for r in mine] == [
            (3, "Assigned"),
            (4, "NoteAdded"),
            (5, "Closed"),
        ]
        assert "CheckViolation" in mine[0]["reason"] or "no_poison" in mine[0]["reason"]
        assert all("held behind" in r["reason"] for r in mine[1:])
        assert all(r["read_model"] == "work_queue" for r in listed)  # the others applied them
        status = json.loads(pipeline.crm("projections", "status", "--json").stdout)
        queue = status["read_models"]["work_queue"]
        assert (queue["parked_messages"], queue["parked_requests"]) == (3, 1)
        refused = pipeline.crm("projections", "verify", "--timeout", "120")
        assert refused.returncode == 1 and "work_queue: PARKED" in refused.stdout

        with rt.read_engine.begin() as conn:  # the fix
            conn.execute(sa.text("ALTER TABLE work_queue DROP CONSTRAINT no_poison"))
        retried = pipeline.crm("projections", "retry-dead-letters", "work_queue")
        assert retried.returncode == 0, retried.stderr
        assert "work_queue: 3 re-applied, 0 still parked" in retried.stdout
        assert queue_version(rt, request_id) == 5
        driver.step(held.reference, 3)  # and later events of the request flow again
        pipeline.wait_drained(rt)
        assert queue_version(rt, request_id) == 6
    with rt.read_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(DEAD_LETTERS)).scalar() == 0
    pipeline.verify()


def test_no_message_stops_a_consumer_tombstones_and_deep_json_are_parked(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(4, steps=2)
    deep = b"[" * 200_000 + b"]" * 200_000
    wide_actor = Envelope(**{**json.loads(driver_envelope(rt)), "actor": "nobody"}).to_json()
    with pipeline.worker(rt) as worker:
        pipeline.wait_drained(rt)
        produce_raw(pipeline, str(uuid.uuid4()).encode(), [None, deep, b"\x00\xff", wide_actor])
        for reference in references:  # and the stream goes on
            driver.step(reference, 3)
        pipeline.wait_drained(rt)
        assert not worker.failed
        status = json.loads(pipeline.crm("projections", "status", "--json").stdout)
    for name in ALL_MODELS:
        model = status["read_models"][name]
        assert (model["parked_messages"], model["parked_requests"]) == (4, 0), name
    with rt.read_engine.connect() as conn:
        reasons = [
            r.reason
            for r in conn.execute(
                sa.select(DEAD_LETTERS.c.reason)
                .where(DEAD_LETTERS.c.read_model == "work_queue")
                .order_by(DEAD_LETTERS.c.offset)
            )
        ]
    assert "tombstone" in reasons[0]
    assert "RecursionError" in reasons[1]
    assert "not JSON" in reasons[2]
    assert "actor" in reasons[3]
    pipeline.verify()  # messages naming no request do not fail verify


def driver_envelope(rt: Runtime) -> bytes:
    return StoreReader(rt.app).read(0, 1)[0].to_json()


def test_a_newer_schema_version_pauses_the_consumer_until_it_is_upgraded(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = Driver(rt, clock)
    reference = driver.lodge().reference
    driver.step(reference, 1)
    with pipeline.worker(rt) as worker:
        pipeline.wait_drained(rt)
        lodged = StoreReader(rt.app).read(0, 1)[0]
        future = envelope_module.SCHEMA_VERSION + 1
        newer = json.loads(lodged.to_json()) | {"schema_version": future, "future_field": True}
        produce_raw(pipeline, lodged.request_id.encode(), [json.dumps(newer).encode()])
        driver.step(reference, 2)  # behind the newer envelope, in the same partition
        driver.step(reference, 3)
        wait_until(
            lambda: all(getattr(c, "paused", None) is not None for c in worker.consumers.values()),
            60,
            "every consumer to pause before the newer envelope",
        )
        wait_until(
            lambda: (
                worker.relay is not None
                and worker.relay._position is not None
                and worker.relay._position >= (rt.app.recorder.max_notification_id() or 0)
            ),
            60,
            "the relay to publish the later events",
        )
        paused = worker.consumers["work_queue"].paused
        assert paused is not None and paused.schema_version == future
        for name in ALL_MODELS:
            assert stored_offsets(rt, pipeline.config, name)[paused.tp.partition] == paused.offset
        assert queue_version(rt, lodged.request_id) == 2  # the later events wait behind it
        with rt.read_engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(DEAD_LETTERS)).scalar() == 0

        monkeypatch.setattr(envelope_module, "SCHEMA_VERSION", future)  # the upgrade
        monkeypatch.setattr(
            envelope_module, "READABLE_VERSIONS", envelope_module.READABLE_VERSIONS | {future}
        )
        pipeline.wait_drained(rt)
        assert queue_version(rt, lodged.request_id) == 4
    pipeline.verify()
