"""The record chain on the Kafka path: `crm worker` keeps it for both logs, on its own.

Commands on this path run no catch-up of their own: until the worker's record follower has
begun the chain, nothing is chained (a command chains its own events only onto a chain that
has begun)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from infra.runtime import Runtime
from projections.record_chain import RecordChain
from tests.fakes import FakeClock
from tests.integration.kafka_support import Driver, Pipeline, wait_until


def chained(rt: Runtime) -> dict[str, int]:
    chain = RecordChain()
    chain.create(rt.record_engine)
    with rt.record_engine.connect() as conn:
        return {
            log: (h.position if (h := chain.head(conn, log)) else 0) for log in rt.record_logs()
        }


def heads(rt: Runtime) -> dict[str, int]:
    return {log: app.recorder.max_notification_id() or 0 for log, app in rt.record_logs().items()}


def test_the_worker_chains_both_logs_and_the_record_verifies(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    refs = [driver.lifecycle(n) for n in range(3)]
    assert pipeline.crm("record", "verify").returncode == 0  # adds the staff it acts as
    assert chained(rt) == {"requests": 0, "directory": 0}

    worker = pipeline.spawn("worker")
    try:
        wait_until(lambda: chained(rt) == heads(rt), 120, "the worker to chain both logs")
        driver.step(driver.lodge(n=9).reference, 1)
        wait_until(lambda: chained(rt) == heads(rt), 120, "the worker to chain new events")
        pipeline.wait_drained(rt)
    finally:
        assert worker.stop() == 0
    done = pipeline.crm("record", "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    logs = json.loads(done.stdout)["logs"]
    assert logs["requests"]["event_count"] == heads(rt)["requests"] > 6 * len(refs)
    assert logs["directory"]["not_yet_chained"] == 0
    with rt.record_engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM record_chain")).scalar_one()
    assert count == sum(heads(rt).values())
