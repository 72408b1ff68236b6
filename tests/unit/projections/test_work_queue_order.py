"""The work queue's one order: the read model's SQL order and the sort key a row read over HTTP
is paged by (`infra.http.queue_cache.sort_key`) are both made from `QUEUE_ORDER`, and agree."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from infra.http import queue_cache
from projections.envelope import to_plain
from projections.work_queue import (
    QueueFilter,
    WorkQueue,
    query,
    query_plain,
    queue_key_types,
)

SYDNEY = ZoneInfo("Australia/Sydney")
NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _rows() -> list[dict[str, object]]:
    """Every mix of urgent, priority and due (none, the same instant written in two zones, a
    later one), with lodgement instants and references that tie and do not."""
    dues = [None, NOON, NOON.astimezone(SYDNEY), NOON + timedelta(hours=5)]
    lodged = [
        NOON - timedelta(days=2),
        (NOON - timedelta(days=2)).astimezone(SYDNEY),
        NOON - timedelta(days=1),
    ]
    made = []
    for n, (urgent, priority, due, at) in enumerate(
        itertools.product([False, True], [False, True], dues, lodged)
    ):
        made.append(
            {
                "request_id": f"id-{n:03d}",
                "council": "upper-lachlan",
                "reference": f"UL-2026-{(n * 37) % 101:06d}",
                "team": "roads",
                "officer": None,
                "category": "pothole",
                "urgent": urgent,
                "priority": priority,
                "status": "lodged",
                "level": "officer",
                "acknowledge_by": None,
                "complete_by": due,
                "lodged_at": at,
                "last_action": "Lodged",
                "last_action_at": at,
                "version": 1,
            }
        )
    random.Random(9).shuffle(made)
    return made


def test_the_read_models_order_and_the_http_sort_key_agree(engine: sa.Engine) -> None:
    model = WorkQueue()
    model.create(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(model.table), _rows())
    with engine.connect() as conn:
        in_sql_order = to_plain(query(conn, model, QueueFilter(council="upper-lachlan")))
    assert len(in_sql_order) == 48
    by_key = sorted(in_sql_order, key=queue_cache.sort_key)
    assert [r["request_id"] for r in by_key] == [r["request_id"] for r in in_sql_order]
    # and the order is the one the queue promises: urgent first, then priority, then due
    firsts = [(r["urgent"], r["priority"], r["complete_by"] is None) for r in in_sql_order]
    assert firsts == sorted(firsts, key=lambda f: (not f[0], not f[1], f[2]))


def test_a_cursor_carries_the_key_and_nothing_else() -> None:
    row = to_plain(_rows()[0])
    key = queue_cache.sort_key(row)
    assert tuple(type(part) for part in key) == queue_key_types()
    assert queue_cache.decode_cursor(queue_cache.encode_cursor(key)) == key


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_held_queue_read_plain_is_the_same_bytes_and_keys_as_the_view(
    backend: str, engine: sa.Engine, request: pytest.FixtureRequest
) -> None:
    """The server holds a queue read with one plain driver query and encoded piece by piece:
    byte for byte what the view's rows encode to, with the same sort keys, on both backends
    (instants with and without a fraction, none, in other zones; a name that is not ASCII and
    one that needs escaping; closed requests left out)."""
    db = engine if backend == "sqlite" else sa.create_engine(request.getfixturevalue("pg_url"))
    model = WorkQueue()
    model.create(db)
    rows = _rows()
    for n, row in enumerate(rows[:12]):
        row["complete_by"] = NOON + timedelta(microseconds=n * 1001)
        row["officer"] = "o.smith" if n % 2 else None
    rows[3]["category"] = 'Café "footpath" \\ 路'
    rows[5]["status"], rows[6]["status"] = "closed", "reopened"
    with db.begin() as conn:
        conn.execute(sa.insert(model.table), rows)
    f = QueueFilter(council="upper-lachlan", team="roads")
    with db.connect() as conn:
        old = queue_cache._snapshot(7, to_plain(query(conn, model, f)))
        new = queue_cache._snapshot_plain(7, query_plain(conn, model, f))
    if db is not engine:
        db.dispose()
    assert len(new.rows) == 47
    assert new.rows == old.rows
    assert new.keys == old.keys
    assert new.references == old.references
