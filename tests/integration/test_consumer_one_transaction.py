"""The read models' consumer applies every model's share of a batch in one transaction: one
commit per batch; a model refusing a message parks only that request while the others' rows
and positions advance; a failure midway leaves every model's rows and positions consistent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers import kafka_consumer
from consumers.dead_letters import DEAD_LETTERS
from consumers.kafka_common import KafkaConfig
from consumers.kafka_consumer import ReadModelsConsumer
from consumers.poison import Decoded
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from projections import registry
from projections.base import ReadModel
from projections.envelope import Envelope
from tests.fakes import FakeClock
from tests.unit.projections.story import EventLog, sydney

CONFIG = KafkaConfig(bootstrap="localhost:1")
TOPIC = CONFIG.topic
NAMES = ("audit_record", "request_summary", "sla", "work_queue", "work_queue_history")
PARTITIONS = 3


@pytest.fixture(scope="module")
def envelopes() -> list[Envelope]:
    """Four requests' lifecycles, in log order."""
    log = EventLog(load_council(PROJECT_ROOT / "config", "upper-lachlan"), FakeClock())
    try:
        start = sydney(2026, 3, 2, 9)
        for i in range(4):
            at = start + timedelta(minutes=10 * i)
            story = log.lodge(at=at, reference=f"UL-2026-{i + 1:06d}")
            story.acknowledge(at=at + timedelta(minutes=1))
            story.assign(team="roads", officer="jsmith", at=at + timedelta(minutes=2))
            story.note(at=at + timedelta(minutes=3)).close(at=at + timedelta(hours=1))
        return log.envelopes()
    finally:
        log.close()


def decoded(envelopes: Sequence[Envelope]) -> dict[TopicPartition, list[Decoded]]:
    """The envelopes as a polled batch: each request's events on one partition, in order."""
    out: dict[TopicPartition, list[Decoded]] = {}
    requests = sorted({e.request_id for e in envelopes})
    for env in envelopes:
        tp = TopicPartition(TOPIC, requests.index(env.request_id) % PARTITIONS)
        items = out.setdefault(tp, [])
        record = ConsumerRecord(
            TOPIC, tp.partition, None, len(items), 0, 0, None, b"{}", [], None, 0, 2, 0
        )
        items.append((record, env, None))
    return out


def refusing(model: ReadModel, request_id: str) -> ReadModel:
    """`model`, refusing every event of one request (as the database refuses a bad value)."""
    base: Any = type(model)

    class Refusing(base):  # type: ignore[misc]
        def apply(self, conn: sa.Connection, envs: Sequence[Envelope]) -> int:
            if any(e.request_id == request_id for e in envs):
                raise ValueError("value too long for type character varying(128)")
            return int(super().apply(conn, envs))

    return Refusing()  # type: ignore[no-any-return]


def failing_once(model: ReadModel, stream_engine: sa.Engine) -> ReadModel:
    """`model`, whose first apply loses the database connection midway through the batch
    (on PostgreSQL its session is really ended; on SQLite the driver's error is raised)."""
    base: Any = type(model)
    state = {"failed": False}

    class FailingOnce(base):  # type: ignore[misc]
        def apply(self, conn: sa.Connection, envs: Sequence[Envelope]) -> int:
            if not state["failed"]:
                state["failed"] = True
                if conn.dialect.name == "postgresql":
                    with stream_engine.connect() as other:
                        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                        other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
                    conn.exec_driver_sql("SELECT 1")  # the server has gone: raises
                raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection lost"))
            return int(super().apply(conn, envs))

    return FailingOnce()  # type: ignore[no-any-return]


def stored(stream_engine: sa.Engine, model: ReadModel) -> dict[str, int]:
    with stream_engine.connect() as conn:
        return {s: p for s, p in model.positions_by_source(conn).items() if s.startswith("kafka")}


def snapshot(stream_engine: sa.Engine, model: ReadModel) -> Any:
    with stream_engine.connect() as conn:
        return model.snapshot(conn)


def parked(stream_engine: sa.Engine) -> list[tuple[str, str | None]]:
    t = DEAD_LETTERS
    with stream_engine.connect() as conn:
        return sorted(
            (r, rid) for r, rid in conn.execute(sa.select(t.c.read_model, t.c.request_id))
        )


def reference(stream_engine: sa.Engine, envelopes: Sequence[Envelope]) -> dict[str, Any]:
    """Each model's rows after the batch, applied by models of their own (a scratch prefix)."""
    models = [registry.build(name, "ref_") for name in NAMES]
    for model in models:
        model.create(stream_engine)
        with stream_engine.begin() as conn:
            model.apply(conn, envelopes)
    return {m.name: snapshot(stream_engine, m) for m in models}


