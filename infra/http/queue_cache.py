"""The work queue over HTTP, paged and held ready in the server process.

A queue changes only when an event arrives. So each (council, team, officer) queue is kept here
as it was last read — each row already encoded as JSON, in queue order, with its sort key — and
is read again only when the views' change mark (`infra.views.change_mark`: the event store's
head on the embedded default, the read models' positions on the Kafka path) has moved. A read
of an unchanged queue is one look at the mark and a join of ready bytes; a page from the queue's start (the default read, or the whole queue in one
page) is joined once per change and then answered as it is, however often it is asked for.

Pages: `limit` rows (default 100, at most 1,000) after `cursor`, an opaque string naming the
last row of the page before by its place in the queue's one order
(`projections.work_queue.QUEUE_ORDER`: urgent first, then those handled with priority
(complaints), then by completion due, none due last, then oldest, then reference) — so a row added or closed meanwhile moves no
other row to another page or twice onto one."""

from __future__ import annotations

import base64
import json
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from domain.council import Council
from infra import views
from infra.runtime import Runtime
from projections import work_queue

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ENTRIES = 512  # queues kept per process (teams × officers asked for); then start afresh
REFRESH_POLL_S = 0.05  # the refresher looks at the change mark this often
REFRESH_QUIET_S = 0.1  # and reads held queues again once it has stood still this long
REFRESH_RECENT_S = 300.0  # those asked for in the last five minutes
FIRST_PAGES_HELD = 4  # pages from a queue's start kept ready per queue (page sizes asked for)
log = structlog.get_logger("councilcrm.http")
Key = tuple[bool | str, ...]


@dataclass(frozen=True)
class Page:
    body: bytes
    next_cursor: str | None
    references: list[str]


@dataclass(frozen=True)
class Snapshot:
    mark: int
    keys: list[Key]
    rows: list[bytes]
    references: list[str]
    # pages from the start made so far, by where they end: joined once, answered as they are
    first_pages: dict[int, Page] = field(default_factory=dict, compare=False, repr=False)


def _instant(value: Any) -> str:
    """An instant (ISO text, or a datetime) as a sortable UTC string (the same instant always
    the same string); "" for none."""
    if not value:
        return ""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def sort_key(row: dict[str, Any]) -> Key:
    """The queue's order (`projections.work_queue.QUEUE_ORDER`) as a row's sort key."""
    return work_queue.queue_key(row, _instant)


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    bad = ValueError("cursor is not one this server gave: start again without it")
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as error:
        raise bad from error
    types = work_queue.queue_key_types()
    if not isinstance(raw, list) or len(raw) != len(types):
        raise bad
    if not all(type(part) is kind for part, kind in zip(raw, types, strict=True)):
        raise bad
    return tuple(raw)


def _snapshot(mark: int, rows: list[dict[str, Any]]) -> Snapshot:
    ordered = sorted(rows, key=sort_key)
    return Snapshot(
        mark=mark,
        keys=[sort_key(r) for r in ordered],
        rows=[json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() for r in ordered],
        references=[str(r["reference"]) for r in ordered],
    )


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_string: Callable[[str], str] = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring
)


def _stored_instant(value: Any) -> tuple[str, str] | None:
    """An instant as the driver hands it over (naive UTC: a datetime, or SQLite's text
    `YYYY-MM-DD HH:MM:SS.ffffff`) as its sort-key string (`_instant`'s) and its ISO 8601 text
    with offset (`to_plain`'s), made without a time-zone step."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        key = f"{value[:10]}T{value[11:]}"
    else:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        key = at.isoformat(timespec="microseconds")
    # as `datetime.isoformat` writes it: no fraction when there is none
    return key, (key[:19] if key.endswith(".000000") else key) + "+00:00"


def _as_given(value: Any) -> str:
    return value or ""


def _json_value(value: Any) -> str:
    """One value of a queue row as JSON, as `json.dumps` writes it (`ensure_ascii=False`)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return ""  # an instant: written by the caller, with its offset
    return _encode(value)


