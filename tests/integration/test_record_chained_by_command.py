"""A command chains its own events into the record as the store stores them, on SQLite and
PostgreSQL: the chain's head has moved before any catch-up runs; a command whose log's chain
lags still succeeds and leaves its events to the catch-up; commands running at once, with
a follower racing them, chain every event once. (On PostgreSQL the stores chain only when
told, as here: by default they leave it to the follower; see
`test_record_follower_beside.py`.)"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError, StoredEvent

from consumers import record_follower, record_verify
from infra.chaining_recorders import set_chaining
from infra.runtime import Runtime
from tests.conftest import add_staff
from tests.integration.test_record_follower import COUNCIL, _chained, _lodge, _note, _stored


@pytest.fixture
def rt(any_runtime: Runtime) -> Runtime:
    add_staff(any_runtime.settings, COUNCIL, {"cs": ["customer-service"]})
    chaining(any_runtime)
    record_follower.catch_up(any_runtime.chain_engine, any_runtime.record_logs())  # begun
    return any_runtime


def chaining(rt: Runtime) -> Runtime:
    """`rt` with its stores chaining what they store (SQLite's default; PostgreSQL's when
    told)."""
    for name, app in rt.record_logs().items():
        set_chaining(app.recorder, name)
    return rt


def _no_catch_up(*_: Any, **__: Any) -> Any:
    raise AssertionError("a catch-up ran")


def _level(rt: Runtime) -> dict[str, tuple[int, int, int]]:
    """Every stored event chained once: per log, entries = distinct positions = head count."""
    return {log: (n, n, n) for log, n in _stored(rt).items()}


def test_a_command_chains_its_own_events_before_any_catch_up(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_follower, "catch_up", _no_catch_up)
    ref = _lodge(rt, 1)  # a request event and a customer record in the directory
    assert _chained(rt) == _level(rt) == {"requests": (1, 1, 1), "directory": (3, 3, 3)}
    _note(rt, ref)
    assert _chained(rt)["requests"] == (2, 2, 2)
    monkeypatch.undo()
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 0  # nothing new
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_a_command_whose_chain_lags_succeeds_and_the_catch_up_chains_it(rt: Runtime) -> None:
    set_chaining(rt.app.recorder, None)  # a request stored while its log was not chained
    ref = _lodge(rt, 1)
    set_chaining(rt.app.recorder, "requests")
    _note(rt, ref)  # its log's head is not where the note follows: the command leaves it
    assert _chained(rt)["requests"] == (0, 0, 0)
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 2
    assert _chained(rt) == _level(rt)
    _note(rt, ref)  # level again: chained by the command itself
    assert _chained(rt)["requests"] == (3, 3, 3)
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_a_chain_with_an_entry_past_its_head_never_fails_a_command(rt: Runtime) -> None:
    ref = _lodge(rt, 1)
    with rt.record_engine.begin() as conn:  # tampering: an entry where the note will go
        conn.execute(
            sa.text(
                "INSERT INTO record_chain (log, position, originator_id, version, digest, hash) "
                "VALUES ('requests', 2, 'x', 1, 'y', 'z')"
            )
        )
    _note(rt, ref)
    assert _stored(rt)["requests"] == 2
    assert _chained(rt)["requests"] == (2, 2, 1)  # the head did not move


@pytest.mark.postgres
def test_a_command_never_waits_for_a_follower_holding_the_head(
    pg_runtime: Runtime,
) -> None:
    rt = chaining(pg_runtime)
    add_staff(rt.settings, COUNCIL, {"cs": ["customer-service"]})
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    ref = _lodge(rt, 1)
    with rt.record_engine.connect() as other:
        other.execute(sa.text("SELECT 1 FROM record_chain_heads FOR UPDATE"))
        start = time.monotonic()
        _note(rt, ref)
        took = time.monotonic() - start
        other.rollback()
    assert took < 2  # the store's lock timeout is 5 s: it did not wait for the head's lock
    assert _chained(rt)["requests"] == (1, 1, 1)  # left to the catch-up
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 1
    assert _chained(rt) == _level(rt)
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_commands_at_once_from_several_runtimes_chain_every_event_once(rt: Runtime) -> None:
    errors: list[BaseException] = []
    others = [chaining(Runtime(rt.settings, clock=rt.clock)) for _ in range(3)]

    def work(runtime: Runtime, base: int) -> None:
        try:
            for n in range(base, base + 5):
                _note(runtime, _lodge(runtime, n))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    stop = threading.Event()

    def follow() -> None:  # a follower racing the commands, as `crm serve` runs one
        while not stop.is_set():
            try:
                record_follower.catch_up(rt.chain_engine, rt.record_logs())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return

    threads = [
        threading.Thread(target=work, args=(runtime, 100 * i))
        for i, runtime in enumerate([rt, rt, *others])  # two threads share one runtime
    ]
    follower = threading.Thread(target=follow)
    try:
        follower.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        follower.join()
        for runtime in others:
            runtime.close()
    assert not errors, errors
    record_follower.catch_up(rt.chain_engine, rt.record_logs())  # the safety net
    assert _stored(rt)["requests"] == 50
    assert _chained(rt) == _level(rt)
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def _event(originator: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator,
        originator_version=version,
        topic="tests.record:Stored",
        state=f'{{"n": {version}, "note": "Ngaire Castellano — café"}}'.encode(),
    )


def test_several_events_stored_at_once_are_chained_in_the_order_given(rt: Runtime) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    given = [_event(a, 1), _event(b, 1), _event(a, 2), _event(b, 2)]
    ids = rt.app.recorder.insert_events(given)
    assert ids is not None and len(ids) == 4 and list(ids) == sorted(ids)
    stored = {n.id: (n.originator_id, n.originator_version) for n in _stored_from(rt, ids[0])}
    assert [stored[i] for i in ids] == [(e.originator_id, e.originator_version) for e in given]
    assert _chained(rt) == _level(rt)  # before any catch-up
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 0
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_an_insert_that_conflicts_stores_and_chains_nothing(rt: Runtime) -> None:
    first = uuid.uuid4()
    rt.app.recorder.insert_events([_event(first, 1)])
    before, chained = _stored(rt), _chained(rt)
    with pytest.raises(IntegrityError):  # another command saved version 1 first
        rt.app.recorder.insert_events([_event(uuid.uuid4(), 1), _event(first, 1)])
    with pytest.raises(IntegrityError):
        rt.app.recorder.insert_events([_event(first, 1)])
    assert _stored(rt) == before and _chained(rt) == chained == _level(rt)
    rt.app.recorder.insert_events([_event(first, 2)])  # the retry: stored and chained
    assert _chained(rt) == _level(rt)
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_several_events_after_a_lagging_chain_are_stored_and_left_to_the_catch_up(
    rt: Runtime,
) -> None:
    set_chaining(rt.app.recorder, None)  # stored while its log was not chained
    rt.app.recorder.insert_events([_event(uuid.uuid4(), 1)])
    set_chaining(rt.app.recorder, "requests")
    a = uuid.uuid4()
    ids = rt.app.recorder.insert_events([_event(a, 1), _event(a, 2)])
    assert ids is not None and len(ids) == 2
    assert _stored(rt)["requests"] == 3
    assert _chained(rt)["requests"] == (0, 0, 0)  # the head is not where they follow
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 3
    assert _chained(rt) == _level(rt)
    rt.app.recorder.insert_events([_event(a, 3), _event(a, 4)])  # level again: chained at once
    assert _chained(rt)["requests"] == (5, 5, 5)
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def _stored_from(rt: Runtime, start: int) -> list[Any]:
    return list(rt.app.recorder.select_notifications(start, 100))
