"""Processes starting together on one fresh database (PostgreSQL, or an embedded SQLite file)
all find their tables: none fails because another created the same table at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.runtime import Runtime, make_engine
from projections.tables import create_tables
from tests.conftest import make_settings


def tables(count: int) -> sa.MetaData:
    metadata = sa.MetaData()
    for n in range(count):
        sa.Table(f"t{n}", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def starting_together(url: str, starters: int = 8, count: int = 20) -> None:
    """`starters` engines (as processes would have) create the same `count` tables at once."""
    engines = [make_engine(url) for _ in range(starters)]
    metadata = tables(count)
    start = threading.Barrier(starters)
    failures: list[BaseException] = []

    def starter(engine: sa.Engine) -> None:
        start.wait()
        try:
            create_tables(metadata, engine)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    workers = [threading.Thread(target=starter, args=(e,)) for e in engines]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    try:
        assert failures == []
        assert set(sa.inspect(engines[0]).get_table_names()) >= {f"t{n}" for n in range(count)}
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.postgres
def test_eight_starters_at_once_create_every_table_once(pg_url: str) -> None:
    starting_together(pg_url.replace("postgresql://", "postgresql+psycopg2://", 1))


def test_eight_starters_at_once_on_one_sqlite_file_create_every_table_once(
    tmp_path: Path,
) -> None:
    for n in range(5):  # a fresh file each time: the race is at the first creation
        starting_together(f"sqlite:///{tmp_path / f'store{n}.db'}")


@pytest.mark.postgres
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
