"""Rebuild and verify on the real servers: a rebuild is built apart and switched in at once (a
failed one leaves the live model serving), and both run while commands keep arriving."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from infra.runtime import Runtime
from projections.work_queue import WorkQueue
from tests.fakes import FakeClock
from tests.integration.kafka_support import (
    ALL_MODELS,
    Driver,
    Feeder,
    Pipeline,
    stored_offsets,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def queue_rows(rt: Runtime) -> list[tuple[str, int]]:
    t = WorkQueue().table
    with rt.read_engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.select(t.c.reference, t.c.version).order_by(t.c.reference))
        ]


def test_a_failed_rebuild_leaves_the_live_model_as_it_was(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    driver.interleaved(12, steps=3)
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
    before, offsets = queue_rows(rt), stored_offsets(rt, pipeline.config, "work_queue")
    assert len(before) == 12
    # An event the store holds but no release can read: the rebuild fails part way.
    with rt.write_engine.begin() as conn:
        bad = conn.execute(
            sa.text(
                "INSERT INTO councilcrm_events (originator_id, originator_version, topic, state) "
                "VALUES (:id, 1, 'councilcrm:NoSuchEvent', :state) RETURNING notification_id"
            ),
            {"id": uuid.uuid4(), "state": b"{}"},
        ).scalar_one()
    failed = pipeline.crm("projections", "rebuild", "work_queue")
    assert failed.returncode != 0
    assert queue_rows(rt) == before  # the live model still serves, untouched
    assert stored_offsets(rt, pipeline.config, "work_queue") == offsets
    with rt.read_engine.connect() as conn:
        leftovers = [n for n in sa.inspect(conn).get_table_names() if n.startswith("next_")]
    assert leftovers == []

    with rt.write_engine.begin() as conn:  # the fix
        conn.execute(
            sa.text("DELETE FROM councilcrm_events WHERE notification_id = :n"), {"n": bad}
        )
    rebuilt = pipeline.crm("projections", "rebuild", "work_queue")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert queue_rows(rt) == before
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
    pipeline.verify()


def test_rebuild_and_verify_while_commands_keep_arriving(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    driver.interleaved(20, steps=3)
    with pipeline.worker(rt) as worker:
        pipeline.wait_drained(rt)
        with Feeder(driver) as feeder:
            feeder.wait_for(20)
            for name in ("work_queue", "sla"):
                rebuilt = pipeline.crm("projections", "rebuild", name)
                assert rebuilt.returncode == 0, rebuilt.stderr
            feeder.wait_for(20)
            checked = pipeline.crm("projections", "verify", "--timeout", "60")
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert checked.stdout.count(": ok") == len(ALL_MODELS), checked.stdout
            feeder.wait_for(20)
        pipeline.wait_drained(rt)
        assert not worker.failed
    pipeline.verify()


def test_a_changed_read_model_definition_is_rebuilt_and_switched_in_at_start(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(8, steps=3)
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
    before = queue_rows(rt)
    with rt.read_engine.begin() as conn:  # rows as an older definition left them
        conn.execute(sa.update(WorkQueue().table).values(last_action="(old definition)"))
    monkeypatch.setattr(WorkQueue, "schema_version", WorkQueue.schema_version + 1)
    with pipeline.worker(rt) as worker:
        for reference in references:
            driver.step(reference, 4)
        pipeline.wait_drained(rt)
        assert worker.consumers["work_queue"].built_from_store == 1
        assert all(
            c.built_from_store == 0 for n, c in worker.consumers.items() if n != "work_queue"
        )
    t = WorkQueue().table
    with rt.read_engine.connect() as conn:
        actions = set(conn.execute(sa.select(t.c.last_action)).scalars())
    assert actions == {"Delayed"} and len(queue_rows(rt)) == len(before)
    pipeline.verify()
