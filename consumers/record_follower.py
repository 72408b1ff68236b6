"""Keeps the record chain up to date: follows both event logs from the chain's own heads.

On the embedded default every query catches it up in process (like the read models); on the
Kafka path the worker runs `RecordFollower` on a thread of its own. Either way each batch is
chained in one transaction, under a lock, from the head read under that lock — so concurrent
followers never chain an event twice. The chain only ever grows from its head; a log whose
chain has entries but no head is not touched (and `crm record verify` says so).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from uuid import UUID

import sqlalchemy as sa
import structlog
from eventsourcing.application import Application

from projections.record_chain import Head, RecordChain

log = structlog.get_logger("record_chain")
Logs = Mapping[str, Application[UUID]]


CHAIN = RecordChain()  # one set of table objects per process: SQLAlchemy caches its statements
_PREPARED: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # engines whose tables exist


def catch_up(engine: sa.Engine, logs: Logs, batch_size: int = 1000) -> int:
    """Chains every stored event not chained yet, in each log; returns how many. Each round
    is one transaction (one batch per log behind); when the chain is up to date it only reads
    the heads (no lock, no write)."""
    heads = _heads(engine)
    behind = {}
    for name, app in logs.items():
        store_head = app.recorder.max_notification_id() or 0
        if name not in heads or heads[name].position < store_head:
            behind[name] = store_head
    chained = 0
    while behind:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # No wait for the WAL flush: the chain is derived from events already durable
                # in the store, so a crash can only lose its newest entries, which the next
                # catch-up chains again, identically, from the durable head.
                conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            CHAIN.lock(conn)
            for name, store_head in list(behind.items()):
                n, done = _extend(conn, name, logs[name], store_head, batch_size)
                chained += n
                if done:
                    del behind[name]
    return chained


def _heads(engine: sa.Engine) -> dict[str, Head]:
    """The chain's heads; its tables are created the first time an engine finds them missing
    (asking first spares each new process the catalogue queries of a `create_all`)."""
    if engine not in _PREPARED:
        try:
            with engine.connect() as conn:
                heads = CHAIN.heads_by_log(conn)
            _PREPARED.add(engine)
            return heads
        except sa.exc.DBAPIError:
            CHAIN.create(engine)
            _PREPARED.add(engine)
    with engine.connect() as conn:
        return CHAIN.heads_by_log(conn)


def _extend(
    conn: sa.Connection, name: str, app: Application[UUID], store_head: int, batch_size: int
) -> tuple[int, bool]:
    """Chains one batch of the log (under the lock); returns how many, and whether the chain
    reached `store_head` (or cannot go on: its head is gone)."""
    head = CHAIN.head(conn, name)
    if head is None:
        if CHAIN.has_entries(conn, name):
            log.error("record_chain_head_missing", log=name)
            return 0, True
        head = CHAIN.start(conn, name)
        log.info("record_chain_started", log=name, store_head=store_head)
    if head.position >= store_head:
        return 0, True
    batch = app.recorder.select_notifications(
        start=head.position, limit=batch_size, inclusive_of_start=False)
    if batch:
        CHAIN.append(conn, head, batch)
    return len(batch), not batch or batch[-1].id >= store_head or len(batch) < batch_size


class RecordFollower:
    """The Kafka path's follower of both logs, for the worker (until `stop` is set)."""

    def __init__(self, engine: sa.Engine, logs: Logs, idle_sleep_s: float = 0.2) -> None:
        self.engine, self.logs, self.idle_sleep_s = engine, logs, idle_sleep_s

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                done = catch_up(self.engine, self.logs)
            except sa.exc.OperationalError as error:  # the database is away: try again
                log.warning("record_chain_unavailable", error=str(error)[:300])
                done = 0
            if not done:
                stop.wait(self.idle_sleep_s)
