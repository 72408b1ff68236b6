"""Crashes and bad input on the real servers. Each test ends with `crm projections verify`
exiting 0: every event reached every read model once in effect, none lost, none applied twice.

The broker and PostgreSQL are shared by the whole run: the restart tests bring their server
back up in a `finally`, whatever happens.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer

from consumers.kafka_common import KafkaConfig, ensure_topic
from consumers.kafka_consumer import DEAD_LETTERS, EXIT_AFTER_DB_COMMIT_VAR
from consumers.relay import CHECKPOINTS, read_checkpoint
from consumers.store_reader import StoreReader
from infra import services
from infra.runtime import Runtime
from infra.services import scratch
from projections.envelope import Envelope
from projections.request_summary import RequestSummary, by_reference
from projections.work_queue import WorkQueue
from tests.fakes import FakeClock
from tests.integration.kafka_support import (
    ALL_MODELS,
    COUNCIL,
    Child,
    Driver,
    Feeder,
    Pipeline,
    committed_offsets,
    stored_offsets,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def runs_here(service: str, address: str) -> bool:
    """True when the server at ``address`` is this checkout's own (``infra.services``), the only
    kind a test may stop and start again."""
    report = services.status()[service]
    return bool(report["running"]) and report["address"] == address


def pg_address(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.hostname}:{parts.port}"


def relayed_events(rt: Runtime, topic: str) -> int:
    """How many stored events the relay's checkpoint covers (positions have gaps)."""
    checkpoint = read_checkpoint(rt.write_engine, topic)
    with rt.write_engine.connect() as conn:
        q = "SELECT count(*) FROM councilcrm_events WHERE notification_id <= :c"
        return conn.execute(sa.text(q), {"c": checkpoint}).scalar_one()


def kill_mid_batch(pipeline: Pipeline, rt: Runtime) -> Child:
    """Starts `crm relay` while the test holds a lock that stalls its checkpoint write, and
    SIGKILLs it as soon as the broker has acknowledged some of its first batch: sent, but not
    checkpointed."""
    CHECKPOINTS.metadata.create_all(rt.write_engine)
    with rt.write_engine.connect() as blocker:
        blocker.execute(sa.text("LOCK TABLE relay_checkpoint IN EXCLUSIVE MODE"))
        relay = pipeline.spawn("relay", "--batch-size", "400")
        wait_until(lambda: pipeline.published() > 0, 60, "the relay's first acknowledged sends")
        relay.kill()
        # Its checkpoint statement, stalled behind the lock, dies with it: the server ends the
        # dead process's sessions (as it would once their keepalives gave up) before the lock
        # is released, or the statement would still run, and commit.
        blocker.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE relation = 'relay_checkpoint'::regclass AND NOT granted"
            )
        )
        blocker.rollback()
    return relay