def _snapshot_plain(mark: int, plain: work_queue.PlainRows) -> Snapshot:
    """`_snapshot` of the rows the driver handed over: each row made into the plain form
    `views.queue` gives (instants in ISO 8601 with offset, booleans as such) and written as
    JSON once, piece by piece; the same bytes and keys as `_snapshot` gives for the same
    rows."""
    names = plain.columns
    labels = [_string(n) + ":" for n in names]
    instants = [i for i, n in enumerate(names) if n in plain.instants]
    booleans = [i for i, n in enumerate(names) if n in plain.booleans]
    at_reference = names.index("reference")
    made: list[tuple[Key, bytes, str]] = []
    for values in plain.rows:
        keyed, shown = list(values), [_json_value(v) for v in values]  # instants: see below
        for i in instants:
            both = _stored_instant(values[i])
            if both is not None:
                keyed[i] = both[0]
                shown[i] = f'"{both[1]}"'
        for i in booleans:
            keyed[i] = bool(values[i])
            shown[i] = "true" if keyed[i] else "false"
        key = work_queue.queue_key(dict(zip(names, keyed, strict=True)), _as_given)
        body = "{" + ",".join([label + v for label, v in zip(labels, shown, strict=True)]) + "}"
        made.append((key, body.encode(), str(values[at_reference])))
    made.sort(key=lambda m: m[0])  # the SQL gave the queue's order: a check that costs little
    return Snapshot(
        mark=mark,
        keys=[k for k, _, _ in made],
        rows=[b for _, b, _ in made],
        references=[r for _, _, r in made],
    )


