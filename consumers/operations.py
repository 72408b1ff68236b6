"""Rebuild and verify read models from the event store, the source of truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from consumers import topology
from consumers.follower import Progress, catch_up
from consumers.kafka_common import KafkaConfig, end_offsets
from consumers.store_reader import StoreReader
from projections import registry

SCRATCH_PREFIX = "scratch_"


def rebuild(
    reader: StoreReader, engine: sa.Engine, name: str, progress: Progress | None = None,
    prefix: str = "", until: int | None = None,
) -> int:
    """Drops the read model (rows and positions) and replays the whole store into it."""
    model = registry.build(name, prefix)
    model.drop(engine)
    model.create(engine)
    return catch_up(reader, engine, [model], batch_size=2000, progress=progress, until=until)


def rebuild_for_stream(
    reader: StoreReader, engine: sa.Engine, name: str, config: KafkaConfig,
    progress: Progress | None = None,
) -> int:
    """Builds the read model from the event store and joins it to the topic as it is now: it
    stores, per partition, the end offset read *before* the store's head (every message below
    it is in the rebuild; one at or after it is applied, or skipped as already applied, by the
    consumer), and records the topic's identity and partition count."""
    found = topology.describe(config)
    ends = end_offsets(config)
    n = rebuild(reader, engine, name, progress=progress, until=reader.head())
    model = registry.build(name)
    topology.ensure_table(engine)
    with engine.begin() as conn:
        for partition, offset in ends.items():
            model.set_position(conn, config.source(partition), offset)
        if found is not None:
            topology.record(conn, name, config.topic, found)
    return n


@dataclass
class Drift:
    """How a live read model differs from one rebuilt from the store."""

    name: str
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


Snapshot = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


def compare(name: str, live: Snapshot, rebuilt: Snapshot, limit: int = 5) -> Drift:
    """The first `limit` rows that differ, missing or extra, table by table."""
    drift = Drift(name)
    for table, want in rebuilt.items():
        got = live.get(table, {})
        for key in sorted(set(got) | set(want), key=str):
            if got.get(key) != want.get(key):
                drift.differences.append(
                    f"{table} {key}: live {got.get(key)!r} != rebuilt {want.get(key)!r}"
                )
                if len(drift.differences) >= limit:
                    return drift
    return drift


def verify(
    reader: StoreReader, engine: sa.Engine, names: Sequence[str], until: int | None = None,
) -> list[Drift]:
    """Rebuilds each read model into scratch tables up to `until` (default: the store's head)
    and compares it row by row with the live one."""
    head = reader.head() if until is None else until
    out = []
    for name in names:
        rebuild(reader, engine, name, prefix=SCRATCH_PREFIX, until=head)
        live, scratch = registry.build(name), registry.build(name, SCRATCH_PREFIX)
        with engine.connect() as conn:
            drift = compare(name, live.snapshot(conn), scratch.snapshot(conn))
        scratch.drop(engine)
        out.append(drift)
    return out
