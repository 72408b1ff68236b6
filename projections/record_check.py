"""Checking the record: the chain recomputed from the event store against the stored chain,
the audit record and signed anchors. Pure logic over streams; the first disagreement wins.

Each finding names the log, the first position where the event store and a source part ways,
what happened there as that source sees it, and the source:

- `altered`   — the event at that position is not the one the source recorded;
- `removed`   — the source recorded an event there that the store no longer has;
- `inserted`  — the store has an event there that the source never recorded;
- `reordered` — the event recorded there is now at another position;
- `truncated` — the stored chain lacks its entries from there on (its head says it had them);
- `damaged`   — a stored chain entry or head does not hash to what it claims.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from projections.audit_record import AuditRecord
from projections.envelope import Envelope
from projections.record_chain import (
    GENESIS,
    Entry,
    Head,
    Packed,
    PackedEntries,
    StoredEvent,
    chain_packed,
    digest,
    identity,
    link,
)

CHAIN = "stored chain"
AUDIT = "audit record"


@dataclass(frozen=True, kw_only=True)
class Finding:
    log: str
    position: int
    kind: str
    source: str
    detail: str

    def line(self) -> str:
        return (
            f"{self.source} disagrees: {self.log} log, position {self.position}: "
            f"{self.kind} — {self.detail}"
        )


@dataclass(kw_only=True)
class LogCheck:
    """The result of recomputing one log's chain up to the stored chain's head."""

    log: str
    position: int = 0
    event_count: int = 0
    head_hash: str = ""
    pending: int = 0  # events stored after the chain's head, not chained yet
    hashes_at: dict[int, tuple[int, str]] = field(default_factory=dict)
    finding: Finding | None = None


def _describe(ident: tuple[str, int]) -> str:
    return f"version {ident[1]} of aggregate {ident[0]}"


def check_chain(
    log: str,
    store: Iterator[StoredEvent],
    chain: Iterator[Entry],
    head: Head | None,
    wanted: frozenset[int] = frozenset(),
    agreed: LogCheck | None = None,
) -> LogCheck:
    """Walks the store and the stored chain together, position by position, up to the head;
    `hashes_at` keeps the recomputed (count, hash) at each `wanted` position (for anchors).
    With `agreed` (what is known to agree up to its position), the walk goes on from there:
    `store` and `chain` then start after that position."""
    result = agreed or LogCheck(log=log, head_hash=GENESIS[log].hex())
    if head is None:  # not begun (nothing chained yet), unless it has entries
        entry = next(chain, None)
        if entry is not None:
            result.finding = Finding(
                log=log,
                position=entry.position,
                kind="damaged",
                source=CHAIN,
                detail="the stored chain has entries but its head record is missing",
            )
        result.pending = sum(1 for _ in store)
        return result
    walk = _Walk(log, store, chain, head, result, wanted)
    walk.run()
    return result


class _Walk:
    def __init__(
        self,
        log: str,
        store: Iterator[StoredEvent],
        chain: Iterator[Entry],
        head: Head,
        result: LogCheck,
        wanted: frozenset[int],
    ) -> None:
        self.log, self.store, self.chain, self.head = log, store, chain, head
        self.result, self.wanted = result, wanted
        self.recomputed = self.chained = bytes.fromhex(result.head_hash)

    def found(self, position: int, kind: str, detail: str, source: str = CHAIN) -> None:
        self.result.finding = Finding(
            log=self.log, position=position, kind=kind, source=source, detail=detail
        )

    def run(self) -> None:
        s, c = next(self.store, None), next(self.chain, None)
        while True:
            if s is not None and s.id > self.head.position:
                self.result.pending = 1 + sum(1 for _ in self.store)
                s = None
            if s is None and c is None:
                return self.close()
            if c is None or (s is not None and s.id < c.position):
                assert s is not None
                return self.missing_entry(s, c)
            if s is None or c.position < s.id:
                return self.found(
                    c.position,
                    "removed",
                    f"the chained {_describe(c.identity)} is not in the event store",
                )
            if link(self.chained, c.position, bytes.fromhex(c.digest)).hex() != c.hash:
                return self.found(
                    c.position,
                    "damaged",
                    "the stored chain's entry does not hash to what it claims",
                )
            d = digest(s)
            if d.hex() != c.digest:
                return self.mismatch(s, c)
            self.accept(s.id, d, bytes.fromhex(c.hash))
            s, c = next(self.store, None), next(self.chain, None)

    def accept(self, position: int, d: bytes, chained: bytes) -> None:
        self.recomputed = link(self.recomputed, position, d)
        self.chained = chained
        r = self.result
        r.position, r.event_count, r.head_hash = position, r.event_count + 1, self.recomputed.hex()
        if position in self.wanted:
            r.hashes_at[position] = (r.event_count, r.head_hash)

    def missing_entry(self, s: StoredEvent, c: Entry | None) -> None:
        """The store has an event at a position the chain has no entry for: an event slipped
        into the log (the chain links straight over it), or entries gone from the chain."""
        if (
            c is not None
            and link(self.chained, c.position, bytes.fromhex(c.digest)).hex() == c.hash
        ):
            return self.found(s.id, "inserted", f"{_describe(identity(s))} was never chained")
        end = self.head.position if c is None else c.position - 1
        missing = 1 + sum(1 for e in self.store if e.id <= end)
        return self.found(
            s.id,
            "truncated",
            f"the stored chain has no entries for positions {s.id} to {end} "
            f"({missing} stored events), though its head is at position "
            f"{self.head.position}",
        )

    def mismatch(self, s: StoredEvent, c: Entry) -> None:
        here = identity(s)
        if here == c.identity:
            return self.found(s.id, "altered", f"{_describe(here)} is not as chained")
        later_store = {identity(e): e.id for e in self.store}
        later_chain = {e.identity: e.position for e in self.chain}
        moved_to, chained_at = later_store.get(c.identity), later_chain.get(here)
        if moved_to is not None and chained_at is not None:
            return self.found(
                s.id,
                "reordered",
                f"the event chained here is now at position {moved_to}; the "
                f"one here was chained at position {chained_at}",
            )
        if moved_to is not None:
            return self.found(
                s.id,
                "inserted",
                f"{_describe(here)} was never chained (the event chained here "
                f"is now at position {moved_to})",
            )
        if chained_at is not None:
            return self.found(
                s.id, "removed", f"the chained {_describe(c.identity)} is not in the event store"
            )
        return self.found(
            s.id, "altered", f"{_describe(here)} stands where {_describe(c.identity)} was chained"
        )

    def close(self) -> None:
        self.result.finding = head_mismatch(self.head, self.result, self.chained.hex())


def head_mismatch(head: Head, result: LogCheck, last_hash: str) -> Finding | None:
    """Damage when the stored head does not sum up the entries walked (`last_hash` is the
    last entry's stored hash)."""
    if (result.position, result.event_count, last_hash) == (
        head.position,
        head.event_count,
        head.head_hash,
    ):
        return None
    return Finding(
        log=head.log,
        position=max(result.position, 1),
        kind="damaged",
        source=CHAIN,
        detail=f"the stored chain's head (position {head.position}, {head.event_count} "
        f"events) does not match its entries (position {result.position}, "
        f"{result.event_count} events)",
    )


# -- the fast path: whole batches compared at once ----------------------------------------------

BATCH = 20_000  # events per batch of the fast path
END = 2**63 - 1  # past any position


class Batches(Protocol):
    """What the fast path reads of one log: the store and the stored chain by position range,
    each batch packed in one row, and, for the careful walk, both as streams from a position
    on. Reading may happen on another thread than the checking (never two reads at once)."""

    def batch(self, after: int, upto: int, limit: int) -> Packed:
        """At most `limit` stored events after `after` up to `upto`, in position order."""
        ...

    def entries(self, after: int, upto: int) -> PackedEntries:
        """The stored chain's entries after `after` up to `upto`, in order."""
        ...

    def store(self, after: int) -> Iterator[StoredEvent]: ...
    def chain_from(self, after: int) -> Iterator[Entry]: ...

    def count_after(self, position: int) -> int:
        """How many stored events lie after `position`."""
        ...


def agreeing(previous: bytes, rows: Packed, entries: PackedEntries) -> bytes | None:
    """The hashes of `rows` chained after `previous` (32 bytes each, concatenated) if the
    stored entries are exactly those the rows give (the same positions, digests and hashes);
    None at any disagreement."""
    if rows.count != entries.count or rows.positions != entries.positions:
        return None
    try:
        chained = chain_packed(previous, rows)
    except (ValueError, TypeError, AttributeError):  # not readable as packed
        return None
    if chained is None:
        return None
    digests, hashes = chained
    if digests.hex() != entries.digests or hashes.hex() != entries.hashes:
        return None
    return hashes


_Read = tuple[Packed, PackedEntries, bool]  # a batch of the store, its entries, whether last


def check_chain_in_batches(
    log: str,
    source: Batches,
    head: Head | None,
    wanted: frozenset[int] = frozenset(),
    batch: int = BATCH,
) -> LogCheck:
    """The same result as `check_chain`, faster: the store and the stored chain are read in
    large batches by position range, each packed in one row, each batch recomputed and
    compared at once while the next is read on another thread. Where a batch disagrees (or
    the head is missing), the careful walk takes over from the last position known to agree,
    and names the first disagreement as `check_chain` does."""
    if head is None:
        return check_chain(log, source.store(0), source.chain_from(0), None, wanted)
    result = LogCheck(log=log, head_hash=GENESIS[log].hex())
    previous, after = GENESIS[log], 0

    def read(after: int) -> _Read:
        rows = source.batch(after, head.position, batch)
        last = rows.count < batch  # the store's events up to the head end in this batch
        upto = END if last else rows.last  # the last batch also meets entries past the head
        return rows, source.entries(after, upto), last

    agreed = True
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-verify") as reader:
        ahead: Future[_Read] = reader.submit(read, 0)
        while True:
            rows, entries, last = ahead.result()
            if not last:
                ahead = reader.submit(read, rows.last)  # read on while this batch is hashed
            hashes = agreeing(previous, rows, entries)
            if hashes is None:
                agreed = False
                break  # the reader finishes its batch before the careful walk reads
            if rows.count:
                if wanted:
                    _keep_wanted(result, rows, hashes, wanted)
                previous, after = hashes[-32:], rows.last
                result.position, result.event_count = after, result.event_count + rows.count
                result.head_hash = previous.hex()
            if last:
                break
    if not agreed:
        return check_chain(
            log, source.store(after), source.chain_from(after), head, wanted, agreed=result
        )
    result.finding = head_mismatch(head, result, result.head_hash)  # all agreed: the same
    if result.finding is not None:
        return result
    result.pending = source.count_after(head.position)
    return result


def _keep_wanted(result: LogCheck, rows: Packed, hashes: bytes, wanted: frozenset[int]) -> None:
    """Keeps the recomputed (count, hash) at each wanted position in this batch."""
    first = int(rows.positions.split(",", 1)[0])
    if not any(first <= w <= rows.last for w in wanted):
        return
    positions = [int(p) for p in rows.positions.split(",")]
    for w in wanted:
        i = bisect_left(positions, w)
        if i < len(positions) and positions[i] == w:
            result.hashes_at[w] = (result.event_count + i + 1, hashes[32 * i : 32 * i + 32].hex())


def check_audit(
    envelopes: Iterator[Envelope],
    rows: Iterator[Mapping[str, Any]],
    complete_through: int,
    latest: Mapping[str, int],
) -> Finding | None:
    """Compares each audit record row with the row the stored event gives. A row is expected
    for every event up to `complete_through` (the record's own position in store order) and for
    every earlier version of a request the record has a later version of (`latest`)."""
    e, r = next(envelopes, None), next(rows, None)
    while e is not None or r is not None:
        if r is None or (e is not None and e.position < r["position"]):
            assert e is not None
            if e.position <= complete_through or e.version < latest.get(e.request_id, 0):
                return _audit(
                    e.position,
                    "inserted",
                    f"the audit record has no entry for {e.reference} version {e.version}",
                )
            e = next(envelopes, None)
            continue
        if e is None or r["position"] < e.position:
            return _audit(
                r["position"],
                "removed",
                f"the audit record's entry for {r['reference']} version "
                f"{r['version']} has no event in the store",
            )
        expected = AuditRecord.row(e)
        differing = sorted(k for k, v in expected.items() if not _same(r.get(k), v))
        if differing:
            return _audit(
                e.position,
                "altered",
                f"{e.reference} version {e.version}: the audit record's "
                f"{', '.join(differing)} differ from the stored event",
            )
        e, r = next(envelopes, None), next(rows, None)
    return None


def _same(stored: Any, expected: Any) -> bool:
    """Equal as stored: an instant the envelope carries as text equals the stored instant."""
    if isinstance(stored, datetime) and isinstance(expected, str):
        return stored == datetime.fromisoformat(expected)
    return bool(stored == expected)


def _audit(position: int, kind: str, detail: str) -> Finding:
    return Finding(log="requests", position=position, kind=kind, source=AUDIT, detail=detail)


def check_anchor(
    name: str, manifest: Mapping[str, Any], checks: Mapping[str, LogCheck]
) -> Finding | None:
    """Whether the recomputed record passes through each log's anchored head: the same event
    count and hash at the anchored position. Call with a manifest whose signature verified."""
    source = f"anchor {name}"
    for log, check in checks.items():
        position = int(manifest["position"].get(log, 0))
        count, head = int(manifest["event_count"].get(log, 0)), manifest["head_hash"].get(log)
        if position == 0:
            continue
        if check.finding is not None and check.finding.position <= position:
            continue  # already broken before the anchored head: that finding says where
        seen = check.hashes_at.get(position)
        if seen is None:
            ends = (
                f"ends at position {check.position}"
                if check.position < position
                else (f"has no event at position {position} any more")
            )
            return Finding(
                log=log,
                position=position,
                kind="removed",
                source=source,
                detail=f"the anchored head is position {position}, but the "
                f"recomputed record {ends}",
            )
        if seen != (count, head):
            return Finding(
                log=log,
                position=position,
                kind="altered",
                source=source,
                detail=f"the record up to position {position} is not the one "
                f"anchored ({seen[0]} events now, {count} anchored; hash "
                f"{seen[1][:16]}…, anchored {str(head)[:16]}…): an event at "
                "or before this position was changed and the stored chain "
                "rewritten to match",
            )
    return None
