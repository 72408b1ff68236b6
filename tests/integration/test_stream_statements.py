"""The Kafka path's per-batch statements, built once and (on PostgreSQL) sent as plain SQL: the
same positions and rows as the statements SQLAlchemy builds afresh, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from consumers.kafka_common import KafkaConfig
from consumers.kafka_consumer import ReadModelsConsumer
from consumers.leader import LeaderLock
from consumers.relay import CHECKPOINTS, read_checkpoint, save_checkpoint, save_checkpoint_on
from domain.council import Council
from infra.config import load_council
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from projections import registry
from projections.base import MARK_SOURCE, RowPerRequest
from projections.temporal import TemporalHistory
from tests.conftest import make_settings
from tests.fakes import FakeClock
from tests.unit.projections.story import FIRST, SECOND, EventLog, sydney

CONFIG = KafkaConfig(bootstrap="localhost:1")


def statements(stream_engine: sa.Engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(stream_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_offsets_are_locked_made_and_moved_up_never_down(stream_engine: sa.Engine) -> None:
    consumer = ReadModelsConsumer([registry.build("work_queue")], stream_engine, CONFIG)
    consumer.ensure_tables()
    offsets = consumer.feeds["work_queue"].offsets
    with stream_engine.begin() as conn:
        assert offsets.lock(conn, [0, 1]) == {0: 0, 1: 0}  # made at 0
        assert offsets.mark == 0
        offsets.advance(conn, {CONFIG.source(0): 10, CONFIG.cut_source(0): 70})
    seen = statements(stream_engine)
    with stream_engine.begin() as conn:
        assert offsets.lock(conn, [0, 1, 2]) == {0: 10, 1: 0, 2: 0}
        conn.execute(sa.insert(offsets.model.positions).values(source=MARK_SOURCE, position=4))
        assert offsets.lock(conn, [0, 1, 2]) == {0: 10, 1: 0, 2: 0} and offsets.mark == 4
        seen.clear()
        offsets.advance(conn, {CONFIG.source(0): 8, CONFIG.source(1): 5, CONFIG.cut_source(0): 90})
        assert len(seen) == 1  # one statement, whatever the number of positions
    with stream_engine.connect() as conn:
        stored = offsets.model.positions_by_source(conn)
    assert stored[CONFIG.source(0)] == 10  # never down
    assert stored[CONFIG.source(1)] == 5
    assert stored[CONFIG.cut_source(0)] == 90
    assert stored[CONFIG.source(2)] == 0


def test_rows_loaded_and_replaced_by_the_prebuilt_statements_are_the_fresh_ones(
    stream_engine: sa.Engine, clock: FakeClock
) -> None:
    log = EventLog(registry_council(), clock)
    try:
        log.lodge(at=sydney(2026, 3, 2, 10)).acknowledge(at=sydney(2026, 3, 2, 11))
        log.lodge(at=sydney(2026, 3, 2, 12), reference=SECOND)
        envelopes = log.envelopes()
    finally:
        log.close()
    for name in ("work_queue", "request_summary", "sla", "work_queue_history"):
        model = registry.build(name)
        model.create(stream_engine)
        with stream_engine.begin() as conn:
            assert model.apply(conn, envelopes[:2]) == 2
        with (
            stream_engine.begin() as conn
        ):  # a second batch loads and replaces what the first wrote
            assert model.apply(conn, envelopes) == 1
        [table] = model.data_tables
        ids = sorted({e.request_id for e in envelopes})
        with stream_engine.connect() as conn:
            fresh = {
                r.request_id: dict(r._mapping)
                for r in conn.execute(sa.select(table).where(table.c.request_id.in_(ids)))
                if "valid_to" not in r._mapping or r.valid_to is None
            }
            if isinstance(model, TemporalHistory):
                loaded = model._in_force(conn, ids)
            else:
                assert isinstance(model, RowPerRequest)
                loaded = model._load(conn, ids)
        assert loaded == fresh and len(loaded) == 2
        assert {r["version"] for r in loaded.values()} == {1, 2}
        assert FIRST in {r.get("reference", FIRST) for r in loaded.values()}


def registry_council() -> Council:
    return load_council(PROJECT_ROOT / "config", "upper-lachlan")


@pytest.mark.postgres
def test_the_checkpoint_saved_on_the_leader_session_moves_forward_only(
    tmp_path: Path, pg_url: str
) -> None:
    rt = Runtime(make_settings(tmp_path / "data", pg_url))
    try:
        stream_engine = rt.stream_engine("write")
        assert read_checkpoint(stream_engine, "t") == 0  # makes the table
        lock = LeaderLock(stream_engine, "relay/t")
        assert lock.session is None and lock.try_acquire()
        session = lock.session
        assert session is not None
        save_checkpoint_on(session, "t", 40)  # made
        save_checkpoint_on(session, "t", 30)  # never back
        assert read_checkpoint(stream_engine, "t") == 40
        save_checkpoint_on(session, "t", 55)
        save_checkpoint(stream_engine, "u", 7)  # the generic path agrees on another topic
        with stream_engine.connect() as conn:
            rows = dict(conn.execute(sa.select(CHECKPOINTS.c.topic, CHECKPOINTS.c.position)).all())
            at = conn.execute(
                sa.select(CHECKPOINTS.c.updated_at).where(CHECKPOINTS.c.topic == "t")
            ).scalar_one()
        assert rows == {"t": 55, "u": 7}
        assert abs((datetime.now(UTC) - at).total_seconds()) < 60
        assert lock.held()
        lock.release()
        assert lock.session is None
    finally:
        rt.close()


@pytest.mark.postgres
def test_a_leader_whose_session_ended_steps_down_and_its_checkpoint_fails_as_the_database_does(
    tmp_path: Path, pg_url: str
) -> None:
    """The leader check and the checkpoint go to the driver itself: a session the server ended
    is still seen (the lock given up) and a failed checkpoint is a SQLAlchemy error (retried
    as any failure of the database), leaving the checkpoint where it was."""
    rt = Runtime(make_settings(tmp_path / "data", pg_url))
    try:
        stream_engine = rt.stream_engine("write")
        assert read_checkpoint(stream_engine, "t") == 0  # makes the table
        save_checkpoint(stream_engine, "t", 10)
        lock = LeaderLock(stream_engine, "relay/t")
        assert lock.try_acquire() and lock.held()
        session = lock.session
        assert session is not None
        pid = session.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with stream_engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            admin.commit()
        with pytest.raises(sa.exc.SQLAlchemyError):
            save_checkpoint_on(session, "t", 20)
        assert read_checkpoint(stream_engine, "t") == 10
        assert not lock.held() and lock.session is None
        assert lock.try_acquire()  # the lock was released with the ended session
        lock.release()
    finally:
        rt.close()