@pytest.fixture(params=["small", "large"])
def size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """ "large": the test's batch counts as a backlog's (models in groups side by side)."""
    if request.param == "large":
        monkeypatch.setattr(kafka_consumer, "ONE_TRANSACTION_BELOW", 5)
    return str(request.param)


def test_one_commit_per_batch_for_every_model(
    stream_engine: sa.Engine, envelopes: list[Envelope], size: str
) -> None:
    consumer = ReadModelsConsumer(
        [registry.build(n) for n in NAMES], stream_engine, CONFIG, apply_groups=2
    )
    consumer.ensure_tables()
    commits: list[int] = []
    sa.event.listen(stream_engine, "commit", lambda _conn: commits.append(1))
    batch = decoded(envelopes)
    done = consumer.apply(batch)
    grouped = size == "large" and stream_engine.dialect.name == "postgresql"
    assert len(commits) == (len(NAMES) if grouped else 1)  # a backlog's: one per model
    assert done == {tp: len(items) for tp, items in batch.items()}
    want = reference(stream_engine, envelopes)
    for feed in consumer.feeds.values():
        assert snapshot(stream_engine, feed.model) == want[feed.name]
        assert stored(stream_engine, feed.model) == positions(batch)


def test_a_model_refusing_a_message_parks_its_request_alone_and_the_others_advance(
    stream_engine: sa.Engine, envelopes: list[Envelope], size: str
) -> None:
    bad = envelopes[0].request_id
    models = [registry.build(n) for n in NAMES]
    models[NAMES.index("sla")] = refusing(registry.build("sla"), bad)
    consumer = ReadModelsConsumer(models, stream_engine, CONFIG)
    consumer.ensure_tables()
    batch = decoded(envelopes)
    done = consumer.apply(batch)
    assert done == {tp: len(items) for tp, items in batch.items()}
    # sla parked every event of the bad request (the first refused, the rest held behind it)
    assert parked(stream_engine) == [("sla", bad)] * sum(e.request_id == bad for e in envelopes)
    want = reference(stream_engine, envelopes)
    others = reference_without(stream_engine, envelopes, bad)
    for feed in consumer.feeds.values():
        assert stored(stream_engine, feed.model) == positions(batch), feed.name
        if feed.name == "sla":
            assert snapshot(stream_engine, feed.model) == others
        else:
            assert snapshot(stream_engine, feed.model) == want[feed.name]
    # the batch again (a redelivery): nothing changes, nothing more is parked
    before = {f.name: snapshot(stream_engine, f.model) for f in consumer.feeds.values()}
    consumer.apply(batch)
    assert {f.name: snapshot(stream_engine, f.model) for f in consumer.feeds.values()} == before
    assert len(parked(stream_engine)) == sum(e.request_id == bad for e in envelopes)


def reference_without(
    stream_engine: sa.Engine, envelopes: Sequence[Envelope], request_id: str
) -> Any:
    model = registry.build("sla", "ref_without_")
    model.create(stream_engine)
    with stream_engine.begin() as conn:
        model.apply(conn, [e for e in envelopes if e.request_id != request_id])
    return snapshot(stream_engine, model)


def test_a_connection_lost_midway_leaves_every_model_consistent(
    stream_engine: sa.Engine, envelopes: list[Envelope], size: str
) -> None:
    models = [registry.build(n) for n in NAMES]
    index = NAMES.index("sla")  # after audit_record and request_summary applied their share
    models[index] = failing_once(registry.build("sla"), stream_engine)
    consumer = ReadModelsConsumer(models, stream_engine, CONFIG)
    consumer.ensure_tables()
    batch = decoded(envelopes)
    first = dict(list(batch.items())[:1])
    try:  # the shared transaction fails; each model then applies on its own
        consumer.apply(first)
    except sa.exc.OperationalError:  # a group of that model alone: retried, as `run` does
        assert size == "large"
        consumer.apply(first)
    ends = {CONFIG.source(tp.partition): len(items) for tp, items in first.items()}
    for feed in consumer.feeds.values():
        got = stored(stream_engine, feed.model)
        assert {s: got[s] for s in ends} == ends
    consumer.apply(batch)  # the whole batch: every model skips what it applied
    consumer.apply(batch)  # and a redelivery changes nothing
    want = reference(stream_engine, envelopes)
    for feed in consumer.feeds.values():
        assert snapshot(stream_engine, feed.model) == want[feed.name], feed.name
        assert stored(stream_engine, feed.model) == positions(batch), feed.name
    assert parked(stream_engine) == []


def positions(batch: dict[TopicPartition, list[Decoded]]) -> dict[str, int]:
    """Every partition's next offset and cut after the whole batch."""
    out = {}
    for tp, items in batch.items():
        out[CONFIG.source(tp.partition)] = len(items)
        out[CONFIG.cut_source(tp.partition)] = max(d[1].position for d in items if d[1])
    return out
