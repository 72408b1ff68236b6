"""Which part of a polled batch each read model fed by one consumer may apply: a model never
applies a batch fetched past its stored offset, unless the consumer already rewound the
partition to exactly that offset (then the log itself has a gap there)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from kafka import TopicPartition

from consumers.kafka_common import KafkaConfig
from consumers.kafka_consumer import ReadModelsConsumer
from projections import registry

TP = TopicPartition("councilcrm.service-requests", 0)


def consumer() -> ReadModelsConsumer:
    engine = sa.create_engine("sqlite://")
    return ReadModelsConsumer(
        [registry.build("work_queue")], engine, KafkaConfig(bootstrap="localhost:1")
    )


def batch(first: int, last: int) -> dict[TopicPartition, list[Any]]:
    return {TP: [(SimpleNamespace(offset=o), None, "test") for o in range(first, last + 1)]}


def test_a_model_applies_from_its_stored_offset_within_the_batch() -> None:
    fresh, gaps = consumer()._fresh(batch(40, 60), {0: 50})
    assert [d[0].offset for d in fresh[TP]] == list(range(50, 61))
    assert gaps == {}


def test_a_batch_fetched_past_the_stored_offset_is_a_gap_to_rewind_to() -> None:
    fresh, gaps = consumer()._fresh(batch(70, 80), {0: 50})
    assert TP not in fresh
    assert gaps == {TP: 50}


def test_only_a_rewind_to_exactly_the_stored_offset_excuses_a_gap() -> None:
    c = consumer()
    c._rewound[TP] = (30, 0)  # an earlier rewind (another model was rebuilt), then polls
    c._polls = 5
    _, gaps = c._fresh(batch(70, 80), {0: 50})
    assert gaps == {TP: 50}, "a rewind to another offset must not skip offsets 50–69"
    c._rewound[TP] = (50, 5)
    c._polls = 6
    fresh, gaps = c._fresh(batch(70, 80), {0: 50})
    assert gaps == {} and fresh[TP][0][0].offset == 70  # the log starts at 70: nothing below