class QueueCache:
    """Per process: the queues last read, each valid while the change mark stands."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str | None, str | None], Snapshot] = {}
        self._reading: dict[tuple[str, str | None, str | None], threading.Lock] = {}
        self._asked: dict[tuple[str, str | None, str | None], tuple[Council, float]] = {}
        self._lock = threading.Lock()

    def refresh(
        self,
        rt: Runtime,
        stop: threading.Event,
        *,
        poll_s: float = REFRESH_POLL_S,
        quiet_s: float = REFRESH_QUIET_S,
        recent_s: float = REFRESH_RECENT_S,
    ) -> None:
        """Until `stop`: once the change mark has moved and then stood still for `quiet_s`
        (a burst of commands is over), reads again each held queue asked for in the last
        `recent_s`, so that the next reader finds it ready. Readers still check the mark
        themselves: what a caller just wrote is on their next read either way."""
        seen, since = views.change_mark(rt), time.monotonic()
        while not stop.wait(poll_s):
            try:
                mark = views.change_mark(rt)
                now = time.monotonic()
                if mark != seen:
                    seen, since = mark, now
                    continue
                if now - since < quiet_s:
                    continue
                with self._lock:
                    due = [
                        (which, c)
                        for which, (c, at) in self._asked.items()
                        if now - at <= recent_s
                        and (held := self._held.get(which)) is not None
                        and held.mark < mark
                    ]
                for (_, team, officer), c in due:
                    self.snapshot(rt, c, team, officer, asked=False)
            except sa.exc.OperationalError as error:  # the database is away: try again later
                log.warning("queue_refresh_failed", error=str(error)[:300])

    def snapshot(
        self, rt: Runtime, c: Council, team: str | None, officer: str | None, *, asked: bool = True
    ) -> Snapshot:
        held, mark = self._current(rt, c, team, officer, asked=asked)
        return held if held is not None else self._read(rt, c, team, officer, mark)

    def page(
        self,
        rt: Runtime,
        c: Council,
        team: str | None,
        officer: str | None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        *,
        as_at: datetime | None = None,
    ) -> Page:
        page = self._page(rt, c, team, officer, limit, cursor, read=True, as_at=as_at)
        assert page is not None  # read: always a page
        return page

    def held_page(
        self,
        rt: Runtime,
        c: Council,
        team: str | None,
        officer: str | None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        *,
        mark: int | None = None,
    ) -> Page | None:
        """The page from the held queue when nothing has changed since it was read (one look
        at the change mark, no read of the queue; `mark`: the change mark as just read
        elsewhere, `infra.http.store_look`), else None: then `page` reads it again. The
        server answers from here on its event loop, and calls `page` on a worker thread."""
        return self._page(rt, c, team, officer, limit, cursor, read=False, mark=mark)

    def _page(
        self,
        rt: Runtime,
        c: Council,
        team: str | None,
        officer: str | None,
        limit: int,
        cursor: str | None,
        *,
        read: bool,
        as_at: datetime | None = None,
        mark: int | None = None,
    ) -> Page | None:
        """A page of the queue: the current one held, or (`read`) read again, else None; or
        as it stood at `as_at`, read as it stood (the past is never held)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1 to {MAX_LIMIT}")
        if as_at is not None:
            held: Snapshot | None = _snapshot(-1, views.queue(rt, c, team, officer, as_at))
        else:
            held, mark = self._current(rt, c, team, officer, mark=mark)
            if held is None and read:
                held = self._read(rt, c, team, officer, mark)
        return None if held is None else _page_of(held, limit, cursor)

    def _current(
        self,
        rt: Runtime,
        c: Council,
        team: str | None,
        officer: str | None,
        *,
        asked: bool = True,
        mark: int | None = None,
    ) -> tuple[Snapshot | None, int]:
        """The held queue if nothing has changed since it was read (else None), and the change
        mark looked at (`mark`, if given: as just read); `asked`: remembers it was asked for
        (the refresher reads it again)."""
        which = (c.id, team, officer)
        if mark is None:
            mark = views.change_mark(rt)  # read first: a change after it is seen next time
        with self._lock:
            held = self._held.get(which)
            if asked:
                self._asked[which] = (c, time.monotonic())
        return (held if held is not None and held.mark >= mark else None), mark

    def _read(
        self, rt: Runtime, c: Council, team: str | None, officer: str | None, mark: int
    ) -> Snapshot:
        """The queue read again as of `mark` (at least), and held."""
        which = (c.id, team, officer)
        with self._lock:
            reading = self._reading.setdefault(which, threading.Lock())
        with reading:  # one read of a queue at a time: those waiting take what it read
            with self._lock:
                held = self._held.get(which)
            if held is not None and held.mark >= mark:
                return held
            fresh = _snapshot_plain(mark, views.queue_plain(rt, c, team, officer))
            with self._lock:
                if len(self._held) >= MAX_ENTRIES:
                    self._held.clear()
                    self._reading.clear()
                    self._asked.clear()
                current = self._held.get(which)
                if current is None or current.mark <= mark:
                    self._held[which] = fresh
        return fresh


def _page_of(snap: Snapshot, limit: int, cursor: str | None) -> Page:
    """`limit` rows of a queue after `cursor` (from its start when None). A page from the
    start is made once per queue read and kept with it (`Snapshot.first_pages`)."""
    start = bisect_right(snap.keys, decode_cursor(cursor)) if cursor else 0
    end = min(start + limit, len(snap.rows))
    if start == 0 and (ready := snap.first_pages.get(end)) is not None:
        return ready
    more = end < len(snap.rows)
    page = Page(
        body=b"[" + b",".join(snap.rows[start:end]) + b"]",
        next_cursor=encode_cursor(snap.keys[end - 1]) if more else None,
        references=snap.references[start:end],
    )
    if start == 0:  # kept: worker threads and the event loop may both add one, harmlessly
        if len(snap.first_pages) >= FIRST_PAGES_HELD:
            snap.first_pages.clear()
        snap.first_pages[end] = page
    return page
