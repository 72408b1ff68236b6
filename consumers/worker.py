"""Runs the relays, the read models' consumer (one, decoding each message once for every read
model) and the record chain's follower in one process, one thread each (`crm worker`).

Guarantees: `Worker.stop()` (or SIGTERM/SIGINT through `stop_on_signals`) stops every component
at its next safe point (no batch is half applied: each is one transaction) and joins them. If a
component dies of an unexpected error, the whole worker stops and `failed` says so, so a process
supervisor restarts it rather than leaving it half alive.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

import sqlalchemy as sa
import structlog

from consumers.kafka_common import KafkaConfig
from consumers.kafka_consumer import ReadModelsConsumer
from consumers.model_feed import ModelFeed
from consumers.record_follower import RecordFollower
from consumers.relay import Relay
from consumers.store_reader import StoreReader
from projections import registry

log = structlog.get_logger("worker")


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop` (call from the main thread)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Worker:
    """The relays (optional: the request log's, and the directory's to its own topic), one
    consumer feeding the named read models (`consumers[name]` is each model's share) and
    (optional) the record chain's follower, each on its own thread."""

    def __init__(
        self,
        config: KafkaConfig,
        read_engine: sa.Engine,
        *,
        reader: StoreReader | None = None,
        directory_reader: StoreReader | None = None,
        write_engine: sa.Engine | None = None,
        names: Sequence[str] = tuple(registry.READ_MODELS),
        relay_batch_size: int = 1000,
        stop_event: threading.Event | None = None,
        record: RecordFollower | None = None,
    ) -> None:
        self.stop_event = stop_event or threading.Event()
        self.failed: list[str] = []
        self.components: dict[str, Callable[[threading.Event], None]] = {}
        self.relay: Relay | None = None
        if reader is not None:
            self.relay = Relay(
                reader, write_engine or read_engine, config, batch_size=relay_batch_size
            )
            self.components["relay"] = self.relay.run
        if directory_reader is not None:
            directory_relay = Relay(
                directory_reader,
                write_engine or read_engine,
                config.for_directory(),
                batch_size=relay_batch_size,
            )
            self.components["directory-relay"] = directory_relay.run
        self.consumer: ReadModelsConsumer | None = None
        self.consumers: dict[str, ModelFeed] = {}
        if names:
            self.consumer = ReadModelsConsumer(
                [registry.build(name) for name in names],
                read_engine,
                config,
                reader=None if reader is None else StoreReader(reader.app),
            )
            self.consumers = dict(self.consumer.feeds)
            self.components["read-models"] = self.consumer.run
        if record is not None:
            self.components["record-chain"] = record.run
        self.threads: list[threading.Thread] = []

    def start(self) -> Worker:
        self._prepare_tables()
        for name, run in self.components.items():
            thread = threading.Thread(target=self._guard, args=(name, run), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def wait(self) -> None:
        """Blocks until `stop_event` is set, then joins every thread."""
        while not self.stop_event.wait(0.5):
            pass
        self.join()

    def stop(self) -> None:
        self.stop_event.set()
        self.join()

    def join(self, timeout_s: float = 60.0) -> None:
        for thread in self.threads:
            thread.join(timeout_s)

    def _prepare_tables(self) -> None:
        """Creates the read models' tables one after another (concurrent CREATEs of shared
        tables collide); if the database is away, each consumer retries on its own thread."""
        try:
            if self.consumer is not None:
                self.consumer.ensure_tables()
        except sa.exc.SQLAlchemyError as error:
            log.warning("tables_not_ready", error=str(error)[:300])

    def _guard(self, name: str, run: Callable[[threading.Event], None]) -> None:
        try:
            run(self.stop_event)
        except Exception:  # noqa: BLE001 - any death stops the whole worker, loudly
            log.error("component_failed", component=name, error=traceback.format_exc())
            self.failed.append(name)
            self.stop_event.set()
