"""A consumer holding no partition: a spare is left alone, a stranded one is found."""

from __future__ import annotations

from kafka.errors import KafkaConnectionError

from consumers.kafka_common import KafkaConfig
from consumers.membership import StrandedWatch

CONFIG = KafkaConfig(bootstrap="127.0.0.1:1", topic="t", partitions=6, group_prefix="g.")


class Group:
    """What the group's description says is unheld; counts the questions asked."""

    def __init__(self, unheld: set[int] | Exception) -> None:
        self.unheld, self.asked = unheld, 0

    def __call__(self, _config: KafkaConfig, _group: str) -> set[int]:
        self.asked += 1
        if isinstance(self.unheld, Exception):
            raise self.unheld
        return self.unheld


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watch(group: Group, clock: Clock) -> StrandedWatch:
    return StrandedWatch(CONFIG, "g.read-models", 30.0, unheld=group, clock=clock)


def test_holding_partitions_is_never_stranded_and_asks_nothing() -> None:
    group, clock = Group({0, 1}), Clock()
    w = watch(group, clock)
    for _ in range(5):
        assert not w.stranded(assigned=True)
        clock.now += 60
    assert group.asked == 0


def test_holding_nothing_while_partitions_go_unheld_is_stranded_after_the_wait() -> None:
    group, clock = Group({3}), Clock()
    w = watch(group, clock)
    assert not w.stranded(assigned=False)
    clock.now += 29
    assert not w.stranded(assigned=False)
    assert group.asked == 0  # a join in progress is not asked about
    clock.now += 1
    assert w.stranded(assigned=False)
    assert group.asked == 1


def test_an_assignment_starts_the_wait_again() -> None:
    group, clock = Group({3}), Clock()
    w = watch(group, clock)
    w.stranded(assigned=False)
    clock.now += 20
    w.stranded(assigned=True)
    clock.now += 20
    assert not w.stranded(assigned=False)
    clock.now += 29
    assert not w.stranded(assigned=False)
    assert group.asked == 0


def test_a_spare_is_left_alone_and_looked_at_again_only_after_another_wait() -> None:
    group, clock = Group(set()), Clock()
    w = watch(group, clock)
    w.stranded(assigned=False)
    clock.now += 30
    assert not w.stranded(assigned=False)
    clock.now += 10
    assert not w.stranded(assigned=False)
    assert group.asked == 1
    clock.now += 20
    assert not w.stranded(assigned=False)
    assert group.asked == 2


def test_an_unanswered_question_is_not_stranded() -> None:
    group, clock = Group(KafkaConnectionError()), Clock()
    w = watch(group, clock)
    w.stranded(assigned=False)
    clock.now += 30
    assert not w.stranded(assigned=False)
    assert group.asked == 1
