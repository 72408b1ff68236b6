"""The relay moves its checkpoint only after the broker acknowledged every send of a batch:
a failed or unfinished send leaves it where it was, and the batch is sent again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consumers.kafka_common import KafkaConfig
from consumers.relay import DeliveryFailed, Relay, read_checkpoint, save_checkpoint
from projections.envelope import Envelope

CONFIG = KafkaConfig(bootstrap="localhost:1")


def envelope(position: int) -> Envelope:
    return Envelope(
        schema_version=3,
        council="upper-lachlan",
        position=position,
        event_type="NoteAdded",
        request_id=f"00000000-0000-0000-0000-{position:012d}",
        reference="UL-2026-000001",
        version=1,
        occurred_at="2026-12-01T09:00:00+11:00",
        recorded_at="2026-12-01T09:00:00+11:00",
        actor={"id": "o.smith", "role": "officer"},
        data={},
    )


class Reader:
    def __init__(self, head: int) -> None:
        self.head = head

    def read(self, after: int, limit: int) -> list[Envelope]:
        return [envelope(p) for p in range(after + 1, min(self.head, after + limit) + 1)]


class Future:
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.exception = RuntimeError("broker said no") if outcome == "failed" else None

    def failed(self) -> bool:
        return self.outcome == "failed"

    def succeeded(self) -> bool:
        return self.outcome == "acked"


class Producer:
    """Answers each send with the next outcome ("acked", "failed" or "pending")."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(6))

    def send(self, topic: str, **kwargs: Any) -> Future:
        self.sent.append(kwargs)
        return Future(self.outcomes[len(self.sent) - 1])

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def relay(tmp_path: Path, producer: Producer, head: int) -> Relay:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    r = Relay(Reader(head), engine, CONFIG, batch_size=3)  # type: ignore[arg-type]
    r._producer = producer  # type: ignore[assignment]
    return r


@pytest.mark.parametrize("outcome", ["failed", "pending"])
def test_a_send_not_acknowledged_leaves_the_checkpoint_where_it_was(
    tmp_path: Path, outcome: str
) -> None:
    producer = Producer(["acked", "acked", "acked", "acked", outcome, "acked"])
    r = relay(tmp_path, producer, head=6)
    assert r.publish_batch() == 3
    assert read_checkpoint(r.engine, CONFIG.topic) == 3
    with pytest.raises(DeliveryFailed):
        r.publish_batch()
    assert read_checkpoint(r.engine, CONFIG.topic) == 3
    # after the failure the relay starts again from the checkpoint: the batch is sent again
    r._recover(DeliveryFailed("x"))
    assert producer.closed and r._producer is None
    r._producer = again = Producer(["acked"] * 3)  # type: ignore[assignment]
    assert r.publish_batch() == 3
    assert read_checkpoint(r.engine, CONFIG.topic) == 6
    assert [s["key"] for s in again.sent] == [envelope(p).request_id.encode() for p in (4, 5, 6)]


def test_the_checkpoint_never_moves_back(tmp_path: Path) -> None:
    r = relay(tmp_path, Producer(["acked"] * 3), head=3)
    assert r.publish_batch() == 3
    save_checkpoint(r.engine, CONFIG.topic, 2)
    assert read_checkpoint(r.engine, CONFIG.topic) == 3
