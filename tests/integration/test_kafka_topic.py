"""Topic changes on the real broker: a partition count or topic identity other than the one a
read model's offsets describe stops its consumer with the repair to run; a model whose log was
truncated is built from the event store; topics keep their messages for good. Each test ends
with `crm projections verify` exiting 0: nothing lost, nothing applied twice."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions

from consumers.kafka_common import end_offsets, ensure_topic
from consumers.relay import Relay
from consumers.store_reader import StoreReader
from consumers.topology import TopicChanged
from consumers.worker import Worker
from infra.runtime import Runtime
from tests.fakes import FakeClock
from tests.integration.kafka_support import ALL_MODELS, Driver, Pipeline, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def admin(pipeline: Pipeline) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=pipeline.bootstrap)


def start_worker(pipeline: Pipeline, rt: Runtime) -> Worker:
    return Worker(
        pipeline.config, rt.read_engine, reader=StoreReader(rt.app), write_engine=rt.write_engine
    ).start()


def assert_consumers_stop(pipeline: Pipeline, rt: Runtime, expected: str) -> None:
    """A worker started on the changed topic stops by itself, its consumers refusing."""
    worker = start_worker(pipeline, rt)
    try:
        wait_until(worker.stop_event.is_set, 60, "the worker to stop on the changed topic")
    finally:
        worker.stop()
    assert worker.failed == ["read-models"], worker.failed
    with pytest.raises(TopicChanged, match=expected) as refused:
        worker.consumers["work_queue"].join_stream()
    assert "crm projections rebuild work_queue" in str(refused.value)


def rebuild_all(pipeline: Pipeline) -> None:
    for name in ALL_MODELS:
        done = pipeline.crm("projections", "rebuild", name)
        assert done.returncode == 0, done.stderr


def test_a_partition_count_change_stops_relay_and_consumers_until_rebuilt(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(12, steps=2)
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
    client = admin(pipeline)
    try:
        client.create_partitions({pipeline.config.topic: NewPartitions(total_count=8)})
    finally:
        client.close()
    pipeline.partitions = 8  # the operator configures the new count …
    assert_consumers_stop(pipeline, rt, r"partition count changed \(6 → 8\)")
    stale = Relay(StoreReader(rt.app), rt.write_engine, replace(pipeline.config, partitions=6))
    with pytest.raises(TopicChanged, match="CRM_KAFKA_PARTITIONS"):
        stale._check_topic(threading.Event())  # a relay still configured for 6 will not publish
    rebuild_all(pipeline)  # … and rebuilds each model from the store
    with pipeline.worker(rt):
        for reference in references:
            driver.step(reference, 3)
        pipeline.wait_drained(rt)
    pipeline.verify()


def test_a_deleted_and_recreated_topic_stops_the_consumers_until_rebuilt(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    driver = Driver(rt, clock)
    references = driver.interleaved(12, steps=2)
    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
    client = admin(pipeline)
    try:
        client.delete_topics([pipeline.config.topic])
        wait_until(
            lambda: pipeline.config.topic not in client.list_topics(), 60, "the topic to be deleted"
        )
    finally:
        client.close()
    ensure_topic(pipeline.config)
    for reference in references[:4]:  # new events land in the new topic, at offsets from 0
        driver.step(reference, 3)

    assert_consumers_stop(pipeline, rt, "deleted and created again")
    rebuild_all(pipeline)
    with pipeline.worker(rt):
        for reference in references:
            driver.step(reference, 4)
        pipeline.wait_drained(rt)
    pipeline.verify()


def test_a_topic_is_created_keeping_its_messages_for_good(pipeline: Pipeline) -> None:
    ensure_topic(pipeline.config)
    client = admin(pipeline)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, pipeline.config.topic)
        found = client.describe_configs([resource], config_filter="all")
    finally:
        client.close()
    configs = found["topic"][pipeline.config.topic]
    assert configs["retention.ms"]["value"] == "-1"  # not the broker's 7 days
    assert configs["retention.bytes"]["value"] == "-1"


def test_a_model_whose_log_was_truncated_is_built_from_the_store_then_joins_it(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    ensure_topic(pipeline.config)
    client = admin(pipeline)
    try:
        driver = Driver(rt, clock)
        references = driver.interleaved(12, steps=3)
        with pipeline.worker(rt, names=()):  # only the relay: every event published
            wait_until(
                lambda: sum(end_offsets(pipeline.config).values()) >= 48,
                60,
                "the relay to publish every event",
            )
        ends = end_offsets(pipeline.config)
        # Records removed from the log's head (as retention would): the lodgements are gone.
        client.delete_records(
            {TopicPartition(pipeline.config.topic, p): end for p, end in ends.items() if end}
        )
    finally:
        client.close()

    with pipeline.worker(rt) as worker:  # read models never fed: none has a stored offset
        for reference in references:
            driver.step(reference, 4)
        pipeline.wait_drained(rt)
    pipeline.verify()
    assert all(c.built_from_store == 1 for c in worker.consumers.values())
