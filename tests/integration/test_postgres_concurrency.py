"""Writers racing on the real PostgreSQL server, each with its own runtime (own connection pools),
as two officers' processes would: one wins, the other is told to retry, and nothing is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

import pytest

from commands import requests as cmds
from commands.errors import ConcurrencyConflict
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.fakes import FakeClock

pytestmark = pytest.mark.postgres

COUNCIL = "upper-lachlan"
T = TypeVar("T")
BARRIER_TIMEOUT_S = 30


def runtimes(tmp_path: Path, pg_url: str, clock: FakeClock, n: int) -> list[Runtime]:
    """`n` runtimes on the same database, each connected (tables made) before any race starts."""
    made = [Runtime(make_settings(tmp_path / f"rt{i}", pg_url), clock=clock) for i in range(n)]
    for rt in made:
        assert rt.ports.app is rt.app
    return made


@pytest.fixture
def two_runtimes(tmp_path: Path, pg_url: str, clock: FakeClock) -> Iterator[list[Runtime]]:
    made = runtimes(tmp_path, pg_url, clock, 2)
    yield made
    for rt in made:
        rt.close()


@pytest.fixture
def four_runtimes(tmp_path: Path, pg_url: str, clock: FakeClock) -> Iterator[list[Runtime]]:
    made = runtimes(tmp_path, pg_url, clock, 4)
    yield made
    for rt in made:
        rt.close()


def in_threads(work: list[Callable[[], T]]) -> list[T]:
    """Runs each callable on its own thread; returns results in order, or raises the first
    error that is not just another thread's broken barrier."""
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        futures = [pool.submit(w) for w in work]
        wait(futures, timeout=120)
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    if errors:
        raise next(
            (e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0]
        )
    return [f.result() for f in futures]


def lodge(rt: Runtime, n: int = 0) -> cmds.Result:
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description=f"Pothole {n}",
        customer=Customer(name="Ann Lee", phone="0400 000 000"),
    )
    actor = Actor(id="jsmith", role="officer")
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=actor), rt.ports
    )


def test_of_two_officers_noting_the_same_request_at_once_exactly_one_wins_each_time(
    two_runtimes: list[Runtime], clock: FakeClock
) -> None:
    lodged = lodge(two_runtimes[0])
    rounds = 5
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT_S)

    def officer(rt: Runtime, name: str) -> Callable[[], list[str]]:
        def run() -> list[str]:
            outcomes = []
            for i in range(rounds):
                request = rt.ports.get(lodged.request_id, lodged.reference)
                request.add_note(
                    text=f"{name} round {i}",
                    note_kind=NoteKind.ACTION,
                    channel=None,
                    occurred_at=clock(),
                    actor=Actor(id=name, role="officer"),
                )
                barrier.wait()  # both hold a loaded, changed request before either saves
                try:
                    rt.ports.save(request)
                    outcomes.append("won")
                except ConcurrencyConflict:
                    outcomes.append("conflict")
                except BaseException:
                    barrier.abort()  # let the other thread stop waiting, then fail the test
                    raise
                barrier.wait()  # the round is over for both before the next load
            return outcomes

        return run

    first, second = in_threads(
        [officer(two_runtimes[0], "jsmith"), officer(two_runtimes[1], "kwong")]
    )

    for i in range(rounds):
        assert sorted([first[i], second[i]]) == ["conflict", "won"], f"round {i}"
    events: list[Any] = list(two_runtimes[0].app.repository.event_store.get(lodged.request_id))
    assert len(events) == 1 + rounds
    assert [e.originator_version for e in events] == list(range(1, rounds + 2))
    winners = [("jsmith" if first[i] == "won" else "kwong", f"round {i}") for i in range(rounds)]
    assert [(e.actor.id, e.text.split(" ", 1)[1]) for e in events[1:]] == winners


def test_two_officers_acting_differently_on_the_same_request_at_once_lose_no_event(
    two_runtimes: list[Runtime], clock: FakeClock
) -> None:
    lodged = lodge(two_runtimes[0])
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT_S)
    actor = Actor(id="jsmith", role="officer")
    actions: list[Callable[[Any], None]] = [
        lambda r: r.acknowledge(occurred_at=clock(), actor=actor),
        lambda r: r.escalate(level=None, reason="Urgent", occurred_at=clock(), actor=actor),
    ]

    def writer(rt: Runtime, act: Callable[[Any], None]) -> Callable[[], str]:
        def run() -> str:
            request = rt.ports.get(lodged.request_id, lodged.reference)
            act(request)
            barrier.wait()
            try:
                rt.ports.save(request)
            except ConcurrencyConflict:
                return "conflict"
            return "won"

        return run

    outcomes = in_threads([writer(rt, act) for rt, act in zip(two_runtimes, actions, strict=True)])

    assert sorted(outcomes) == ["conflict", "won"]
    for rt in two_runtimes:
        stored = list(rt.app.repository.event_store.get(lodged.request_id))
        assert len(stored) == 2
    assert two_runtimes[0].app.recorder.max_notification_id() == 2


def test_concurrent_lodgements_never_share_a_reference(
    four_runtimes: list[Runtime],
) -> None:
    per_thread = 25
    barrier = threading.Barrier(len(four_runtimes), timeout=BARRIER_TIMEOUT_S)

    def clerk(rt: Runtime, k: int) -> Callable[[], list[cmds.Result]]:
        def run() -> list[cmds.Result]:
            barrier.wait()
            return [lodge(rt, k * per_thread + i) for i in range(per_thread)]

        return run

    batches = in_threads([clerk(rt, k) for k, rt in enumerate(four_runtimes)])

    results = [r for batch in batches for r in batch]
    references = [r.reference for r in results]
    assert len(results) == 100
    assert len(set(references)) == 100
    assert sorted(int(ref.rsplit("-", 1)[1]) for ref in references) == list(range(1, 101))
    assert all(ref.startswith("UL-2026-") for ref in references)
    notifications = four_runtimes[0].app.recorder.select_notifications(start=1, limit=1000)
    assert len(notifications) == 100
    assert {n.originator_id for n in notifications} == {r.request_id for r in results}
    assert all(n.originator_version == 1 for n in notifications)
