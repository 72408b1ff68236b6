"""The streaming path end to end on the real servers: event store → relay → Kafka → consumers →
read models, and the same read models on the embedded path. Each test has its own database,
topic and consumer groups."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.runtime import Runtime
from projections import audit_record, work_queue
from projections.audit_record import AuditRecord
from projections.request_summary import RequestSummary, by_reference
from projections.sla import Sla
from projections.work_queue import WorkQueue
from tests.conftest import make_settings
from tests.fakes import FakeClock
from tests.integration.kafka_support import (
    ALL_MODELS,
    COUNCIL,
    Driver,
    Pipeline,
    wait_until,
)

# No module-wide markers: the servers' markers follow the fixtures (tests/conftest.py), and the
# embedded path's rebuild test on SQLite needs no server at all.


def queue_of(rt: Runtime, team: str) -> list[dict[str, object]]:
    with rt.read_engine.connect() as conn:
        f = work_queue.QueueFilter(council=COUNCIL, team=team)
        return work_queue.query(conn, WorkQueue(), f)


def audit_of(rt: Runtime, reference: str) -> list[dict[str, object]]:
    with rt.read_engine.connect() as conn:
        f = audit_record.AuditFilter(council=COUNCIL, reference=reference)
        return audit_record.query(conn, AuditRecord(), f)


def test_a_lodged_request_reaches_its_team_queue_and_the_audit_record(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    lodged = driver.lodge("pothole")
    # On the Kafka path a query does not catch up from the store: nothing is consumed yet.
    shown = pipeline.crm("queue", "--team", "roads", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == []

    with pipeline.worker(rt):
        wait_until(
            lambda: any(r["reference"] == lodged.reference for r in queue_of(rt, "roads")),
            60,
            "the request in the roads queue",
        )
        # The audit record is another consumer group: it may apply the event a moment later.
        wait_until(lambda: bool(audit_of(rt, lodged.reference)), 60, "the audit record's entry")
        entries = audit_of(rt, lodged.reference)
        assert [(e["event_type"], e["version"], e["position"]) for e in entries] == [
            ("Lodged", 1, lodged.position)
        ]
        assert entries[0]["actor_id"] == "cs.officer"

    shown = pipeline.crm("queue", "--team", "roads", "--json")
    assert [r["reference"] for r in json.loads(shown.stdout)] == [lodged.reference]
    assert queue_of(rt, "water") == []


def test_the_whole_lifecycle_is_reflected(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    with pipeline.worker(rt):
        reference = driver.lodge().reference
        driver.step(reference, 1)
        driver.step(reference, 2)
        pipeline.wait_drained(rt)
        (row,) = queue_of(rt, "roads")
        assert (row["status"], row["officer"], row["last_action"]) == (
            "assigned",
            "o.smith",
            "Assigned",
        )
        for step in range(3, 7):
            driver.step(reference, step)
        pipeline.wait_drained(rt)

    assert queue_of(rt, "roads") == []  # closed requests leave the queue
    with rt.read_engine.connect() as conn:
        summary = by_reference(conn, RequestSummary(), COUNCIL, reference)
        sla_open = conn.execute(sa.select(Sla().table.c.open)).scalar_one()
    assert summary is not None
    assert (summary["status"], summary["outcome"], summary["officer"]) == (
        "closed",
        "completed",
        "o.smith",
    )
    assert (summary["notes"], summary["delays"], summary["escalations"], summary["version"]) == (
        1,
        1,
        1,
        7,
    )
    assert sla_open is False
    entries = audit_of(rt, reference)
    assert [e["event_type"] for e in entries] == [
        "Lodged",
        "Acknowledged",
        "Assigned",
        "NoteAdded",
        "Delayed",
        "Escalated",
        "Closed",
    ]
    assert [e["version"] for e in entries] == list(range(1, 8))


def test_per_request_order_holds_across_partitions(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(40)  # 280 events, each request's spread over the whole log
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)

    by_key: dict[bytes | None, list[tuple[int, int, int]]] = defaultdict(list)
    for partition, offset, key, value in pipeline.read_topic():
        by_key[key].append((partition, offset, json.loads(value)["version"]))
    assert len({p for msgs in by_key.values() for p, _, _ in msgs}) >= 3, "too few partitions used"
    for key, messages in by_key.items():
        assert len({p for p, _, _ in messages}) == 1, f"{key!r} spread over partitions"
        versions = [v for _, _, v in sorted(messages)]
        assert versions == list(range(1, 8)), f"{key!r} out of order: {versions}"

    with rt.read_engine.connect() as conn:
        model = RequestSummary()
        rows = [by_reference(conn, model, COUNCIL, ref) for ref in references]
    assert all(
        r is not None and (r["status"], r["version"], r["notes"]) == ("closed", 7, 1) for r in rows
    )
    pipeline.verify()


def test_rebuild_equals_live_on_the_kafka_path(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(12, steps=3)
    for reference in references[:4]:
        for step in range(4, 7):
            driver.step(reference, step)
    driver.lodge("barking-dog")
    driver.lodge("missed-bin")
    with pipeline.worker(rt):
        pipeline.verify()
        status = pipeline.crm("projections", "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["path"] == "kafka" and report["relay_checkpoint"] == report["store_head"]
    for name in ALL_MODELS:
        model = report["read_models"][name]
        assert model["lag_events"] == 0 and model["lag_seconds"] == 0.0
        assert len(model["partitions"]) == pipeline.partitions
        assert all(p["lag"] == 0 for p in model["partitions"])

    rebuilt = pipeline.crm("projections", "rebuild", "work_queue")
    assert rebuilt.returncode == 0, rebuilt.stderr
    pipeline.verify()

    with rt.read_engine.begin() as conn:  # drift is caught, and named
        t = WorkQueue().table
        conn.execute(sa.update(t).where(t.c.reference == references[0]).values(officer="x"))
    drifted = pipeline.crm("projections", "verify", "work_queue")
    assert drifted.returncode == 1
    assert "work_queue: DRIFT" in drifted.stdout and "'x'" in drifted.stdout


def test_verify_gives_up_when_the_pipeline_does_not_drain(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    Driver(rt, clock).lodge()
    done = pipeline.crm("projections", "verify", "--timeout", "2")
    assert done.returncode == 1
    assert "not drained after 2 s" in done.stdout


def test_the_worker_process_drains_and_stops_cleanly(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    worker = pipeline.spawn("worker")
    try:
        driver = Driver(rt, clock)
        for i in range(5):
            driver.lifecycle(i)
        pipeline.wait_drained(rt)
    finally:
        code = worker.stop()
    assert code == 0
    pipeline.verify()


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rebuild_equals_live_on_the_embedded_path(
    store: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    url = request.getfixturevalue("pg_url") if store == "postgres" else None
    rt = Runtime(make_settings(tmp_path / "data", url), clock=clock)
    try:
        driver = Driver(rt, clock)
        references = driver.interleaved(6, steps=4)
        driver.step(references[0], 5)
        driver.step(references[0], 6)
        env: dict[str, str] = {
            "CRM_DATA_DIR": str(tmp_path / "data"),
            "CRM_DATABASE_URL": url or "",
            "CRM_KAFKA_BOOTSTRAP": "",
        }
        pipeline = Pipeline(url or "", "", tmp_path / "data")
        done = pipeline.crm("projections", "verify", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(": ok") == len(ALL_MODELS)
        status = json.loads(pipeline.crm("projections", "status", "--json", env=env).stdout)
        assert status["path"] == "embedded"
        assert all(m["lag_events"] == 0 for m in status["read_models"].values())
    finally:
        rt.close()
