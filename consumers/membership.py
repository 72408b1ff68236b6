"""Whether a consumer holding no partition is a spare or stranded.

A consumer group with more members than the topic has partitions leaves some members idle: they
are spares, waiting for a rebalance. A consumer that holds nothing while partitions of its topic
are held by no member of its group is stranded: the client library lost its place in the group
(seen once under load: evicted, never rejoining, its partitions unread while it looked alive).
`StrandedWatch` tells the two apart from the group's own description, so the consumer can be
replaced by a fresh one; the database holds the positions, so a replacement loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from kafka.errors import KafkaError

from consumers.kafka_common import KafkaConfig, admin_client, topic_partitions

log = structlog.get_logger("consumer")


def unheld_partitions(config: KafkaConfig, group: str) -> set[int]:
    """The topic's partitions that no member of `group` holds: all of them when the group has no
    member, none while it rebalances (the rebalance will hand them out)."""
    admin = admin_client(config)
    try:
        partitions = set(topic_partitions(admin, config.topic))
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    state = described.get("group_state")
    if state in ("Empty", "Dead"):
        return partitions
    if state != "Stable":
        return set()
    held = {
        p
        for member in described.get("members") or []
        for assigned in (member.get("member_assignment") or {}).get("assigned_partitions") or []
        if assigned.get("topic") == config.topic
        for p in assigned.get("partitions") or []
    }
    return partitions - held


class StrandedWatch:
    """Watches one consumer's assignment: `stranded(assigned)` becomes true once it has held no
    partition for `after_s` seconds while some partition of the topic is held by no member of
    its group. A spare (every partition held by others) is looked at again every `after_s`."""

    def __init__(
        self,
        config: KafkaConfig,
        group: str,
        after_s: float,
        unheld: Callable[[KafkaConfig, str], set[int]] = unheld_partitions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.group, self.after_s = config, group, after_s
        self._unheld, self._clock = unheld, clock
        self._since: float | None = None

    def stranded(self, assigned: bool) -> bool:
        now = self._clock()
        if assigned:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        if now - self._since < self.after_s:
            return False
        self._since = now  # a spare is looked at again after another `after_s`
        try:
            unheld = self._unheld(self.config, self.group)
        except KafkaError as error:
            log.info("membership_unknown", group=self.group, error=str(error)[:300])
            return False
        if not unheld:
            return False
        log.warning(
            "consumer_stranded",
            group=self.group,
            unheld_partitions=sorted(unheld),
            idle_s=self.after_s,
            action="replacing the consumer; it resumes from the positions the database holds",
        )
        return True
