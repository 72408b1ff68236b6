"""What one read model's share of a consumer batch costs in statements: its offsets move in one
statement, never down; the requests it holds parked events of are remembered while its
dead-letter mark is unchanged, and looked up again once a retry, a rebuild or another
consumer changed them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from kafka.consumer.fetcher import ConsumerRecord

from consumers import dead_letters
from consumers.kafka_common import KafkaConfig
from consumers.kafka_consumer import ReadModelsConsumer
from consumers.model_feed import ModelFeed
from projections import registry

CONFIG = KafkaConfig(bootstrap="localhost:1")


def feed() -> tuple[sa.Engine, ModelFeed]:
    engine = sa.create_engine("sqlite://")
    owner = ReadModelsConsumer([registry.build("work_queue")], engine, CONFIG)
    owner.ensure_tables()
    dead_letters.ensure_table(engine)
    return engine, owner.feeds["work_queue"]


def statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    return seen


def test_offsets_and_cuts_move_up_in_one_statement_never_down() -> None:
    engine, f = feed()
    with engine.begin() as conn:
        f.offsets.lock(conn, [0, 1, 2])
        f.offsets.advance(
            conn, {CONFIG.source(0): 10, CONFIG.source(1): 5, CONFIG.cut_source(0): 70}
        )
    seen = statements(engine)
    with engine.begin() as conn:
        f.offsets.lock(conn, [0, 1, 2])
        seen.clear()
        f.offsets.advance(
            conn,
            {
                CONFIG.source(0): 12,
                CONFIG.source(1): 3,
                CONFIG.source(2): 4,
                CONFIG.cut_source(0): 80,
            },
        )
        assert len(seen) == 1
        assert f.offsets.read(conn, [0, 1, 2]) == {0: 12, 1: 5, 2: 4}  # 1 kept its 5
        stored = f.model.positions_by_source(conn)
    assert stored[CONFIG.cut_source(0)] == 80
    assert all(not s.startswith("dead-letters") for s in stored)  # the mark is no position


def parked_row(conn: sa.Connection, request_id: str, offset: int) -> None:
    record = ConsumerRecord(CONFIG.topic, 0, 0, offset, 0, 0, b"k", b"{}", [], None, 1, 2, -1)
    dead_letters.park(conn, "work_queue", [dead_letters.Parked(record, "test", request_id, 3)])


def test_held_requests_are_looked_up_only_when_the_mark_changed() -> None:
    engine, f = feed()
    seen = statements(engine)

    def held() -> frozenset[str]:
        with engine.begin() as conn:
            f.offsets.lock(conn, [0])
            seen.clear()
            return f.held(conn)

    assert held() == frozenset()  # no mark yet: looked up, and a mark recorded
    assert held() == frozenset() and seen == []  # the same mark: no statement at all
    with engine.begin() as conn:  # another process parks an event (and marks it)
        parked_row(conn, "r-1", 5)
        dead_letters.mark_changed(conn, f.model)
    assert held() == {"r-1"} and any("dead_letters" in s for s in seen)
    assert held() == {"r-1"} and seen == []
    with engine.begin() as conn:  # a retry re-applies it (the fix is in): the mark moves
        conn.execute(sa.delete(dead_letters.DEAD_LETTERS))
        dead_letters.mark_changed(conn, f.model)
    assert held() == frozenset()
