"""Operational change on the real servers: one relay at a time, connections that cannot hang,
producers that are closed for good. Each pipeline test ends with `crm projections verify`."""

from __future__ import annotations

import signal
import threading

import pytest
import sqlalchemy as sa

from consumers.kafka_common import ensure_topic
from consumers.poison import is_infrastructure
from consumers.relay import Relay
from consumers.store_reader import StoreReader
from infra.runtime import Runtime, make_engine
from tests.fakes import FakeClock
from tests.integration.kafka_support import Child, Driver, Pipeline, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def logged(child: Child, event: str) -> bool:
    return any(line.get("event") == event for line in child.logs())


def stored_events(rt: Runtime) -> int:
    return len(StoreReader(rt.app).read(0, 1_000_000))


def test_one_relay_at_a_time_and_a_standby_takes_over_when_the_leader_dies(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    driver.interleaved(20, steps=2)
    with pipeline.worker(rt, relay=False):
        first = pipeline.spawn("relay")
        pipeline.wait_drained(rt)
        second = pipeline.spawn("relay")
        wait_until(lambda: logged(second, "relay_started"), 60, "the second relay to start")
        driver.interleaved(20, steps=2)  # new events while both run
        pipeline.wait_drained(rt)
        assert pipeline.published() == stored_events(rt)  # each sent once: one relay published
        assert logged(second, "relay_standby") and not logged(second, "relay_leading")

        first.kill()
        assert first.proc.returncode == -signal.SIGKILL
        driver.interleaved(10, steps=2)
        wait_until(lambda: logged(second, "relay_leading"), 60, "the standby to take over")
        pipeline.wait_drained(rt)
        assert second.stop() == 0
    assert pipeline.published() >= stored_events(rt)
    pipeline.verify()


def test_connections_carry_a_statement_timeout_and_tcp_keepalives(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DB_STATEMENT_TIMEOUT_MS", "1000")
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "1s"
            dsn = conn.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
            assert (dsn.get("keepalives"), dsn.get("keepalives_idle")) == ("1", "10")
            with pytest.raises(sa.exc.OperationalError) as stuck:
                conn.execute(sa.text("SELECT pg_sleep(5)"))
        assert is_infrastructure(stuck.value)  # a consumer retries it, never parks a message
    finally:
        engine.dispose()


def test_a_relay_closing_with_undelivered_sends_stops_its_producer(
    pipeline: Pipeline, rt: Runtime
) -> None:
    ensure_topic(pipeline.config)
    relay = Relay(StoreReader(rt.app), rt.write_engine, pipeline.config)
    producer = relay._ensure_producer()
    for n in range(3000):
        producer.send(pipeline.config.topic, key=b"k", value=b"x" * 1000 + str(n).encode())
    sender = producer._sender
    assert sender is not None and sender.is_alive()
    relay.close(timeout_s=0)  # what `_recover` does after a broker failure
    assert relay._producer is None
    assert sender not in threading.enumerate()  # no thread left holding the buffer


def test_a_producer_closed_with_nothing_to_send_and_no_time_to_wait_has_no_sender_left(
    pipeline: Pipeline, rt: Runtime
) -> None:
    """kafka-python's `close(timeout=0)` with an empty buffer only tells its sender to stop;
    the relay's close waits for the thread to end."""
    ensure_topic(pipeline.config)
    relay = Relay(StoreReader(rt.app), rt.write_engine, pipeline.config)
    producer = relay._ensure_producer()
    producer.send(pipeline.config.topic, key=b"k", value=b"x").get(timeout=30)
    sender = producer._sender
    assert sender is not None and sender.is_alive()
    relay.close(timeout_s=0)
    assert relay._producer is None
    assert not sender.is_alive()
