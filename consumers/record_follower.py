"""Keeps the record chain up to date: follows both event logs from the chain's own heads.

On the embedded default every query catches it up in process (like the read models); on the
Kafka path the worker runs `RecordFollower` on a thread of its own. Either way each batch is
chained in one transaction, under a lock, from the head read under that lock — so concurrent
followers never chain an event twice. The chain only ever grows from its head; a log whose
chain has entries but no head is not touched (and `crm record verify` says so).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from uuid import UUID

import sqlalchemy as sa
import structlog
from eventsourcing.application import Application

from projections.record_chain import RecordChain

log = structlog.get_logger("record_chain")
Logs = Mapping[str, Application[UUID]]


def catch_up(engine: sa.Engine, logs: Logs, batch_size: int = 1000) -> int:
    """Chains every stored event not chained yet, in each log; returns how many."""
    chain = RecordChain()
    chain.create(engine)
    return sum(_catch_up_log(chain, engine, name, app, batch_size) for name, app in logs.items())


def _catch_up_log(
    chain: RecordChain, engine: sa.Engine, name: str, app: Application[UUID], batch_size: int
) -> int:
    chained = 0
    store_head = app.recorder.max_notification_id() or 0
    while True:
        with engine.begin() as conn:
            chain.lock(conn)
            head = chain.head(conn, name)
            if head is None:
                if chain.has_entries(conn, name):
                    log.error("record_chain_head_missing", log=name)
                    return chained
                head = chain.start(conn, name)
                log.info("record_chain_started", log=name, store_head=store_head)
            if head.position >= store_head:
                return chained
            batch = app.recorder.select_notifications(
                start=head.position, limit=batch_size, inclusive_of_start=False)
            if not batch:
                return chained
            chain.append(conn, head, batch)
        chained += len(batch)


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
