"""Processes starting together on one fresh PostgreSQL database all find their tables: none
fails because another created the same table at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.runtime import Runtime, make_engine
from projections.tables import create_tables
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


def tables(count: int) -> sa.MetaData:
    metadata = sa.MetaData()
    for n in range(count):
        sa.Table(f"t{n}", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def test_eight_starters_at_once_create_every_table_once(pg_url: str) -> None:
    engine = make_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    metadata = tables(20)
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def starter() -> None:
        start.wait()
        try:
            create_tables(metadata, engine)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    workers = [threading.Thread(target=starter) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    try:
        assert failures == []
        assert set(sa.inspect(engine).get_table_names()) >= {f"t{n}" for n in range(20)}
    finally:
        engine.dispose()


def test_four_runtimes_opening_the_event_stores_at_once_all_open_them(
    pg_url: str, tmp_path: Path
) -> None:
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def opener(n: int) -> None:
        rt = Runtime(make_settings(tmp_path / f"data{n}", pg_url))
        try:
            start.wait()
            rt.app.recorder.max_notification_id()  # the store's tables are made on opening
            rt.directory.recorder.max_notification_id()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            rt.close()

    workers = [threading.Thread(target=opener, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []
