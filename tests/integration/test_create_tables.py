"""Processes starting together on one fresh PostgreSQL database all find their tables: none
fails because another created the same table at the same moment."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from infra.runtime import make_engine
from projections.tables import create_tables

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
