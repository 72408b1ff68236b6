"""The record chain's follower on SQLite and PostgreSQL: the catch-up after a command chains
both logs from their heads, writes nothing when nothing is new, and a follower that loses a
race to another never chains an event twice. Here the stores do not chain the commands' own
events (`infra.chaining_recorders`; see `test_record_chained_by_command.py`): the follower,
the safety net, chains everything."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from commands import requests as cmds
from consumers import record_follower, record_verify
from domain.lodgement import make_intake
from domain.values import Actor, Channel, NoteKind
from infra.chaining_recorders import set_chaining
from infra.runtime import Runtime
from tests.conftest import add_staff

COUNCIL = "upper-lachlan"
CS = Actor(id="cs", role="customer-service")


@pytest.fixture
def rt(any_runtime: Runtime) -> Runtime:
    add_staff(any_runtime.settings, COUNCIL, {"cs": ["customer-service"]})
    return follower_alone(any_runtime)


def follower_alone(rt: Runtime) -> Runtime:
    """`rt` with its stores not chaining what they store: the follower chains it all."""
    for app in rt.record_logs().values():
        set_chaining(app.recorder, None)
    return rt


def _lodge(rt: Runtime, n: int) -> str:
    intake = make_intake(
        category="pothole",
        channel=Channel.PHONE,
        description=f"Pothole number {n}",
        name=f"Tam Oakley {n}",
        phone="0400 000 000",
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=CS), rt.ports
    ).reference


def _note(rt: Runtime, ref: str) -> None:
    cmds.add_note(
        cmds.AddNote(
            council=COUNCIL, reference=ref, actor=CS, text="Rang back", note_kind=NoteKind.ACTION
        ),
        rt.ports,
    )


def _chained(rt: Runtime) -> dict[str, tuple[int, int, int]]:
    """Per log: entries, distinct positions, the head's event count."""
    with rt.record_engine.connect() as conn:
        found = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                sa.text(
                    "SELECT log, count(*), count(DISTINCT position) FROM record_chain GROUP BY log"
                )
            )
        }
        heads = record_follower.CHAIN.heads_by_log(conn)
    return {log: (*found.get(log, (0, 0)), heads[log].event_count) for log in heads}


def _stored(rt: Runtime) -> dict[str, int]:
    return {
        name: len(list(record_verify.stored_events(app))) for name, app in rt.record_logs().items()
    }


def _not_called(*_: Any, **__: Any) -> Any:
    raise AssertionError("the store was read through its recorder")


def _statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    return seen


def test_a_command_is_chained_in_both_logs_and_nothing_new_writes_nothing(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    ref = _lodge(rt, 1)  # a request event and a customer record in the directory
    stored = _stored(rt)
    for app in rt.record_logs().values():  # both logs are read with the heads, in one query
        for method in ("select_notifications", "max_notification_id"):
            monkeypatch.setattr(app.recorder, method, _not_called)
    seen = _statements(rt.chain_engine)
    chained = record_follower.catch_up(rt.chain_engine, rt.record_logs())
    assert chained == 2
    assert len(seen) <= 3  # the heads and what is new, the entries, the heads moved
    assert _chained(rt) == {log: (n, n, n) for log, n in stored.items()}
    seen.clear()
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 0
    assert len(seen) == 1 and not any(
        s.lstrip().upper().startswith(("INSERT", "UPDATE", "WITH")) for s in seen
    )
    _note(rt, ref)
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 1
    monkeypatch.undo()
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_a_follower_that_loses_the_race_chains_nothing_twice(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    _lodge(rt, 1)
    real = record_follower._read_new
    raced: list[int] = []

    def read_then_lose(*args: Any) -> Any:
        found = real(*args)
        if not raced:  # another follower chains the same events meanwhile
            raced.append(-1)
            monkeypatch.setattr(record_follower, "_read_new", real)
            raced[0] = record_follower.catch_up(rt.record_engine, rt.record_logs())
        return found

    monkeypatch.setattr(record_follower, "_read_new", read_then_lose)
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 0
    assert raced == [2]
    stored = _stored(rt)
    assert _chained(rt) == {log: (n, n, n) for log, n in stored.items()}
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_followers_racing_while_commands_run_chain_each_event_once(rt: Runtime) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def follow() -> None:
        while not stop.is_set():
            try:
                record_follower.catch_up(rt.chain_engine, rt.record_logs())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return

    threads = [threading.Thread(target=follow) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for n in range(12):
            _note(rt, _lodge(rt, n))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    stored = _stored(rt)
    assert stored["requests"] == 24
    assert _chained(rt) == {log: (n, n, n) for log, n in stored.items()}
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_a_round_under_the_lock_that_meets_a_follower_without_it_reads_again(
    pg_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain's lock serialises only the rounds that take it (on PostgreSQL an advisory
    lock): a follower without it can chain the same positions between a locked round's reading
    of a head and its writing. The locked round's entries then collide: it writes nothing and
    reads again, and no error reaches the caller. (On SQLite the locked round holds the
    database's write lock, so the other follower cannot write meanwhile.)"""
    rt = follower_alone(pg_runtime)
    add_staff(rt.settings, COUNCIL, {"cs": ["customer-service"]})
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    _lodge(rt, 1)
    real_round, real_head = record_follower._round, record_follower.CHAIN.head
    rounds: list[str] = []
    raced: list[int] = []

    def locked_first(*args: Any) -> Any:
        if not rounds:  # as when a log has no head yet: the next round takes the lock
            rounds.append("locked")
            raise record_follower._NoHead
        rounds.append("free")
        return real_round(*args)

    def head_then_lose(conn: sa.Connection, log: str) -> Any:
        found = real_head(conn, log)
        if not raced:  # a follower without the lock chains both logs meanwhile
            raced.append(real_round(rt.record_engine, rt.record_logs(), 1000)[0])
        return found

    monkeypatch.setattr(record_follower, "_round", locked_first)
    monkeypatch.setattr(record_follower.CHAIN, "head", head_then_lose)
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 0
    monkeypatch.undo()
    assert raced == [2] and rounds == ["locked", "free"]
    stored = _stored(rt)
    assert _chained(rt) == {log: (n, n, n) for log, n in stored.items()}
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok
