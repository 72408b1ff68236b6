"""Every PostgreSQL connection of a process — the event stores' (the library's own pool), the
read models', the write-side tables' and the keys' — carries the statement timeout and the TCP
keepalives, so a blocked statement ends in a clear error instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from eventsourcing.persistence import PersistenceError

from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT, Settings
from tests.fakes import FakeClock

pytestmark = pytest.mark.postgres


@pytest.fixture
def guarded_runtime(
    pg_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    monkeypatch.setenv("CRM_DB_STATEMENT_TIMEOUT_MS", "1000")
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        kafka_bootstrap=None,
        config_dir=PROJECT_ROOT / "config",
    )
    rt = Runtime(settings, clock=clock)
    yield rt
    rt.close()


def test_the_event_stores_connections_carry_the_timeout_and_keepalives(
    guarded_runtime: Runtime,
) -> None:
    rt = guarded_runtime
    for app in (rt.app, rt.directory):
        with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "1s"
            params = conn.info.get_parameters()
            assert (params["keepalives"], params["keepalives_idle"]) == ("1", "10")
            assert params["tcp_user_timeout"] == "30000"
    for engine in (rt.read_engine, rt.write_engine, rt.vault.engine):
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "1s"


def test_a_read_of_the_store_blocked_by_a_lock_ends_in_an_error_not_a_hang(
    guarded_runtime: Runtime, pg_url: str
) -> None:
    rt = guarded_runtime
    assert rt.app.recorder.select_notifications(start=1, limit=10) == []
    blocker = psycopg2.connect(pg_url)
    try:
        with blocker.cursor() as cur:  # holds the table until rolled back
            cur.execute("LOCK TABLE councilcrm_events IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(PersistenceError, match="statement timeout"):
            rt.app.recorder.select_notifications(start=1, limit=10)
        assert time.monotonic() - started < 30
    finally:
        blocker.rollback()
        blocker.close()
    assert rt.app.recorder.select_notifications(start=1, limit=10) == []  # usable again
