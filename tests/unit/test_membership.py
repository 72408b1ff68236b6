"""A consumer holding no partition: a spare is left alone, a stranded one is found."""

from __future__ import annotations

from typing import Any

from kafka.errors import KafkaConnectionError

from consumers.kafka_common import KafkaConfig
from consumers.membership import StrandedWatch, unheld

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


def test_an_unexpected_answer_is_not_stranded() -> None:
    group, clock = Group(ValueError("Buffer underrun")), Clock()
    w = watch(group, clock)
    w.stranded(assigned=False)
    clock.now += 30
    assert not w.stranded(assigned=False)


def test_replacements_in_a_row_wait_twice_as_long_each_up_to_a_bound() -> None:
    waits = [StrandedWatch(CONFIG, "g", 30.0, in_a_row=n).after_s for n in range(7)]
    assert waits == [30.0, 60.0, 120.0, 240.0, 480.0, 480.0, 480.0]


def member(*assigned: tuple[str, list[int]]) -> dict[str, Any]:
    """A member as kafka-python's `describe_groups` gives it."""
    return {
        "member_id": "m",
        "member_assignment": {
            "assigned_partitions": [{"topic": t, "partitions": ps} for t, ps in assigned],
            "user_data": "",
        },
    }


def test_a_stable_groups_unheld_partitions_are_those_no_member_of_it_holds() -> None:
    described = {
        "group_state": "Stable",
        "members": [
            member(("t", [0, 1]), ("other", [2, 3])),
            member(("t", [2])),
            {"member_id": "spare", "member_assignment": ""},  # a spare's is empty
        ],
    }
    assert unheld(described, "t", range(6)) == {3, 4, 5}


def test_a_group_with_no_member_leaves_everything_unheld_and_a_rebalance_nothing() -> None:
    for state in ("Empty", "Dead"):
        assert unheld({"group_state": state, "members": []}, "t", range(3)) == {0, 1, 2}
    for state in ("PreparingRebalance", "CompletingRebalance"):
        assert unheld({"group_state": state, "members": []}, "t", range(3)) == set()
