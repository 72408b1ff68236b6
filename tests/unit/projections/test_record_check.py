"""The record chain's arithmetic and its check, over events made up in memory: given a log
chained by `extend`, when the log (or the chain) is changed, then `check_chain` names the first
position and what happened there."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from uuid import UUID, uuid5

from projections.record_chain import GENESIS, Entry, Head, extend, link
from projections.record_check import check_anchor, check_chain

NS = UUID("00000000-0000-0000-0000-000000000010")


@dataclass(frozen=True)
class Event:
    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def log_of(n: int) -> list[Event]:
    """`n` events of three aggregates, interleaved, at positions 1..n."""
    versions: dict[int, int] = {}
    out = []
    for i in range(1, n + 1):
        versions[i % 3] = versions.get(i % 3, 0) + 1
        out.append(
            Event(
                i,
                uuid5(NS, str(i % 3)),
                versions[i % 3],
                "councilcrm:Noted",
                f'{{"text":"event {i}"}}'.encode(),
            )
        )
    return out


def chained(events: list[Event], log: str = "requests") -> tuple[Head, list[Entry]]:
    genesis = Head(log=log, position=0, event_count=0, head_hash=GENESIS[log].hex())
    head, rows = extend(genesis, events)
    return head, [Entry(**{k: v for k, v in r.items() if k != "log"}) for r in rows]  # type: ignore[arg-type]


def check(events: list[Event], head: Head, entries: list[Entry]) -> tuple[int, str] | None:
    found = check_chain("requests", iter(events), iter(entries), head).finding
    return None if found is None else (found.position, found.kind)


def test_each_hash_covers_the_previous_one_the_position_and_the_event_as_stored() -> None:
    events = log_of(2)
    head, entries = chained(events)
    e = events[0]
    d = hashlib.sha256(
        e.originator_id.bytes + (1).to_bytes(8, "big") + e.topic.encode() + b"\0" + e.state
    ).digest()
    first = hashlib.sha256(GENESIS["requests"] + (1).to_bytes(8, "big") + d).digest()
    assert entries[0].digest == d.hex() and entries[0].hash == first.hex()
    assert (
        head.head_hash == entries[1].hash == link(first, 2, bytes.fromhex(entries[1].digest)).hex()
    )
    assert (head.position, head.event_count) == (2, 2)


def test_an_untouched_log_checks_out_with_its_count_and_head() -> None:
    events = log_of(10)
    head, entries = chained(events)
    result = check_chain("requests", iter(events), iter(entries), head, frozenset({4}))
    assert result.finding is None
    assert (result.event_count, result.position, result.head_hash) == (10, 10, head.head_hash)
    assert result.hashes_at[4] == (4, entries[3].hash)


def test_events_after_the_chains_head_are_pending_not_wrong() -> None:
    events = log_of(10)
    head, entries = chained(events[:7])
    result = check_chain("requests", iter(events), iter(entries), head)
    assert (result.finding, result.pending, result.position) == (None, 3, 7)


def test_an_altered_event_is_named() -> None:
    events = log_of(10)
    head, entries = chained(events)
    events[5] = replace(events[5], state=events[5].state + b" ")
    assert check(events, head, entries) == (6, "altered")


def test_a_removed_event_is_named_whether_or_not_the_rest_moved_up() -> None:
    events = log_of(10)
    head, entries = chained(events)
    assert check(events[:4] + events[5:], head, entries) == (5, "removed")
    moved_up = events[:4] + [replace(e, id=e.id - 1) for e in events[5:]]
    assert check(moved_up, head, entries) == (5, "removed")


def test_an_inserted_event_is_named_in_a_gap_or_with_the_rest_moved_down() -> None:
    events = [e for e in log_of(10) if e.id != 6]
    head, entries = chained(events)
    forged = Event(6, uuid5(NS, "forged"), 1, "councilcrm:Noted", b"{}")
    assert check(sorted([*events, forged], key=lambda e: e.id), head, entries) == (6, "inserted")
    events = log_of(10)
    head, entries = chained(events)
    forged = replace(forged, id=3)
    shifted = events[:2] + [forged] + [replace(e, id=e.id + 1) for e in events[2:]]
    assert check(shifted, head, entries) == (3, "inserted")


def test_two_swapped_events_are_reordered_at_the_first() -> None:
    events = log_of(10)
    head, entries = chained(events)
    events[2], events[7] = replace(events[7], id=3), replace(events[2], id=8)
    assert check(events, head, entries) == (3, "reordered")


def test_a_chain_edited_or_cut_short_is_damage_to_the_chain_itself() -> None:
    events = log_of(10)
    head, entries = chained(events)
    edited = list(entries)
    edited[4] = replace(edited[4], digest="0" * 64)
    assert check(events, head, edited) == (5, "damaged")
    assert check(events, head, entries[:6]) == (7, "truncated")
    assert check(events, head, []) == (1, "truncated")
    assert check(events, head, entries[:3] + entries[5:]) == (4, "truncated")
    assert check(events, replace(head, event_count=9), entries) == (10, "damaged")


def test_a_chain_not_begun_has_everything_pending_but_one_without_its_head_is_damaged() -> None:
    events = log_of(4)
    _, entries = chained(events)
    begun = check_chain("requests", iter(events), iter([]), None)
    assert (begun.finding, begun.pending) == (None, 4)
    assert check(events, None, entries) == (1, "damaged")  # type: ignore[arg-type]


def test_an_anchor_holds_the_record_to_its_head() -> None:
    events = log_of(10)
    head, entries = chained(events)
    manifest = {
        "position": {"requests": 6},
        "event_count": {"requests": 6},
        "head_hash": {"requests": entries[5].hash},
    }
    result = check_chain("requests", iter(events), iter(entries), head, frozenset({6}))
    assert check_anchor("a.json", manifest, {"requests": result}) is None
    rewritten = list(events)
    rewritten[1] = replace(rewritten[1], state=b"{}")
    head2, entries2 = chained(rewritten)
    result = check_chain("requests", iter(rewritten), iter(entries2), head2, frozenset({6}))
    found = check_anchor("a.json", manifest, {"requests": result})
    assert found is not None and (found.position, found.kind) == (6, "altered")
    result = check_chain(
        "requests",
        iter(events[:5]),
        iter(entries[:5]),
        replace(head, position=5, event_count=5, head_hash=entries[4].hash),
        frozenset({6}),
    )
    found = check_anchor("a.json", manifest, {"requests": result})
    assert found is not None and (found.position, found.kind) == (6, "removed")
