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
from dataclasses import replace
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

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
    consumer.stranded_after_s = 5.0
    with running(relay, consumer):
        for n in range(4):
            reference = driver.lodge(n=n).reference
            driver.step(reference, 1)
            driver.step(reference, 2)
        wait_until(lambda: consumer.replaced >= 1, 60, "the stranded client to be replaced")
        pipeline.wait_drained(rt)
    pipeline.verify()


def members(group: str, topic: str, pipeline: Pipeline, n: int) -> list[KafkaConsumer]:
    made = []
    for _ in range(n):
        member = KafkaConsumer(
            bootstrap_servers=pipeline.bootstrap, group_id=group, enable_auto_commit=False
        )
        member.subscribe([topic])
        made.append(member)
    return made


def held(consumers: list[KafkaConsumer]) -> int:
    """Polls each member once; how many partitions they hold in all."""
    for member in consumers:
        member.poll(timeout_ms=200)
    return sum(len(member.assignment()) for member in consumers)


def test_the_group_says_which_partitions_no_member_holds(pipeline: Pipeline) -> None:
    ensure_topic(pipeline.config)
    config, group = pipeline.config, pipeline.config.models_group(ALL_MODELS)
    every = set(range(pipeline.partitions))
    assert unheld_partitions(config, group) == every
    (member,) = members(group, config.topic, pipeline, 1)
    try:
        wait_until(lambda: held([member]) == pipeline.partitions, 60, "every partition held")
        wait_until(lambda: unheld_partitions(config, group) == set(), 30, "the group to say so")
    finally:
        member.close()
    wait_until(lambda: unheld_partitions(config, group) == every, 30, "the group to be empty")


def test_a_spare_in_a_group_with_more_members_than_partitions_sees_nothing_unheld(
    pipeline: Pipeline,
) -> None:
    one = replace(pipeline.config, topic=f"{pipeline.config.topic}-one", partitions=1)
    ensure_topic(one)
    group = f"{one.group_prefix}spares"
    both = members(group, one.topic, pipeline, 2)
    try:
        # wait until one of the two holds the partition, the other nothing, the group stable
        wait_until(
            lambda: held(both) == 1 and unheld_partitions(one, group) == set(),
            60,
            "one member to hold the partition and the other to be a spare",
        )
        spare = next(m for m in both if not m.assignment())
        assert held([spare]) == 0 and unheld_partitions(one, group) == set()
    finally:
        for member in both:
            member.close()
        admin = KafkaAdminClient(bootstrap_servers=pipeline.bootstrap)
        try:
            admin.delete_groups([group])
            admin.delete_topics([one.topic])
        finally:
            admin.close()
