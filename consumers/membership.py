"""Whether a consumer holding no partition is a spare or stranded.

A consumer group with more members than the topic has partitions leaves some members idle: they
are spares, waiting for a rebalance. A consumer that holds nothing while partitions of its topic
are held by no member of its group is stranded: the client library lost its place in the group
(seen once under load: evicted, never rejoining, its partitions unread while it looked alive).
`StrandedWatch` tells the two apart from the group's own description, so the consumer can be
replaced by a fresh client; the database holds the positions, so a replacement loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import structlog

from consumers.kafka_common import KafkaConfig, admin_client, topic_partitions

log = structlog.get_logger("consumer")

# Replacements in a row (each new client stranded in turn) wait twice as long each time, up to
# this many doublings: a broker that keeps refusing a client is not asked every few seconds.
MAX_DOUBLINGS = 4


def unheld(described: Mapping[str, Any], topic: str, partitions: Collection[int]) -> set[int]:
    """Of `partitions` of `topic`, those no member of the group `described` holds (one group of
    kafka-python's `describe_groups`): all of them when the group has no member, none while it
    rebalances (the rebalance hands them out)."""
    state = described.get("group_state")
    if state in ("Empty", "Dead"):
        return set(partitions)
    if state != "Stable":
        return set()
    held: set[int] = set()
    for member in described.get("members") or []:
        assignment = member.get("member_assignment")
        if not isinstance(assignment, Mapping):  # a spare's is empty
            continue
        for assigned in assignment.get("assigned_partitions") or []:
            if assigned.get("topic") == topic:
                held.update(assigned.get("partitions") or [])
    return set(partitions) - held


def unheld_partitions(config: KafkaConfig, group: str) -> set[int]:
    """The topic's partitions that no member of `group` holds, as the broker describes them."""
    admin = admin_client(config)
    try:
        partitions = topic_partitions(admin, config.topic)
        described = admin.describe_groups([group]).get(group) or {}
    finally:
        admin.close()
    return unheld(described, config.topic, partitions)


class StrandedWatch:
    """Watches one consumer's assignment: `stranded(assigned)` becomes true once it has held no
    partition for `after_s` seconds while some partition of the topic is held by no member of
    its group. A spare (every partition held by others) is looked at again every `after_s`.
    `in_a_row` replacements before this one (none of them ever assigned) double the wait each."""

    def __init__(
        self,
        config: KafkaConfig,
        group: str,
        after_s: float,
        in_a_row: int = 0,
        unheld: Callable[[KafkaConfig, str], set[int]] = unheld_partitions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.group = config, group
        self.after_s = after_s * 2 ** min(in_a_row, MAX_DOUBLINGS)
        self._unheld, self._clock = unheld, clock
        self._idle_since: float | None = None  # holding nothing since
        self._looked_at = 0.0  # when the group was last asked (or the idling began)
        self.ever_assigned = False

    def stranded(self, assigned: bool) -> bool:
        now = self._clock()
        if assigned:
            self._idle_since = None
            self.ever_assigned = True
            return False
        if self._idle_since is None:
            self._idle_since = self._looked_at = now
        if now - self._looked_at < self.after_s:
            return False
        self._looked_at = now  # a spare is looked at again after another `after_s`
        try:
            found = self._unheld(self.config, self.group)
        except Exception as error:  # noqa: BLE001 - only advice: an unanswered question is "no"
            log.info("membership_unknown", group=self.group, error=repr(error)[:300])
            return False
        if not found:
            return False
        log.warning(
            "consumer_stranded",
            group=self.group,
            unheld_partitions=sorted(found),
            idle_s=round(now - self._idle_since, 1),
            action="replacing the Kafka client; it resumes from the positions the database holds",
        )
        return True
