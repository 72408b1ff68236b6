"""What sets the lag at a low rate: an idle relay on PostgreSQL publishes a command's events as
soon as they are committed (the store's NOTIFY wakes it), not at the end of its idle interval
(without a notification it still looks again after that interval, and a lost listening
connection falls back to the timer); the consumer's fetch returns as soon as a record is there,
instead of waiting for a batch's worth of bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from consumers.kafka_common import end_offsets, ensure_topic
from consumers.kafka_consumer import ReadModelsConsumer
from consumers.relay import Relay
from consumers.store_reader import StoreReader
from consumers.store_wakeup import StoreWakeup
from infra.runtime import Runtime
from projections import registry
from tests.conftest import make_settings
from tests.fakes import FakeClock
from tests.integration.kafka_support import Driver, Pipeline, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

IDLE_S = 30.0  # far longer than any wait the test allows: only a wake-up can be in time


class CountingRelay(Relay):
    """A relay that counts its batches (an empty read is a batch of 0)."""

    batches = 0

    def publish_batch(self, stop: threading.Event | None = None) -> int:
        published = super().publish_batch(stop)
        self.batches += 1
        return published


@contextmanager
def running(relay: Relay) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive()


def published(pipeline: Pipeline) -> int:
    return sum(end_offsets(pipeline.config).values())


def test_an_idle_relay_publishes_a_commit_at_once(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    ensure_topic(pipeline.config)
    relay = CountingRelay(
        StoreReader(rt.app), rt.write_engine, pipeline.config, idle_sleep_s=IDLE_S
    )
    with running(relay):
        wait_until(lambda: relay.batches >= 1, 60, "the relay's first read")
        before = published(pipeline)
        for n in range(3):
            reference = driver.lodge(n=n).reference
            driver.step(reference, 1)
            committed = time.monotonic()
            wait_until(lambda b=before: published(pipeline) >= b + 2, 10, "the events published")
            assert time.monotonic() - committed < IDLE_S / 3
            before = published(pipeline)
        assert relay.wakeup is not None and relay.wakeup.wakeups >= 3


def test_without_its_listening_connection_the_relay_falls_back_to_its_timer(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    ensure_topic(pipeline.config)
    relay = Relay(StoreReader(rt.app), rt.write_engine, pipeline.config, idle_sleep_s=0.2)
    relay.wakeup = StoreWakeup("host=127.0.0.1 port=1 connect_timeout=1", {}, "nowhere")
    with running(relay):
        driver.lodge()
        wait_until(lambda: published(pipeline) > 0, 60, "the events published by the timer")
    assert relay.wakeup._conn is None


def test_a_sqlite_store_has_no_wakeup(tmp_path: Path) -> None:
    sqlite = Runtime(make_settings(tmp_path / "data"))
    try:
        assert StoreWakeup.for_recorder(sqlite.app.recorder) is None
    finally:
        sqlite.close()


def test_the_consumers_fetch_returns_as_soon_as_a_record_is_there(
    pipeline: Pipeline, rt: Runtime
) -> None:
    ensure_topic(pipeline.config)
    consumer = ReadModelsConsumer([registry.build("work_queue")], rt.read_engine, pipeline.config)
    kafka = consumer._make_consumer()
    try:
        assert kafka.config["fetch_min_bytes"] == 1  # a trickle is not held for a batch's bytes
        assert kafka.config["fetch_max_wait_ms"] >= 100  # a quiet stream is long-polled
    finally:
        kafka.close()
