"""A consumer whose Kafka client lost its place in the group is replaced, on the real broker.

Once, under load, the read models' consumer was evicted from its group and never rejoined: it
looked alive while its partitions went unread. Here the first client of a consumer leaves its
group at once (as an evicted client that never rejoins would be): the consumer finds itself
stranded, starts a fresh client, and the read models catch up with nothing lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kafka import KafkaConsumer

from consumers.kafka_common import ensure_topic
from consumers.kafka_consumer import ReadModelsConsumer
from consumers.membership import unheld_partitions
from consumers.relay import Relay
from consumers.store_reader import StoreReader
from infra.runtime import Runtime
from projections import registry
from tests.fakes import FakeClock
from tests.integration.kafka_support import ALL_MODELS, Driver, Pipeline, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


class FirstClientLeavesItsGroup(ReadModelsConsumer):
    """Its first Kafka client leaves the group before joining it and never comes back."""

    def _make_consumer(self) -> Any:
        consumer = super()._make_consumer()
        if self.replaced == 0:
            consumer.unsubscribe()
        return consumer


@contextmanager
def running(*parts: Relay | ReadModelsConsumer) -> Iterator[None]:
    stop = threading.Event()
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in parts]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()


def test_a_consumer_whose_client_left_its_group_is_replaced_and_catches_up(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    ensure_topic(pipeline.config)
    relay = Relay(StoreReader(rt.app), rt.write_engine, pipeline.config)
    consumer = FirstClientLeavesItsGroup(
        [registry.build(n) for n in ALL_MODELS], rt.read_engine, pipeline.config
    )
    consumer.stranded_after_s = 2.0
    with running(relay, consumer):
        for n in range(4):
            reference = driver.lodge(n=n).reference
            driver.step(reference, 1)
            driver.step(reference, 2)
        wait_until(lambda: consumer.replaced == 1, 60, "the stranded client to be replaced")
        pipeline.wait_drained(rt)
    assert consumer.replaced == 1
    pipeline.verify()


def test_the_group_says_which_partitions_no_member_holds(pipeline: Pipeline) -> None:
    ensure_topic(pipeline.config)
    group = pipeline.config.models_group(ALL_MODELS)
    assert unheld_partitions(pipeline.config, group) == set(range(pipeline.partitions))
    member = KafkaConsumer(
        bootstrap_servers=pipeline.bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        member.subscribe([pipeline.config.topic])

        def holds_all() -> bool:
            member.poll(timeout_ms=200)
            return len(member.assignment()) == pipeline.partitions

        wait_until(holds_all, 60, "the member to hold every partition")
        wait_until(
            lambda: unheld_partitions(pipeline.config, group) == set(),
            30,
            "the group to show every partition held",
        )
    finally:
        member.close()
    assert unheld_partitions(pipeline.config, group) == set(range(pipeline.partitions))
