"""The fast verification: given a log and its stored chain, untouched or changed in any of the
ways `crm record verify` must catch, when it is checked in batches, then the result is the one
the careful walk gives — the same finding, count, head, pending events and anchored hashes —
and an untouched log is never walked event by event."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import pytest

from projections.record_chain import (
    Entry,
    Head,
    Packed,
    PackedEntries,
    Row,
    StoredEvent,
    chain_packed,
    extend,
    pack,
)
from projections.record_check import LogCheck, check_chain, check_chain_in_batches
from tests.unit.projections.test_record_check import Event, chained, log_of


class Lists:
    """A log's store and stored chain in memory, read as the fast path reads them (each
    batch packed in one of the two forms a database packs it in)."""

    def __init__(
        self, events: list[Event], entries: list[Entry], ids: str = "uuid", whole: bool = False
    ) -> None:
        self.events, self.entries_, self.ids, self.whole = events, entries, ids, whole
        self.walked = 0  # how often the careful walk was started

    def _id(self, e: Event) -> bytes | memoryview | str:
        match self.ids:
            case "text":
                return str(e.originator_id)
            case "hex":
                return e.originator_id.hex
            case "buffer":
                return memoryview(e.originator_id.bytes)
        return e.originator_id.bytes

    def rows(self, after: int, upto: int, limit: int) -> Sequence[Row]:
        return [
            (e.id, self._id(e), e.originator_version, e.topic, e.state)
            for e in self.events
            if after < e.id <= upto
        ][:limit]

    def batch(self, after: int, upto: int, limit: int) -> Packed:
        return pack(self.rows(after, upto, limit), self.whole)

    def entries(self, after: int, upto: int) -> PackedEntries:
        found = [c for c in self.entries_ if after < c.position <= upto]
        return PackedEntries(
            count=len(found),
            positions=",".join(str(c.position) for c in found),
            digests="".join(c.digest for c in found),
            hashes="".join(c.hash for c in found),
        )

    def store(self, after: int) -> Iterator[StoredEvent]:
        self.walked += 1
        return iter([e for e in self.events if e.id > after])

    def chain_from(self, after: int) -> Iterator[Entry]:
        return iter([c for c in self.entries_ if c.position > after])

    def count_after(self, position: int) -> int:
        return sum(1 for e in self.events if e.id > position)


def same(a: LogCheck, b: LogCheck) -> None:
    assert (a.finding, a.position, a.event_count, a.head_hash, a.pending, a.hashes_at) == (
        b.finding,
        b.position,
        b.event_count,
        b.head_hash,
        b.pending,
        b.hashes_at,
    )


Change = Callable[[list[Event], list[Entry]], None]


def altered(events: list[Event], _: list[Entry]) -> None:
    events[11] = replace(events[11], state=events[11].state + b" ")


def removed(events: list[Event], _: list[Entry]) -> None:
    del events[8]


def removed_and_moved_up(events: list[Event], _: list[Entry]) -> None:
    del events[8]
    events[8:] = [replace(e, id=e.id - 1) for e in events[8:]]


def inserted(events: list[Event], _: list[Entry]) -> None:
    events[4:] = [replace(e, id=e.id + 1) for e in events[4:]]
    events.insert(4, replace(events[0], id=5, originator_version=99))


def swapped(events: list[Event], _: list[Entry]) -> None:
    events[6], events[9] = replace(events[9], id=7), replace(events[6], id=10)


def last_removed(events: list[Event], _: list[Entry]) -> None:
    del events[17:]  # the last chained event, and those not chained yet


def entry_edited(_: list[Event], entries: list[Entry]) -> None:
    entries[13] = replace(entries[13], digest="0" * 64)


def hash_edited(_: list[Event], entries: list[Entry]) -> None:
    entries[2] = replace(entries[2], hash="f" * 64)


def chain_truncated(_: list[Event], entries: list[Entry]) -> None:
    del entries[5:]


def entry_missing(_: list[Event], entries: list[Entry]) -> None:
    del entries[10]


def entry_past_the_head(events: list[Event], entries: list[Entry]) -> None:
    entries.append(replace(entries[-1], position=events[-1].id + 5))


def untouched(_: list[Event], __: list[Entry]) -> None:
    pass


CHANGES = [
    untouched,
    altered,
    removed,
    removed_and_moved_up,
    inserted,
    swapped,
    last_removed,
    entry_edited,
    hash_edited,
    chain_truncated,
    entry_missing,
    entry_past_the_head,
]


@pytest.mark.parametrize("whole", [False, True], ids=["split", "whole"])
@pytest.mark.parametrize("batch", [1, 3, 7, 1000])
@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__)
def test_batches_find_what_the_careful_walk_finds(change: Change, batch: int, whole: bool) -> None:
    events = log_of(20)
    head, entries = chained(events[:18])  # two events not chained yet: pending
    change(events, entries)
    anchored = frozenset({4, 12, 18})
    careful = check_chain("requests", iter(events), iter(entries), head, anchored)
    source = Lists(events, entries, whole=whole)
    fast = check_chain_in_batches("requests", source, head, anchored, batch)
    same(fast, careful)
    assert (careful.finding is None) == (change is untouched)


@pytest.mark.parametrize("ids", ["uuid", "text", "hex", "buffer"])
def test_an_untouched_log_is_checked_batch_by_batch_without_the_careful_walk(ids: str) -> None:
    events = log_of(50)
    head, entries = chained(events)
    source = Lists(events, entries, ids)
    result = check_chain_in_batches("requests", source, head, frozenset({7}), batch=8)
    assert result.finding is None and source.walked == 0
    assert (result.position, result.event_count, result.head_hash) == (50, 50, head.head_hash)
    assert result.hashes_at[7] == (7, entries[6].hash)


def test_a_head_row_that_claims_more_than_the_entries_is_damage() -> None:
    events = log_of(10)
    head, entries = chained(events)
    claimed = Head(log="requests", position=10, event_count=11, head_hash=head.head_hash)
    fast = check_chain_in_batches("requests", Lists(events, entries), claimed, batch=4)
    same(fast, check_chain("requests", iter(events), iter(entries), claimed))
    assert fast.finding is not None and fast.finding.kind == "damaged"


def test_a_chain_without_its_head_is_walked_carefully() -> None:
    events = log_of(5)
    _, entries = chained(events)
    fast = check_chain_in_batches("requests", Lists(events, entries), None, batch=2)
    same(fast, check_chain("requests", iter(events), iter(entries), None))
    assert fast.finding is not None and fast.finding.kind == "damaged"


@pytest.mark.parametrize("whole", [False, True], ids=["split", "whole"])
def test_packed_rows_hash_as_extend_chains_them(whole: bool) -> None:
    events = log_of(6)
    head, rows = extend(chained([])[0], events)
    source = Lists(events, [], "text", whole)
    packed = source.batch(0, 6, 10)
    found = chain_packed(bytes.fromhex(chained([])[0].head_hash), packed)
    assert found is not None
    digests, hashes = found
    assert digests.hex() == "".join(str(r["digest"]) for r in rows)
    assert hashes.hex() == "".join(str(r["hash"]) for r in rows)
    assert hashes[-32:].hex() == head.head_hash


def broken(packed: Packed, **change: object) -> Packed:
    return Packed(**{**vars(packed), **change})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"sound": False},
        {"lengths": "1,2"},
        {"lengths": "x"},
        {"links": b""},
        {"heads": []},
        {"data": b"short"},
    ],
    ids=[
        "unsound",
        "too-few-lengths",
        "unreadable-lengths",
        "no-links",
        "no-heads",
        "lengths-over-data",
    ],
)
def test_a_batch_that_does_not_add_up_is_never_taken_as_agreeing(change: dict[str, object]) -> None:
    events = log_of(4)
    packed = Lists(events, []).batch(0, 4, 10)
    assert chain_packed(b"\0" * 32, packed) is not None
    assert chain_packed(b"\0" * 32, broken(packed, **change)) is None
