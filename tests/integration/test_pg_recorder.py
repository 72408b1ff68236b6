"""The event store's PostgreSQL recorder sends the library's own statements, rendered once:
the same text, the same parameters, the same rows, for every shape of read and for the write."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from infra.chaining_recorders import set_chaining
from infra.pg_recorder import PrerenderedPostgresRecorder, rendered
from infra.runtime import Runtime

pytestmark = pytest.mark.postgres


class Recording:
    """The recorder's datastore, noting the text and parameters of every statement sent."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sent: list[tuple[bytes, Any]] = []

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        sent = self.sent
        with self.real.get_connection() as conn:
            factory = conn.cursor_factory

            class Noting(factory):  # type: ignore[misc, valid-type]
                def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
                    sent.append((rendered(query), params))
                    return super().execute(query, params, **kw)

            conn.cursor_factory = Noting
            try:
                yield conn
            finally:
                conn.cursor_factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@contextmanager
def noted(recorder: Any) -> Iterator[list[tuple[bytes, Any]]]:
    real = recorder.datastore
    recording = recorder.datastore = Recording(real)
    try:
        yield recording.sent
    finally:
        recorder.datastore = real


def both(recorder: Any, call: Callable[[Callable[..., Any]], Any], name: str) -> None:
    """The library's method and ours on the same store: the same statements, the same rows."""
    with noted(recorder) as library_sent:
        library_rows = call(getattr(PostgresApplicationRecorder, name).__get__(recorder))
    with noted(recorder) as our_sent:
        our_rows = call(getattr(recorder, name))
    assert our_sent == library_sent
    assert our_rows == library_rows


def test_reads_and_writes_send_the_librarys_statements(pg_runtime: Runtime) -> None:
    recorder: Any = pg_runtime.app.recorder
    assert isinstance(recorder, PrerenderedPostgresRecorder)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def stored(*requests: uuid.UUID) -> list[StoredEvent]:
        return [
            StoredEvent(originator_id=rid, originator_version=v, topic=f"t{v % 2}", state=b"{}")
            for v in range(1, 5)
            for rid in requests
        ]

    # the store's own insert (chaining off: chained, the insert is one statement of our own,
    # which `test_record_chained_by_command` covers)
    set_chaining(recorder, None)
    with noted(recorder) as library_sent:
        library_insert = PostgresApplicationRecorder.insert_events.__get__(recorder)
        for name in ("_lock_table", "_notify_channel"):  # the library's own, for this insert
            setattr(recorder, name, getattr(PostgresApplicationRecorder, name).__get__(recorder))
        try:
            assert library_insert(stored(third)) == [1, 2, 3, 4]
        finally:
            del recorder._lock_table, recorder._notify_channel
    with noted(recorder) as our_sent:
        assert recorder.insert_events(stored(first, second)) == list(range(5, 13))
    # the library: the lock's timeout, the table lock, the NOTIFY, the insert; ours: the
    # timeout and the notification in one statement, then the same lock and insert
    library_texts = [text for text, _ in library_sent]
    assert library_texts[0] == b"SET LOCAL lock_timeout = '5s'"
    assert library_texts[2] == b'NOTIFY "councilcrm_events"'
    assert [text for text, _ in our_sent] == [
        b"SELECT set_config('lock_timeout', '5s', true), pg_notify('councilcrm_events', '')",
        library_texts[1],
        library_texts[3],
    ]
    assert b"LOCK TABLE" in our_sent[1][0] and our_sent[2][0].startswith(b"    INSERT INTO")
    assert our_sent[2][1] is not None and library_sent[3][1] is not None

    for kw in (
        {},
        {"gt": 1},
        {"lte": 3},
        {"gt": 1, "lte": 3},
        {"desc": True},
        {"limit": 2},
        {"gt": 1, "lte": 4, "desc": True, "limit": 2},
    ):
        both(recorder, lambda select, kw=kw: select(first, **kw), "select_events")
    for args, kw in (
        ((None, 10), {}),
        ((2, 3), {}),
        ((2, 10), {"inclusive_of_start": False}),
        ((None, 10), {"stop": 4}),
        ((2, 10), {"stop": 6, "inclusive_of_start": False}),
        ((1, 10), {"topics": ["t1"]}),
        ((None, 10), {"stop": 6, "topics": ("t0",)}),
    ):
        both(
            recorder,
            lambda select, args=args, kw=kw: select(*args, **kw),
            "select_notifications",
        )
    both(recorder, lambda select: select(), "max_notification_id")


def test_an_insert_notifies_the_stores_channel_at_its_commit_and_bounds_its_lock_wait(
    pg_runtime: Runtime, pg_url: str
) -> None:
    """What the library's `SET LOCAL lock_timeout` and `NOTIFY` did, the one statement does:
    the lock wait is bounded within the inserting transaction alone, and a listener on the
    store's channel hears of each insert once it is committed (chained or not)."""
    recorder: Any = pg_runtime.app.recorder
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute('LISTEN "councilcrm_events"')
        for chaining in (None, "requests"):
            set_chaining(recorder, chaining)
            event = StoredEvent(
                originator_id=uuid.uuid4(), originator_version=1, topic="t", state=b"{}"
            )
            recorder.insert_events([event])
            heard = list(listener.notifies(timeout=5, stop_after=1))
            assert [(n.channel, n.payload) for n in heard] == [("councilcrm_events", "")]

    with recorder.datastore.get_connection() as conn, conn.transaction():
        default = conn.execute("SHOW lock_timeout").fetchone()
        with conn.cursor() as curs:
            recorder._lock_table(curs)
        assert conn.execute("SHOW lock_timeout").fetchone() == {"lock_timeout": "5s"}
    with recorder.datastore.get_connection() as conn:
        assert conn.execute("SHOW lock_timeout").fetchone() == default
