"""Scratch databases for tests and benches: made fresh, dropped with what is left in them."""

from __future__ import annotations

import psycopg
import pytest

from infra.services import scratch

pytestmark = pytest.mark.postgres


def exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row is not None and row[0] == 1


def test_a_scratch_database_is_dropped_with_a_connection_still_open_in_it(
    pg_server_url: str,
) -> None:
    with scratch.scratch_database(pg_server_url, "t_scratch") as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("t_scratch_") and exists(pg_server_url, name)
        left_open = psycopg.connect(url)
        left_open.execute("CREATE TABLE kept (n int)")
        left_open.commit()
    assert not exists(pg_server_url, name)
    assert _ended(left_open)  # the drop ended it


def _ended(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_dropping_a_database_that_is_gone_changes_nothing(pg_server_url: str) -> None:
    name = scratch.create_database(pg_server_url, "t_scratch")
    scratch.drop_database(pg_server_url, name)
    scratch.drop_database(pg_server_url, name)
    assert not exists(pg_server_url, name)
