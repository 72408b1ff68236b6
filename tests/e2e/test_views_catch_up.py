"""What a read costs when nothing is new: the views' catch-up and the HTTP sign-in check look
at the stores' heads (or a user's last version) and do nothing more, yet never miss a write,
whether this process or another one made it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands import requests as cmds
from commands import users
from commands.access import authorize
from consumers import follower
from domain.aggregates.staff_user import StaffUser, staff_user_id
from domain.errors import NotPermitted
from domain.lodgement import make_intake
from domain.values import Actor, Channel
from infra import views
from infra.config import load_council
from infra.http.queue_cache import QueueCache
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, add_staff, make_settings

COUNCIL = "upper-lachlan"
CS = Actor(id="cs", role="customer-service")


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    """Two processes' runtimes over one data folder: a server's, and another writer's."""
    settings = make_settings(tmp_path / "data")
    add_staff(settings, COUNCIL, {"cs": ["customer-service"]})
    server, other = Runtime(settings), Runtime(settings)
    yield server, other
    server.close()
    other.close()


def _lodge(rt: Runtime) -> str:
    intake = make_intake(
        category="pothole",
        channel=Channel.PHONE,
        description="Deep pothole",
        name="Ann Lee",
        phone="0400 000 000",
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=CS), rt.ports
    ).reference


def _catch_ups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = follower.catch_up

    def counted(*args: object, **kwargs: object) -> int:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(follower, "catch_up", counted)
    return calls


def test_nothing_new_runs_no_catch_up_and_a_write_elsewhere_is_seen(
    two: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, other = two
    c = server.ports.council(COUNCIL)
    first = _lodge(server)
    calls = _catch_ups(monkeypatch)
    assert [r["reference"] for r in views.queue(server, c, "roads", None)] == [first]
    assert len(calls) == 1
    for _ in range(5):
        views.queue(server, c, "roads", None)
    assert len(calls) == 1  # nothing new: the heads only
    second = _lodge(other)  # another process writes
    assert {r["reference"] for r in views.queue(server, c, "roads", None)} == {first, second}
    assert len(calls) == 2


def test_concurrent_readers_after_a_write_share_one_catch_up(
    two: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, other = two
    c = server.ports.council(COUNCIL)
    views.read_models_ready(server)
    written = _lodge(other)
    calls = _catch_ups(monkeypatch)
    seen: list[list[str]] = []
    start = threading.Barrier(16)

    def reader() -> None:
        start.wait()
        seen.append([r["reference"] for r in views.queue(server, c, "roads", None)])

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [[written]] * 16
    assert len(calls) == 1


def test_the_held_user_is_read_again_once_another_process_changes_it(
    two: tuple[Runtime, Runtime],
) -> None:
    server, other = two
    c = load_council(server.settings.config_dir, COUNCIL)
    held = server.held_users
    once = held.find(StaffUser, staff_user_id(COUNCIL, "cs"))
    assert once is held.find(StaffUser, staff_user_id(COUNCIL, "cs"))  # held, not replayed
    assert authorize(held, c, "cs", None, "lodge").role == "customer-service"
    users.disable_user(
        users.DisableUser(
            council=COUNCIL, user_id="cs", actor=Actor(id=TEST_ADMIN, role="administrator")
        ),
        other.directory_ports,
        c,
    )
    with pytest.raises(NotPermitted, match="disabled"):
        authorize(held, c, "cs", None, "lodge")
    assert held.find(StaffUser, staff_user_id(COUNCIL, "nobody")) is None


def test_concurrent_reads_of_a_changed_queue_read_it_once(
    two: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, other = two
    c = server.ports.council(COUNCIL)
    cache = QueueCache()
    first = _lodge(other)
    assert cache.snapshot(server, c, "roads", None).references == [first]
    second = _lodge(other)  # the queue changed: the next reads must see it
    reads: list[int] = []
    real = views.queue_plain

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "queue_plain", counted)
    seen: list[list[str]] = []
    start = threading.Barrier(16)

    def reader() -> None:
        start.wait()
        seen.append(cache.snapshot(server, c, "roads", None).references)

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [sorted(s) for s in seen] == [sorted([first, second])] * 16
    assert len(reads) == 1


def test_the_server_reads_a_held_queue_again_once_the_store_is_quiet(
    two: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a change, the refresher reads each held queue again without a reader asking, so
    the next reader finds it ready (no read of its own) and sees the change."""
    server, other = two
    c = server.ports.council(COUNCIL)
    cache = QueueCache()
    first = _lodge(other)
    assert cache.snapshot(server, c, "roads", None).references == [first]
    stop = threading.Event()
    refresher = threading.Thread(
        target=cache.refresh, args=(server, stop), kwargs={"poll_s": 0.01, "quiet_s": 0.02}
    )
    refresher.start()
    try:
        second = _lodge(other)
        deadline = time.monotonic() + 30
        while second not in cache._held[(COUNCIL, "roads", None)].references:
            assert time.monotonic() < deadline, "the held queue was not read again"
            time.sleep(0.01)
    finally:
        stop.set()
        refresher.join()
    reads: list[int] = []
    real = views.queue_plain

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "queue_plain", counted)
    assert sorted(cache.snapshot(server, c, "roads", None).references) == sorted([first, second])
    assert reads == []


def test_a_page_from_the_queue_start_is_joined_once_per_change(
    two: tuple[Runtime, Runtime],
) -> None:
    """The default read and the whole queue in one page are answered from bytes made once
    while nothing changes: the same bytes again, not joined anew; a change makes new ones that
    show it, and a page after a cursor is still the rows that follow it."""
    server, other = two
    c = server.ports.council(COUNCIL)
    cache = QueueCache()
    first, second = _lodge(other), _lodge(other)
    whole = cache.page(server, c, "roads", None, limit=1000)
    assert sorted(whole.references) == sorted([first, second]) and whole.next_cursor is None
    again = cache.held_page(server, c, "roads", None, limit=1000)
    assert again is not None and again.body is whole.body
    one = cache.page(server, c, "roads", None, limit=1)
    assert one.body is not whole.body and one.references == whole.references[:1]
    assert cache.page(server, c, "roads", None, limit=1).body is one.body
    rest = cache.page(server, c, "roads", None, limit=1000, cursor=one.next_cursor)
    assert rest.references == whole.references[1:]
    third = _lodge(other)
    assert cache.held_page(server, c, "roads", None, limit=1000) is None  # changed: read again
    changed = cache.page(server, c, "roads", None, limit=1000)
    assert third in changed.references and changed.body != whole.body
    assert cache.held_page(server, c, "roads", None, limit=1000) is changed
