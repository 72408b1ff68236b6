"""The relay sends each request's events to the partition kafka-python's default partitioner
would choose for the request's key (murmur2 of the key, as Kafka's Java client), working it
out once per request, and follows a change of the topic's partition count."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from kafka.partitioner.default import DefaultPartitioner

from consumers.kafka_common import KafkaConfig
from consumers.relay import Relay
from projections.envelope import Envelope

TOPIC = "councilcrm.service-requests"


class Cluster:
    """What the default partitioner asks of the producer's metadata."""

    def __init__(self, count: int) -> None:
        self.count = count

    def topics(self) -> set[str]:
        return {TOPIC}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.count))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.count))


class Producer:
    """Records each send."""

    def __init__(self, count: int) -> None:
        self.cluster = Cluster(count)
        self.sent: list[dict[str, Any]] = []

    def partitions_for(self, topic: str) -> set[int]:
        return self.cluster.partitions_for_topic(topic)

    def send(self, topic: str, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, **kwargs})


def envelope(request_id: str, version: int, event_type: str = "NoteAdded") -> Envelope:
    return Envelope(
        schema_version=3,
        council="upper-lachlan",
        position=version,
        event_type=event_type,
        request_id=request_id,
        reference="UL-2026-000001",
        version=version,
        occurred_at="2026-12-01T09:00:00+11:00",
        recorded_at="2026-12-01T09:00:00+11:00",
        actor={"id": "o.smith", "role": "officer"},
        data={},
    )


def relay() -> Relay:
    return Relay(None, sa.create_engine("sqlite://"), KafkaConfig(bootstrap="localhost:1"))  # type: ignore[arg-type]


def send_all(r: Relay, producer: Producer, envelopes: list[Envelope]) -> None:
    r._know_partitions(producer)  # type: ignore[arg-type]
    for env in envelopes:
        r._send(producer, env)  # type: ignore[arg-type]


def test_each_request_goes_where_the_default_partitioner_sends_its_key() -> None:
    ids = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(200)]
    for count in (1, 6, 7):
        r, producer = relay(), Producer(count)
        send_all(r, producer, [envelope(rid, v) for v in (1, 2) for rid in ids])
        default = DefaultPartitioner()
        for sent in producer.sent:
            key = sent["key"]
            expected = default.partition(TOPIC, key, key, None, None, producer.cluster)
            assert sent["partition"] == expected
        assert {s["partition"] for s in producer.sent} == set(range(count))
        assert [s["key"] for s in producer.sent] == [rid.encode() for rid in ids] * 2


def test_a_changed_partition_count_is_followed() -> None:
    rid = next(
        str(uuid.UUID(int=n))
        for n in range(1000)
        if DefaultPartitioner().partition(
            TOPIC, None, str(uuid.UUID(int=n)).encode(), None, None, Cluster(6)
        )
        == 5
    )
    r = relay()
    six, three = Producer(6), Producer(3)
    send_all(r, six, [envelope(rid, 1)])
    send_all(r, three, [envelope(rid, 2)])
    assert six.sent[0]["partition"] == 5
    assert three.sent[0]["partition"] == DefaultPartitioner().partition(
        TOPIC, None, rid.encode(), None, None, three.cluster
    )
    assert three.sent[0]["partition"] < 3


def test_headers_name_the_event_type_and_schema_version() -> None:
    r, producer = relay(), Producer(6)
    send_all(
        r, producer, [envelope("a", 1, "Lodged"), envelope("a", 2), envelope("b", 1, "Lodged")]
    )
    assert [s["headers"] for s in producer.sent] == [
        [("event_type", b"Lodged"), ("schema_version", b"3")],
        [("event_type", b"NoteAdded"), ("schema_version", b"3")],
        [("event_type", b"Lodged"), ("schema_version", b"3")],
    ]
    assert producer.sent[0]["value"] == envelope("a", 1, "Lodged").to_json()