def test_relay_killed_mid_batch_resends_and_nothing_is_lost_or_doubled(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    driver.interleaved(150, steps=4)  # 750 events in the store before the relay starts
    head = rt.app.recorder.max_notification_id()
    with pipeline.worker(rt, relay=False):
        relay = kill_mid_batch(pipeline, rt)
        assert relay.proc.returncode == -signal.SIGKILL
        assert relayed_events(rt, pipeline.config.topic) == 0 < pipeline.published()

        driver.lifecycle(1000)  # the store moves on while the relay is down
        relay = pipeline.spawn("relay", "--batch-size", "400")
        pipeline.wait_drained(rt)
        assert relay.stop() == 0  # SIGTERM: a clean stop
    assert head is not None
    assert pipeline.published() > head + 7  # what was sent but not checkpointed went again
    pipeline.verify()


def test_consumer_killed_between_db_commit_and_kafka_commit(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    driver.interleaved(20, steps=3)
    others = [n for n in ALL_MODELS if n != "work_queue"]
    with pipeline.worker(rt, names=others):
        pipeline.wait_drained(rt, names=others)
        victim = pipeline.spawn("consume", "work_queue", env={EXIT_AFTER_DB_COMMIT_VAR: "1"})
        assert victim.proc.wait(120) == 70  # it left right after its first DB commit
        stored = stored_offsets(rt, pipeline.config, "work_queue")
        assert sum(stored.values()) > 0
        assert committed_offsets(pipeline.config, "work_queue") == {}  # Kafka never heard of it

        for reference in driver.interleaved(5, steps=2):
            driver.step(reference, 3)
        survivor = pipeline.spawn("consume", "work_queue")
        pipeline.wait_drained(rt)
        assert survivor.stop() == 0
    seeks = [e["offsets"] for e in survivor.logs() if e.get("event") == "partitions_assigned"]
    assert seeks and isinstance(seeks[0], dict), "the restarted consumer logged no assignment"
    resumed = {int(p): o for p, o in seeks[0].items()}
    assert all(resumed.get(p) == o for p, o in stored.items() if p in resumed)
    committed = committed_offsets(pipeline.config, "work_queue")
    final = stored_offsets(rt, pipeline.config, "work_queue")
    assert committed and all(offset <= final[p] for p, offset in committed.items())
    pipeline.verify()


def test_broker_restart_while_commands_keep_arriving(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    if not runs_here("kafka", pipeline.bootstrap):
        pytest.skip("the broker under test is not this checkout's own: it may not be restarted")
    driver = Driver(rt, clock)
    with pipeline.worker(rt):
        with Feeder(driver) as feeder:
            feeder.wait_for(20)
            pipeline.wait_caught_up(rt)
            try:
                services.kafka_down()
                feeder.wait_for(40)  # officers keep working while the broker is away
            finally:
                services.kafka_up()
            feeder.wait_for(40)
        pipeline.wait_drained(rt, timeout_s=180)
    pipeline.verify()


@pytest.fixture
def own_database(pg_server_url: str) -> Iterator[str]:
    """A fresh database whose teardown opens its own connection (the server restarts meanwhile,
    so no connection may be held across the test)."""
    restartable = runs_here("postgres", pg_address(pg_server_url))
    name = scratch.create_database(pg_server_url, "t")
    try:
        yield scratch.database_url(pg_server_url, name)
    finally:
        if restartable:
            services.postgres_up()
        scratch.drop_database(pg_server_url, name)


def rebalance(config: KafkaConfig, group: str) -> None:
    """Another member joins the consumer's group (taking partitions from it), then leaves."""
    intruder = KafkaConsumer(
        bootstrap_servers=config.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=6_000,
    )
    try:
        intruder.subscribe([config.topic])
        wait_until(
            lambda: bool(intruder.poll(timeout_ms=100) is not None and intruder.assignment()),
            60,
            "the intruder's partitions",
        )
    finally:
        intruder.close(autocommit=False)


def test_postgres_restart_under_the_consumers(
    own_database: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    clock: FakeClock,
    pg_server_url: str,
) -> None:
    if not runs_here("postgres", pg_address(pg_server_url)):
        pytest.skip("the PostgreSQL under test is not this checkout's own: it may not be restarted")
    pipeline = Pipeline(own_database, kafka_bootstrap, tmp_path / "data")
    rt = pipeline.runtime(clock)
    try:
        driver = Driver(rt, clock)
        with pipeline.worker(rt) as worker:
            driver.interleaved(10, steps=2)
            pipeline.wait_drained(rt)
            (message,) = [m for m in pipeline.read_topic() if m[1] == 0][:1]
            queue = worker.consumers["work_queue"]
            try:
                services.postgres_down()
                # The read models' group rebalances while their stored offsets cannot be read.
                rebalance(pipeline.config, pipeline.config.models_group(ALL_MODELS))
                wait_until(lambda: queue.deferred_seeks > 0, 60, "a deferred seek")
                # Work for the consumers while their database is away: a redelivered event.
                pipeline.produce(message[2] or b"", message[3])
                others = [c for name, c in worker.consumers.items() if name != "work_queue"]
                wait_until(
                    lambda: all(c.retries > 0 for c in others),
                    60,
                    "every other consumer to meet the outage",
                )
            finally:
                services.postgres_up()
            driver.interleaved(10, steps=3)
            pipeline.wait_drained(rt, timeout_s=180)
        pipeline.verify()
    finally:
        rt.close()
        pipeline.cleanup()


def test_duplicate_and_malformed_messages(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(8, steps=3)
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
        topic = pipeline.read_topic()
        note = next(m for m in topic if json.loads(m[3])["event_type"] == "NoteAdded")
        pipeline.produce(note[2] or b"", note[3])  # a duplicate: ignored
        lodged = json.loads(next(m for m in topic if json.loads(m[3])["version"] == 1)[3])
        bad = {
            b"\xff{ not json": "not JSON",
            json.dumps({"schema_version": 1, "event_type": "Lodged"}).encode(): "missing fields",
            Envelope(
                **{**lodged, "request_id": str(uuid.uuid4()), "data": {}}
            ).to_json(): "KeyError",
        }
        for raw in bad:
            pipeline.produce(str(uuid.uuid4()).encode(), raw)
        for reference in references:  # and the stream goes on
            driver.step(reference, 4)
        pipeline.wait_drained(rt)

    with rt.read_engine.connect() as conn:
        parked = conn.execute(sa.select(DEAD_LETTERS)).mappings().all()
        summaries = [by_reference(conn, RequestSummary(), COUNCIL, r) for r in references]
    # A model that passes over a service request's Lodged (the documents read only their own
    # events, the complaint register only complaints) finds no fault in its empty data.
    passes_lodged_over = {"request_attachments", "complaint_register"}
    for name in ALL_MODELS:
        mine = {row["raw"]: row["reason"] for row in parked if row["read_model"] == name}
        expected = {
            raw: reason
            for raw, reason in bad.items()
            if reason != "KeyError" or name not in passes_lodged_over
        }
        assert set(mine) == set(expected), name
        for raw, reason in expected.items():
            assert reason in mine[raw], (name, mine[raw])
    assert all(s is not None and (s["notes"], s["delays"]) == (1, 1) for s in summaries)
    pipeline.verify()


def test_a_gap_in_a_requests_stream_waits_for_the_resend(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    """A producer that lost a batch may have written a later event before an earlier one; the
    relay then re-sends from its checkpoint. The row models skip the early arrival and apply
    the re-sent events in order."""
    driver = Driver(rt, clock)
    reference = driver.lodge().reference
    for step in (1, 2, 3):
        driver.step(reference, step)
    envelopes = StoreReader(rt.app).read(0, 100)
    assert [e.version for e in envelopes] == [1, 2, 3, 4]
    ensure_topic(pipeline.config)
    with pipeline.worker(rt, relay=False):
        for env in (envelopes[0], envelopes[2]):  # v1, then v3 before v2
            pipeline.produce(env.request_id.encode(), env.to_json())
        wait_until(
            lambda: sum(stored_offsets(rt, pipeline.config, "work_queue").values()) >= 2,
            60,
            "the consumers to see both",
        )
        with rt.read_engine.connect() as conn:
            t = WorkQueue().table
            assert conn.execute(sa.select(t.c.version)).scalar_one() == 1  # v3 waited
        with pipeline.worker(rt, names=()):  # the relay re-sends everything, in order
            pipeline.wait_drained(rt)
    with rt.read_engine.connect() as conn:
        assert conn.execute(sa.select(WorkQueue().table.c.version)).scalar_one() == 4
    pipeline.verify()
