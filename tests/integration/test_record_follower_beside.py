"""Each backend's design of the record chain on the command path: on SQLite a command chains
its own events (`infra.chaining_recorders`), on PostgreSQL it stores them unchained and the
follower chains them in batches (`crm serve`'s and `crm worker`'s thread, the CLI's catch-up
on exit). Either way, with commands coming from two processes while a follower runs beside,
every event is chained exactly once, in store order, and the record verifies."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from consumers import record_follower, record_verify
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.conftest import add_staff
from tests.integration.test_record_follower import (
    COUNCIL,
    _chained,
    _lodge,
    _note,
    _stored,
    follower_alone,
)

PER_PROCESS = 8  # lodge-and-note pairs each process runs

# A process of its own running commands through the handlers, as `crm serve` would, with
# nothing of its own catching the chain up: whatever it stores is chained by its store (SQLite)
# or by the follower beside (PostgreSQL).
COMMANDS = f"""
import sys
from infra.runtime import Runtime
from infra.settings import Settings
from tests.integration.test_record_follower import _lodge, _note
rt = Runtime(Settings.from_env())
base = int(sys.argv[1])
for n in range(base, base + {PER_PROCESS}):
    _note(rt, _lodge(rt, n))
rt.close()
"""


@pytest.fixture
def rt(any_runtime: Runtime) -> Runtime:
    add_staff(any_runtime.settings, COUNCIL, {"cs": ["customer-service"]})
    record_follower.catch_up(any_runtime.chain_engine, any_runtime.record_logs())  # begun
    return any_runtime


def _no_catch_up(*_: Any, **__: Any) -> Any:
    raise AssertionError("a catch-up ran")


def test_a_command_chains_its_events_on_sqlite_and_leaves_them_to_the_follower_on_postgres(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _chained(rt)  # the directory's staff, chained as the chain began
    monkeypatch.setattr(record_follower, "catch_up", _no_catch_up)
    _note(rt, _lodge(rt, 1))  # two request events, a customer record in the directory
    stored = _stored(rt)
    assert stored == {"requests": 2, "directory": before["directory"][2] + 1}
    level = {log: (n, n, n) for log, n in stored.items()}
    assert _chained(rt) == (before if rt.settings.is_postgres else level)
    monkeypatch.undo()
    expected = 3 if rt.settings.is_postgres else 0
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == expected
    assert _chained(rt) == level
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def _wait_until_chained(rt: Runtime, seconds: float) -> None:
    """Polls, with a deadline, until every stored event is chained."""
    deadline = time.monotonic() + seconds
    while not _caught_up(rt):
        assert time.monotonic() < deadline, (_stored(rt), _chained(rt))
        time.sleep(0.02)


def _caught_up(rt: Runtime) -> bool:
    stored = _stored(rt)
    return all(_chained(rt)[log][2] == n for log, n in stored.items())


def test_commands_from_two_processes_with_a_follower_beside_are_chained_once_in_order(
    rt: Runtime,
) -> None:
    env = dict(os.environ, CRM_DATA_DIR=str(rt.settings.data_dir), PYTHONPATH=str(PROJECT_ROOT))
    env.pop("CRM_DATABASE_URL", None)
    env.pop("CRM_KAFKA_BOOTSTRAP", None)
    if rt.settings.database_url:
        env["CRM_DATABASE_URL"] = rt.settings.database_url
    stop = threading.Event()
    follower = record_follower.RecordFollower(rt.chain_engine, rt.record_logs(), 0.01)
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            follower.run(stop)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", COMMANDS, str(base)],
                env=env,
                cwd=PROJECT_ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
            for base in (100, 200)
        ]
        for run in runs:
            _, err = run.communicate(timeout=300)
            assert run.returncode == 0, err[-2000:]
        _wait_until_chained(rt, 60)  # polled: the follower chains what the processes stored
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    stored = _stored(rt)
    assert stored["requests"] == 2 * 2 * PER_PROCESS
    assert _chained(rt) == {log: (n, n, n) for log, n in stored.items()}  # each once
    assert record_follower.catch_up(rt.chain_engine, rt.record_logs()) == 0  # nothing left
    report = record_verify.verify(rt.record_engine, rt.record_logs())  # in store order
    assert report.ok, report


def _following(
    follower: record_follower.RecordFollower, stop: threading.Event, errors: list[BaseException]
) -> threading.Thread:
    def follow() -> None:
        try:
            follower.run(stop)
        except Exception as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)

    thread = threading.Thread(target=follow)
    thread.start()
    return thread


def test_a_follower_spaces_its_rounds_while_commands_keep_coming(rt: Runtime) -> None:
    """Beside a stream of commands a round begins at most every `gather_s`: the rounds that
    chain something are far fewer than the commands, and every event is still chained once,
    in store order. (The stores do not chain here, on SQLite either: the follower does it all.)"""
    follower_alone(rt)
    gather = 0.25
    follower = record_follower.RecordFollower(
        rt.chain_engine, rt.record_logs(), idle_sleep_s=0.01, gather_s=gather
    )
    stop, errors = threading.Event(), []  # type: ignore[var-annotated]
    thread = _following(follower, stop, errors)
    began = time.monotonic()
    try:
        n = 0
        while time.monotonic() - began < 1.5 or n < 8:  # at least 1.5 s of commands
            _note(rt, _lodge(rt, 300 + n))
            n += 1
        took = time.monotonic() - began
        _wait_until_chained(rt, 30)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert 1 <= follower.rounds <= took / gather + 3, (follower.rounds, took, n)
    stored = _stored(rt)
    assert follower.chained == 2 * n + n  # two request events and a customer per pair
    assert _chained(rt) == {log: (c, c, c) for log, c in stored.items()}
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok


def test_a_stop_during_the_wait_ends_the_follower_promptly(rt: Runtime) -> None:
    follower_alone(rt)
    follower = record_follower.RecordFollower(
        rt.chain_engine, rt.record_logs(), idle_sleep_s=60, gather_s=60
    )
    _lodge(rt, 1)
    stop, errors = threading.Event(), []  # type: ignore[var-annotated]
    thread = _following(follower, stop, errors)
    deadline = time.monotonic() + 30
    while follower.rounds < 1:  # it chained the lodgement, and now waits a minute
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stopped = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - stopped < 2
    assert not errors, errors
    assert _caught_up(rt)


def test_the_cli_leaves_nothing_unchained_when_it_exits(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`crm lodge` and `crm note` on their own, no follower running: on PostgreSQL the stores
    do not chain, and the command's catch-up before it exits chains what it wrote."""
    from infra import cli

    for name in ("CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_COUNCIL", "CRM_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(rt.settings.data_dir))
    if rt.settings.database_url:
        monkeypatch.setenv("CRM_DATABASE_URL", rt.settings.database_url)
    argv = ["--council", COUNCIL, "--as", "cs"]
    lodge = ["lodge", "--category", "pothole", "--channel", "phone", "--description", "Pothole"]
    assert cli.main([*argv, *lodge, "--name", "Ines Farrow", "--phone", "0400 222 333"]) == 0
    ref = capsys.readouterr().out.strip()
    assert cli.main([*argv, "note", ref, "Rang back"]) == 0
    stored = _stored(rt)
    assert stored["requests"] == 2
    assert _chained(rt) == {log: (n, n, n) for log, n in stored.items()}
    assert record_verify.verify(rt.record_engine, rt.record_logs()).ok
