"""What keeping the tamper-evident record costs: the chain's follower per event, beside the
read models' own follower over the same events, and the command path with and without
chaining after each command.

Run: ``python -m bench.record_bench [--backend sqlite|postgres|both] [--requests N]
[--rounds R] [--commands N]`` (defaults: both backends, 1,000 requests of seven events each,
5 rounds, 200 commands per command-path variant).

1. **Follower.** A store holding N whole lifecycles (lodge, acknowledge, assign, note, delay,
   escalate, close; each lodgement with a customer record in the directory) is caught up from
   scratch, in interleaved rounds, into fresh read-model tables:

   - *read models*: `follower.catch_up` of every read model (the embedded path's catch-up);
   - *read models + chain*: the same, then `record_follower.catch_up` of both logs;
   - *chain alone*: `record_follower.catch_up` of both logs.

   The figure to quote is the median per-round ratio (read models + chain) / (read models),
   and the chain's cost per event (chain alone, per chained event).

2. **Verification at scale** (``--verify-events``, default 1,000,000): a store of that many
   events (whole lifecycles; see "The bulk store" below) is chained, then, in interleaved
   rounds (``--verify-rounds``, at least 3), verified by `record_verify.verify` (the stored
   chain; no audit record or anchors) beside baselines over the very same events, measured in
   the same run:

   - *raw SHA-256 in memory*: one SHA-256 of each event's bytes as the chain digests them
     (aggregate id, version, topic, stored bytes), each already in memory as one `bytes` —
     only the hashing is timed;
   - *the chain's arithmetic in memory*: `chain_packed` over batches already read (each
     event's digest and link, as the verification computes them) — only that is timed;
   - *read only*, each way of getting the digests' input out of the store with no hashing:
     the verification's own batches (one packed row each: `string_agg` on PostgreSQL,
     `group_concat` on SQLite); on PostgreSQL the same batches by binary `COPY` (psycopg's
     `copy()`, the blocks joined per batch) and one `COPY` of the whole log streamed, blocks
     dropped (the fastest way out); on SQLite a plain scan (`fetchmany`, the stored columns
     as they are);
   - *read + arithmetic*: the verification's batches read one after the other and the chain's
     arithmetic over each (no reading thread, no stored chain); on PostgreSQL also the one
     `COPY`, each row hashed as it comes.

   Each is printed as events/s and as a throughput ratio to raw (medians of the per-round
   ratios), with verify / arithmetic and verify / (read + arithmetic). The aim is ≥ 0.5 ×
   raw; if even reading alone is below that, no verifier that reads the store can meet it.

3. **Command path.** `--commands` commands (lodge, then a note) through the handlers on a
   `Runtime` built the way the CLI builds one, with and without `record_follower.catch_up`
   after each command (what `crm` does on the embedded default after a command succeeds);
   and with a `RecordFollower` thread following both logs while the commands run (what
   `crm serve` does on the embedded default). `--rounds` interleaved rounds, the variants in
   a fresh (seeded) random order each round; each variant's figure is the median of its
   per-round ratios to the no-chain variant. Since those ratios swing with the machine's
   load, the chain's own work is also isolated: in the caught-up-after-each variant, the time
   spent in the catch-ups ÷ the commands' own time, per round (median and quartiles). Then
   `crm note` itself, run in process through `infra.cli.main` (a fresh `Runtime`, the
   council's configuration, the acting user's authorization — everything but starting
   Python), with and without that chaining step, and as a process.

   The stores chain a command's own events as they store them (`infra.chaining_recorders`);
   every variant above runs with that turned off, and one more with it on: *chained by the
   command itself*. Its share is isolated by pairs: each lodge-and-note pair of a round is
   run with the stores' chaining off, on, or on and then the catch-up after each command (the
   safety net `crm` runs on exit, which then finds nothing new), in a fresh random order per
   triple, so the three variants meet the same load; every pair is followed (untimed) by a
   catch-up, so the next pair starts level, and on PostgreSQL by a flush of what that catch-up
   wrote without waiting for the disk. The share per round is the
   variant's commands' time ÷ the commands' time without the chain, less one (median and
   quartiles over the rounds); on SQLite the chaining step's own time is also timed inside
   the store.

**The bulk store.** Verifying 1,000,000 events needs a store of them faster than the command
path can write one: 300 real lifecycles are made by the aggregate and turned into stored
events by the application's own mapper, then written again and again under fresh aggregate
ids (the same stored bytes per copy) straight into the store's table — `executemany` on
SQLite, `COPY` on PostgreSQL — so the store reads back exactly as if the application had
saved them. The first 20,000 are chained by the follower's own catch-up (its rate is
printed); the rest with the follower's arithmetic (`extend` over the events as the follower
reads them) written straight into the chain's table, which is much faster.

4. **Verification with the audit record** (``--audit-events``, default 30,000): a bulk store
   of that many events is chained and its audit record built by the read models' follower;
   then, in interleaved rounds (``--verify-rounds``), `record_verify.verify` of the chain
   alone (the same-run baseline), of the chain and the audit record (what `crm record verify`
   does), and the audit record's comparison alone (every stored event decoded straight to its
   envelope and its row compared with the stored one). The figures to quote are the events
   per second of each and the ratio (chain + audit) / (chain alone), medians of the rounds.

``--only`` picks parts (any of ``follower,verify,commands,audit``; default all but audit;
``beside`` alone is the saturating part of ``commands``, ``--workers`` threads, then `crm note`);
``--no-cli`` leaves `crm note` itself out of the command path.

PostgreSQL runs in a scratch database dropped afterwards (``$CRM_DATABASE_URL``, else the
project's own server); SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.commands_bench import scratch_database, settings_for
from bench.pipeline_bench import BulkLoader
from bench.staff import BENCH_ADMIN, add_officer
from commands import requests as cmds
from consumers import follower, record_follower, record_verify
from consumers.store_reader import StoreReader
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind
from infra import chaining_recorders
from infra.logs import configure
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from projections import record_chain, registry
from projections.record_check import BATCH, END

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="bench.officer", role="officer")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def lifecycle(rt: Runtime, n: int) -> None:
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description=f"Pothole number {n} outside the shop",
        customer=Customer(name=f"Bench Caller {n}", phone="0400 000 000"),
    )
    ref = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    ).reference
    kw = {"council": COUNCIL, "reference": ref, "actor": OFFICER}
    p = rt.ports
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**kw), p)  # type: ignore[arg-type]
    cmds.assign_request(cmds.AssignRequest(team="roads", officer="o.smith", **kw), p)  # type: ignore[arg-type]
    cmds.add_note(cmds.AddNote(text="Inspected; crew booked", note_kind=NoteKind.ACTION, **kw), p)  # type: ignore[arg-type]
    cmds.delay_request(cmds.DelayRequest(reason="Asphalt supply", until=date(2026, 6, 30), **kw), p)  # type: ignore[arg-type]
    cmds.escalate_request(cmds.EscalateRequest(reason="Target missed", **kw), p)  # type: ignore[arg-type]
    cmds.close_request(cmds.CloseRequest(outcome="completed", text="Patched", **kw), p)  # type: ignore[arg-type]


@contextmanager
def runtime(backend: str) -> Iterator[Runtime]:
    if backend == "postgres":
        with scratch_database() as url, tempfile.TemporaryDirectory() as tmp:
            rt = Runtime(settings_for(Path(tmp), url), clock=Clock())
            try:
                add_officer(rt, COUNCIL)
                yield rt
            finally:
                rt.close()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rt = Runtime(settings_for(Path(tmp), None), clock=Clock())
            try:
                add_officer(rt, COUNCIL)
                yield rt
            finally:
                rt.close()


def fresh_tables(rt: Runtime) -> None:
    for model in registry.build_all():
        model.drop(rt.read_engine)
    follower.ensure_tables(rt.read_engine, registry.build_all())
    chain = record_follower.CHAIN
    chain.metadata.drop_all(rt.record_engine)
    chain.create(rt.record_engine)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def follower_rounds(rt: Runtime, rounds: int) -> None:
    events = sum((app.recorder.max_notification_id() or 0) for app in rt.record_logs().values())
    request_events = rt.app.recorder.max_notification_id() or 0

    def models() -> None:
        follower.catch_up(StoreReader(rt.app), rt.read_engine, registry.build_all())

    def models_and_chain() -> None:
        models()
        record_follower.catch_up(rt.chain_engine, rt.record_logs())

    def chain_alone() -> None:
        record_follower.catch_up(rt.chain_engine, rt.record_logs())

    variants = {
        "read models": models,
        "read models + chain": models_and_chain,
        "chain alone": chain_alone,
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, action in variants.items():
            fresh_tables(rt)
            seconds[name].append(timed(action))
    ratios = [
        w / b for w, b in zip(seconds["read models + chain"], seconds["read models"], strict=True)
    ]
    print(
        f"  follower over {request_events} request events (+ {events - request_events} "
        f"directory events for the chain), {rounds} rounds, median seconds:"
    )
    for name, s in seconds.items():
        print(f"    {name:22} {statistics.median(s):7.3f} s")
    per_event = statistics.median(seconds["chain alone"]) / events * 1e6
    added = (
        (
            statistics.median(seconds["read models + chain"])
            - statistics.median(seconds["read models"])
        )
        / request_events
        * 1e6
    )
    print(
        f"  read models + chain / read models: median per-round ratio "
        f"{statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"  chain alone: {per_event:.1f} µs per chained event; added to the read models' "
        f"catch-up: {added:.1f} µs per request event"
    )


def bulk_store(rt: Runtime, events: int, templates: int = 300) -> int:
    """Writes `events` stored events (whole lifecycles, the last one possibly cut short) into
    the request store's table; returns how many."""
    council = rt.ports.council(COUNCIL)
    made = BulkLoader(rt.app, council, "")._window(templates)
    stored = [rt.app.mapper.to_stored_event(e) for e in made]
    lives: dict[object, list[tuple[int, str, bytes]]] = {}
    for st in stored:
        lives.setdefault(st.originator_id, []).append((st.originator_version, st.topic, st.state))

    def rows() -> Iterator[tuple[uuid.UUID, int, str, bytes]]:
        written = 0
        while True:
            for life in lives.values():
                oid = uuid.uuid4()
                for version, topic, state in life:
                    yield oid, version, topic, state
                    written += 1
                    if written >= events:
                        return

    recorder = rt.app.recorder
    if events <= 0:
        return recorder.max_notification_id() or 0
    if rt.settings.database_url is None:
        with recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
            c.executemany(
                f"INSERT INTO {recorder.events_table_name} (originator_id, "  # type: ignore[attr-defined]
                "originator_version, topic, state) VALUES (?, ?, ?, ?)",
                (
                    (o.hex, v, t, st) for o, v, t, st in rows()
                ),  # as the library's recorder writes ids
            )
    else:
        with psycopg.connect(rt.settings.database_url) as conn:
            table = recorder.events_table_name  # type: ignore[attr-defined]
            sql = f"COPY {table} (originator_id, originator_version, topic, state) FROM STDIN"
            with conn.cursor() as cur, cur.copy(sql) as copy:
                for row in rows():
                    copy.write_row(row)
            conn.execute(f"ANALYZE {table}")
    return rt.app.recorder.max_notification_id() or 0


def bulk_chain(rt: Runtime, follower: bool) -> None:
    """Chains what the bulk store holds: by the follower's own catch-up (timed, for its rate),
    or with the follower's arithmetic (`extend`, over the store's events as the follower reads
    them) written straight into the chain's table, for speed."""
    if follower:
        start = time.perf_counter()
        chained = record_follower.catch_up(rt.chain_engine, rt.record_logs(), batch_size=BATCH)
        took = time.perf_counter() - start
        print(
            f"  the follower's catch-up chained {chained:,} events at "
            f"{chained / took:,.0f} events/s",
            flush=True,
        )
        return
    chain = record_follower.CHAIN
    start = time.perf_counter()
    written = 0
    for log, app in rt.record_logs().items():
        with rt.record_engine.connect() as conn:
            head = chain.head(conn, log)
        assert head is not None
        batches = []
        for page in _pages(app, head.position):
            head, rows = record_chain.extend(head, page)
            batches.append(rows)
            written += len(rows)
        with rt.record_engine.begin() as conn:
            for rows in batches:
                _write_entries(conn, rows)
            conn.execute(
                sa.update(chain.heads)
                .where(chain.heads.c.log == log)
                .values(
                    position=head.position, event_count=head.event_count, head_hash=head.head_hash
                )
            )
    print(
        f"  the rest ({written:,} events) chained by `extend` and written in bulk in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )


def _pages(app: Any, after: int) -> Iterator[list[Any]]:
    while page := app.recorder.select_notifications(
        start=after, limit=BATCH, inclusive_of_start=False
    ):
        yield page
        after = page[-1].id


def _write_entries(conn: sa.Connection, rows: list[dict[str, object]]) -> None:
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        buffer = io.StringIO(
            "".join(
                f"{r['log']}\t{r['position']}\t{r['originator_id']}\t{r['version']}\t"
                f"{r['digest']}\t{r['hash']}\n"
                for r in rows
            )
        )
        with raw.cursor() as cur:
            cur.copy_expert(
                "COPY record_chain (log, position, originator_id, version, digest, hash) "
                "FROM STDIN",
                buffer,
            )
    else:
        conn.execute(sa.insert(record_follower.CHAIN.entries), rows)


def verify_batches(rt: Runtime) -> Iterator[record_chain.Packed]:
    """Every log's stored events, batch by batch, packed as the verification reads them."""
    for app in rt.record_logs().values():
        with record_verify.store_reading(app, rt.record_engine) as (read, _):
            after = 0
            while (batch := read(after, END, BATCH)).count:
                yield batch
                after = batch.last


def pieces(batch: record_chain.Packed) -> list[bytes]:
    """Each event's bytes as the chain digests them (aggregate id, version, topic, stored
    bytes), one `bytes` each."""
    data, out, end = bytes(batch.data), [], 0
    for i, length in enumerate(int(x) for x in batch.lengths.split(",")):
        piece = data[end : end + length]
        end += length
        out.append(piece if batch.heads is None else batch.heads[i] + piece)
    return out


def chain_arithmetic(previous: bytes, batch: record_chain.Packed) -> bytes:
    """The chain's arithmetic over one batch as the verification computes it; its last hash."""
    found = record_chain.chain_packed(previous, batch)
    assert found is not None
    return found[1][-32:]


def raw_seconds(rt: Runtime) -> float:
    """One SHA-256 of each event's bytes as the chain digests them, batch by batch already
    in memory as one `bytes` each: only the hashing is timed."""
    total = 0.0
    sha = hashlib.sha256
    for batch in verify_batches(rt):
        data = pieces(batch)
        start = time.perf_counter()
        for b in data:
            sha(b).digest()
        total += time.perf_counter() - start
    return total


def arithmetic_seconds(rt: Runtime) -> float:
    """The chain's own arithmetic over batches already read (each event's digest and link,
    as the verification computes them): the least a verification can cost."""
    total, previous = 0.0, b"\0" * 32
    for batch in verify_batches(rt):
        start = time.perf_counter()
        previous = chain_arithmetic(previous, batch)
        total += time.perf_counter() - start
    return total


def read_and_arithmetic_seconds(rt: Runtime) -> float:
    """The verification's read and the chain's arithmetic, one after the other on one thread
    (no stored chain read or compared)."""
    start, previous = time.perf_counter(), b"\0" * 32
    for batch in verify_batches(rt):
        previous = chain_arithmetic(previous, batch)
    return time.perf_counter() - start


def read_verify_batches_seconds(rt: Runtime) -> float:
    """Read only: the store's events in the verification's batches, each packed in one row,
    nothing hashed."""
    start = time.perf_counter()
    for _ in verify_batches(rt):
        pass
    return time.perf_counter() - start


# Each event's digest input followed by its position, one binary `COPY` row each (no
# parameters in `COPY`: the bounds are formatted in as integers).
_PG_COPY = (
    "COPY (SELECT uuid_send(originator_id) || int8send(originator_version) || "
    "convert_to(topic, 'UTF8') || '\\x00'::bytea || state || int8send(notification_id) "
    "FROM {table} WHERE notification_id > {a:d} ORDER BY notification_id{limit}) "
    "TO STDOUT (FORMAT binary)"
)


def _pg_tables(rt: Runtime) -> Iterator[tuple[str, str]]:
    assert rt.settings.database_url is not None
    for app in rt.record_logs().values():
        recorder: Any = app.recorder
        yield (
            rt.settings.database_url,
            f'"{recorder.datastore.schema}"."{recorder.events_table_name}"',
        )


def read_copy_batches_seconds(rt: Runtime) -> float:
    """Read only, PostgreSQL: the same batches by binary `COPY` through psycopg's `copy()`,
    read block by block (a block per row, as the server sends them) and joined into one
    `bytes` per batch, as a verification would hash them."""
    start = time.perf_counter()
    for url, table in _pg_tables(rt):
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            after = 0
            while True:
                statement = _PG_COPY.format(table=table, a=after, limit=f" LIMIT {BATCH:d}")
                with cur.copy(statement) as blocks:
                    stream = b"".join(blocks)
                if cur.rowcount <= 0:
                    break
                after = int.from_bytes(stream[-10:-2], "big")
    return time.perf_counter() - start


def read_copy_whole_seconds(rt: Runtime) -> float:
    """Read only, PostgreSQL: the fastest way out: one binary `COPY` of each log's digest
    inputs in position order, read block by block and dropped."""
    start = time.perf_counter()
    for url, table in _pg_tables(rt):
        with (
            psycopg.connect(url) as conn,
            conn.cursor() as cur,
            cur.copy(_PG_COPY.format(table=table, a=0, limit="")) as blocks,
        ):
            for _ in blocks:
                pass
    return time.perf_counter() - start


def count(rt: Runtime, table: str) -> int:
    assert rt.settings.database_url is not None
    with psycopg.connect(rt.settings.database_url) as conn:
        found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def read_copy_whole_and_arithmetic_seconds(rt: Runtime) -> float:
    """PostgreSQL: the same one `COPY`, each block (one row, as the server sends them) hashed
    as it comes: each event's digest and link, as the chain computes them."""
    start, previous, sha = time.perf_counter(), b"\0" * 32, hashlib.sha256
    for url, table in _pg_tables(rt):
        hashed = 0
        with (
            psycopg.connect(url) as conn,
            conn.cursor() as cur,
            cur.copy(_PG_COPY.format(table=table, a=0, limit="")) as blocks,
        ):
            first = True
            for block in blocks:
                row = block[19:] if first else block  # the stream's header, then the first row
                first = False
                if len(row) == 2:  # the trailer
                    continue
                d = sha(row[6:-8]).digest()
                previous = sha(previous + bytes(row[-8:]) + d).digest()
                hashed += 1
        assert hashed == count(rt, table)
    return time.perf_counter() - start


def read_scan_seconds(rt: Runtime) -> float:
    """Read only, SQLite: a plain scan of each log's table in position order (the stored
    columns as they are, a Python object per field), fetched many rows at a time."""
    start = time.perf_counter()
    for app in rt.record_logs().values():
        recorder: Any = app.recorder
        with recorder.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM "
                f"{recorder.events_table_name} ORDER BY rowid"
            )
            while cursor.fetchmany(BATCH):
                pass
    return time.perf_counter() - start


def verify_at_scale(rt: Runtime, events: int, rounds: int, followed: int = 20_000) -> None:
    start = time.perf_counter()
    first = bulk_store(rt, min(events, followed))
    print(f"  bulk store: the first {first:,} events written", flush=True)
    bulk_chain(rt, follower=True)
    loaded = bulk_store(rt, events - first) if events > first else first
    print(
        f"  bulk store: {loaded:,} events written in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    bulk_chain(rt, follower=False)
    total = sum((app.recorder.max_notification_id() or 0) for app in rt.record_logs().values())

    def verify() -> None:
        checked = record_verify.verify(rt.record_engine, rt.record_logs())
        assert checked.ok, [f.line() for f in checked.findings]
        assert sum(c.event_count for c in checked.checks.values()) == total

    postgres = rt.settings.database_url is not None
    reads: dict[str, Callable[[Runtime], float]] = (
        {
            "read only: string_agg batches (verify's read)": read_verify_batches_seconds,
            "read only: COPY in batches": read_copy_batches_seconds,
            "read only: one COPY, blocks dropped": read_copy_whole_seconds,
        }
        if postgres
        else {
            "read only: packed batches (verify's read)": read_verify_batches_seconds,
            "read only: plain scan": read_scan_seconds,
        }
    )
    parts: dict[str, Callable[[Runtime], float]] = {
        "raw": raw_seconds,
        "arithmetic": arithmetic_seconds,
        **reads,
        "read + arithmetic": read_and_arithmetic_seconds,
        **(
            {"read + arithmetic: one COPY": read_copy_whole_and_arithmetic_seconds}
            if postgres
            else {}
        ),
        "verify": lambda rt: timed(verify),
    }
    seconds: dict[str, list[float]] = {k: [] for k in parts}
    print(f"  load average before the rounds: {load()}", flush=True)
    for _ in range(rounds):
        for name, part in parts.items():
            seconds[name].append(part(rt))
        print(
            "    round: "
            + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items())
            + f" (load average {load()})",
            flush=True,
        )
    rate = {k: total / statistics.median(v) for k, v in seconds.items()}

    def ratio(a: str, b: str) -> str:
        per = [x / y for x, y in zip(seconds[a], seconds[b], strict=True)]
        return f"{statistics.median(per):.2f} (rounds {', '.join(f'{r:.2f}' for r in per)})"

    print(
        f"  {total:,} events, {rounds} interleaved rounds; median events/s, and the median of "
        "per-round throughput ratios to raw SHA-256 in memory:"
    )
    for name in parts:
        aim = " (aim ≥ 0.5)" if name == "verify" else ""
        print(f"    {name}: {rate[name]:,.0f} events/s = {ratio('raw', name)} × raw{aim}")
    print(f"  verify / arithmetic = {ratio('arithmetic', 'verify')}")
    print(f"  verify / (read + arithmetic) = {ratio('read + arithmetic', 'verify')}")
    print(f"  load average after: {load()}", flush=True)


def verify_with_audit(rt: Runtime, events: int, rounds: int) -> None:
    from projections.audit_record import AuditRecord

    start = time.perf_counter()
    stored = bulk_store(rt, events)
    record_follower.catch_up(rt.chain_engine, rt.record_logs(), batch_size=BATCH)
    follower.ensure_tables(rt.read_engine, [AuditRecord()])
    follower.catch_up(StoreReader(rt.app), rt.read_engine, [AuditRecord()])
    print(
        f"  {stored:,} events stored, chained and in the audit record in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )

    def chain_alone() -> None:
        assert record_verify.verify(rt.record_engine, rt.record_logs()).ok

    def chain_and_audit() -> None:
        checked = record_verify.verify(
            rt.record_engine, rt.record_logs(), audit=(rt.read_engine, "requests")
        )
        assert checked.ok, [f.line() for f in checked.findings]

    def audit_alone() -> None:
        assert record_verify._check_audit(rt.read_engine, rt.app) is None

    variants = {
        "chain alone": chain_alone,
        "chain + audit record": chain_and_audit,
        "audit comparison alone": audit_alone,
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, action in variants.items():
            seconds[name].append(timed(action))
        print("    round: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()))
    for name, s in seconds.items():
        print(f"    {name:24} {stored / statistics.median(s):9,.0f} events/s")
    ratios = [
        a / c for a, c in zip(seconds["chain + audit record"], seconds["chain alone"], strict=True)
    ]
    print(
        f"  (chain + audit) / chain alone, in time: median {statistics.median(ratios):.1f} "
        f"(rounds: {', '.join(f'{r:.1f}' for r in ratios)})"
    )


MODES = ("without", "caught up after each", "follower thread", "chained by the command itself")
COMMAND_CHAINS = "chained by the command itself"


def command_chaining(rt: Runtime, on: bool) -> None:
    """Turns the stores' chaining of their own events on or off."""
    for name, app in rt.record_logs().items():
        chaining_recorders.set_chaining(app.recorder, name if on else None)


def run_commands(rt: Runtime, commands: int, first: int, mode: str) -> tuple[float, float]:
    """Seconds per command for `commands` commands (lodge, then a note, …): with no chaining,
    the chain caught up after each (as `crm` does), or a follower thread chaining meanwhile
    (as `crm serve` does); and, caught up after each, the seconds per command spent in the
    catch-up alone (the chain's own work on the command path)."""
    after_each = mode == "caught up after each"
    command_chaining(rt, mode == COMMAND_CHAINS)
    stop = threading.Event()
    thread = None
    chaining = 0.0

    def chain() -> None:
        nonlocal chaining
        if after_each:
            chaining += timed(lambda: record_follower.catch_up(rt.chain_engine, rt.record_logs()))

    if mode == "follower thread":
        follower_ = record_follower.RecordFollower(rt.chain_engine, rt.record_logs())
        thread = threading.Thread(target=follower_.run, args=(stop,), daemon=True)
        thread.start()
    start = time.perf_counter()
    for n in range(first, first + commands // 2):
        intake = Intake(
            category="pothole",
            channel=Channel.PHONE,
            description=f"Pothole {n}",
            customer=Customer(name=f"Bench Caller {n}", phone="0400 000 000"),
        )
        ref = cmds.lodge_request(
            cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
        ).reference
        chain()
        cmds.add_note(
            cmds.AddNote(
                council=COUNCIL,
                reference=ref,
                actor=OFFICER,
                text="Rang back",
                note_kind=NoteKind.ACTION,
            ),
            rt.ports,
        )
        chain()
    took = (time.perf_counter() - start) / commands
    if thread is not None:
        stop.set()
        thread.join()
    record_follower.catch_up(rt.chain_engine, rt.record_logs())  # every round starts level
    command_chaining(rt, not rt.settings.is_postgres)  # the backend's own design
    return took, chaining / commands


def lodge_and_note(rt: Runtime, n: int) -> list[float]:
    """A lodgement, then a note on it; returns each command's seconds."""
    start = time.perf_counter()
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description=f"Pothole {n}",
        customer=Customer(name=f"Bench Caller {n}", phone="0400 000 000"),
    )
    ref = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    ).reference
    lodged = time.perf_counter()
    cmds.add_note(
        cmds.AddNote(
            council=COUNCIL,
            reference=ref,
            actor=OFFICER,
            text="Rang back",
            note_kind=NoteKind.ACTION,
        ),
        rt.ports,
    )
    return [lodged - start, time.perf_counter() - lodged]


PAIRED = ("off", "on", "on + catch-up")


def settle(rt: Runtime) -> None:
    """Levels the chain (a catch-up: it writes only after a pair run with chaining off) and, on
    PostgreSQL, flushes the WAL that catch-up wrote without waiting (a committed transaction
    with an id): otherwise the next command's commit pays for that flush, which follows a pair
    run off more often before a variant chaining than before one not."""
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    if rt.settings.is_postgres:
        with rt.chain_engine.begin() as conn:
            conn.execute(sa.text("SELECT txid_current()"))


def chained_by_command(rt: Runtime, commands: int, rounds: int) -> None:
    """The stores' chaining of their own events, isolated by pairs (see the module)."""
    order = random.Random(11)
    shares: dict[str, list[float]] = {v: [] for v in PAIRED[1:]}
    per_command: dict[str, list[float]] = {v: [] for v in PAIRED}
    in_store: list[float] = []  # (the stores' time, on − off) ÷ the commands' time, off
    inside: list[float] = []  # SQLite: the chaining step's own time ÷ the rest of the command
    timer = _StoreTimer(rt)
    first = 5_000_000
    logs = rt.record_logs()
    record_follower.catch_up(rt.chain_engine, logs)
    for _ in range(rounds):
        seconds = dict.fromkeys(PAIRED, 0.0)
        timer.reset()
        for _ in range(commands // 2):
            variants = list(PAIRED)
            order.shuffle(variants)
            for variant in variants:
                command_chaining(rt, variant != "off")
                timer.variant = variant
                start = time.perf_counter()
                lodge_and_note(rt, first)
                if variant == "on + catch-up":
                    record_follower.catch_up(rt.chain_engine, logs)
                seconds[variant] += time.perf_counter() - start
                timer.variant = None
                first += 1
                settle(rt)  # untimed, after every variant alike
        for v in PAIRED[1:]:
            shares[v].append(seconds[v] / seconds["off"] - 1)
        for v in PAIRED:
            per_command[v].append(seconds[v] / commands)
        in_store.append((timer.stored["on"] - timer.stored["off"]) / seconds["off"])
        if timer.chained:
            inside.append(timer.chained / (seconds["on"] - timer.chained))
    timer.undo()
    command_chaining(rt, not rt.settings.is_postgres)  # the backend's own design
    base = statistics.median(per_command["off"])
    print(
        f"  chained by the command itself ({commands} commands per variant per round, {rounds} "
        f"rounds, variants interleaved pair by pair): {base * 1e3:.2f} ms per command with the "
        "stores not chaining"
    )
    for v, label in zip(
        PAIRED[1:],
        ("chained by the command", "chained by the command, then the catch-up"),
        strict=True,
    ):
        print(
            f"    {label}: {statistics.median(per_command[v]) * 1e3:.2f} ms; whole commands' "
            f"time, the chain's share {_spread(shares[v])}"
        )
    print(
        "    the stores' own time (saving the events), chaining on − off, ÷ the command's "
        f"time: {_spread(in_store)}"
    )
    if inside:
        print(
            "    SQLite, the chaining step timed inside the store ÷ the rest of the command: "
            f"{_spread(inside)}"
        )


BESIDE = (
    "no chain",
    "chained by the command",
    "a follower beside",
    UNSPACED := "a follower, rounds unspaced",
)


def saturated(
    rt: Runtime, commands: int, workers: int, first: int, variant: str
) -> tuple[float, list[float], float, float, _FollowerUse]:
    """`commands` commands (lodge-and-note pairs) from `workers` threads at once: with the
    stores not chaining and no follower (*no chain*), the stores chaining their own events
    with a follower thread beside as the safety net (*chained by the command*, what `crm
    serve` and `crm worker` ran before), or the stores not chaining and a follower thread
    chaining in batches (*a follower beside*), or that follower with its rounds not spaced (a
    round right after each that chained something, as before). Returns the wall seconds of the commands, each
    command's seconds, and the seconds the follower took after the last command to chain the
    rest (0 with no chain), the CPU seconds used meanwhile by this process and the server's
    backends (`_Cpu`): on a shared machine of two cores, what competes; and the follower's
    own use (`_FollowerUse`: its thread's CPU and its connections' backends', its rounds)."""
    command_chaining(rt, variant == "chained by the command")
    logs = rt.record_logs()
    stop = threading.Event()
    thread = None
    use = _FollowerUse(rt)
    follower_ = record_follower.RecordFollower(rt.chain_engine, logs)
    if variant == UNSPACED:  # as before: a round right after each round that chained something
        follower_.gather_s = 0.0
    if variant != "no chain":
        thread = threading.Thread(target=use.run, args=(follower_, stop), daemon=True)
        thread.start()
    pairs = iter(range(first, first + commands // 2))
    taken = threading.Lock()
    latencies: list[float] = []

    def work() -> None:
        while True:
            with taken:
                n = next(pairs, None)
            if n is None:
                return
            mine = lodge_and_note(rt, n)
            with taken:
                latencies.extend(mine)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    cpu = _Cpu(rt)
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - start
    drained = 0.0
    if thread is not None:
        # the stores' heads once (no command comes now), then the chain's alone, polled on
        # a connection that is not the follower's, every 10 ms: the polling's own CPU is small
        stored = {name: app.recorder.max_notification_id() or 0 for name, app in logs.items()}
        deadline = time.monotonic() + 120
        while not _chain_reached(rt, stored):
            if time.monotonic() > deadline:
                raise RuntimeError("the follower did not catch up within 120 s")
            time.sleep(0.01)  # polling a condition with a deadline
        drained = time.perf_counter() - start - took
        stop.set()
        thread.join()
    used = cpu.used()  # the commands' and the follower's, to the last event chained
    use.rounds, use.chained = follower_.rounds, follower_.chained
    use.seconds = took + drained
    record_follower.catch_up(rt.chain_engine, logs)  # every round starts level
    settle(rt)
    command_chaining(rt, not rt.settings.is_postgres)  # the backend's own design
    return took, latencies, drained, used, use


class _FollowerUse:
    """The follower thread's own CPU (`run` it on the thread) and, on PostgreSQL, that of the
    server's backends of the chain's engine, which only the follower uses while the commands
    run (the stores have their own connections; the bench polls the chain's heads through the
    read models' engine)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.client = 0.0
        self.server = 0.0
        self.rounds = 0
        self.chained = 0
        self.seconds = 0.0

    def run(self, follower_: record_follower.RecordFollower, stop: threading.Event) -> None:
        pids = _chain_backends(self.rt)
        before = _Cpu._server(pids)
        start = time.thread_time()
        try:
            follower_.run(stop)
        finally:
            self.client = time.thread_time() - start
            after = _Cpu._server(pids | _chain_backends(self.rt))
            self.server = sum(ns - before.get(pid, 0) for pid, ns in after.items()) / 1e9

    @property
    def cpu(self) -> float:
        return self.client + self.server


_CHAIN_PIDS: dict[int, set[int]] = {}  # per chain engine (its id): its connections' backends


def _chain_backends(rt: Runtime) -> set[int]:
    """The server pids of the chain engine's connections (PostgreSQL; empty elsewhere): each
    connection asks once, as it connects (the engine's pool is emptied the first time, so
    every connection is seen)."""
    engine = rt.chain_engine
    if not rt.settings.is_postgres:
        return set()
    if id(engine) not in _CHAIN_PIDS:
        pids = _CHAIN_PIDS[id(engine)] = set()

        def seen(dbapi: Any, _record: Any) -> None:
            cursor = dbapi.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(int(cursor.fetchone()[0]))
            cursor.close()

        sa.event.listen(engine, "connect", seen)
        engine.dispose()
    return set(_CHAIN_PIDS[id(engine)])


def _chain_reached(rt: Runtime, stored: dict[str, int]) -> bool:
    """Whether every log's chain head reached `stored`, read through the read models' engine
    on PostgreSQL (the chain's tables are in that database), not the follower's."""
    engine = rt.read_engine if rt.settings.is_postgres else rt.chain_engine
    with engine.connect() as conn:
        heads = record_follower.CHAIN.heads_by_log(conn)
    return all(name in heads and heads[name].position >= p for name, p in stored.items())


class _Cpu:
    """CPU seconds used since it was made: this process's, and on PostgreSQL the server
    backends' connected to the bench's database (`/proc/<pid>/schedstat`, when the server
    runs on this machine; the backends seen at the start and at the end)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.pids = self._backends()
        self.server = self._server(self.pids)
        self.client = time.process_time()

    def _backends(self) -> set[int]:
        if not self.rt.settings.is_postgres:
            return set()
        with self.rt.read_engine.connect() as conn:
            q = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            return {int(r[0]) for r in conn.execute(sa.text(q))}

    @staticmethod
    def _server(pids: set[int], at: dict[int, int] | None = None) -> dict[int, int]:
        found = {}
        for pid in pids:
            try:
                found[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):  # gone, or not on this machine
                continue
        return found

    def used(self) -> float:
        client = time.process_time() - self.client
        now = self._server(self.pids | self._backends())
        server = sum(ns - self.server.get(pid, 0) for pid, ns in now.items())
        return client + server / 1e9


def _chain_caught_up(rt: Runtime, logs: dict[str, Any]) -> bool:
    with rt.chain_engine.connect() as conn:
        heads = record_follower.CHAIN.heads_by_log(conn)
    return all(
        name in heads and heads[name].position >= (app.recorder.max_notification_id() or 0)
        for name, app in logs.items()
    )


def follower_beside(rt: Runtime, commands: int, rounds: int, workers: int) -> None:
    """The two designs of chaining on the command path under saturating commands (see
    `saturated`), in interleaved rounds, the variants in a fresh (seeded) random order each
    round: per round each chaining variant's wall time ÷ the no-chain variant's (its cost in
    throughput), its median and 95th-percentile command latency ÷ the no-chain ones, its CPU
    (this process and the server's backends) ÷ the no-chain variant's, and the follower's own
    CPU (its thread and its connections' backends, `_FollowerUse`) ÷ the no-chain variant's
    whole CPU: the steadiest of these figures, as it does not depend on the commands' own CPU
    in that variant, which swings with the machine. Then the follower's rounds: per second,
    events per round, its CPU per round and per event."""
    order = random.Random(12)
    cost: dict[str, list[float]] = {v: [] for v in BESIDE[1:]}
    p50: dict[str, list[float]] = {v: [] for v in BESIDE[1:]}
    p95: dict[str, list[float]] = {v: [] for v in BESIDE[1:]}
    rate: dict[str, list[float]] = {v: [] for v in BESIDE}
    lag: dict[str, list[float]] = {v: [] for v in BESIDE[1:]}
    cpu: dict[str, list[float]] = {v: [] for v in BESIDE[1:]}
    own: dict[str, list[float]] = {v: [] for v in BESIDE[1:]}
    uses: dict[str, list[_FollowerUse]] = {v: [] for v in BESIDE[1:]}
    per_command: list[float] = []
    first = 8_000_000
    _chain_backends(rt)  # every connection of the chain's engine seen from here on
    record_follower.catch_up(rt.chain_engine, rt.record_logs())
    for _ in range(rounds):
        variants = list(BESIDE)
        order.shuffle(variants)
        got: dict[str, tuple[float, list[float], float, float, _FollowerUse]] = {}
        for variant in variants:
            got[variant] = saturated(rt, commands, workers, first, variant)
            first += commands
        base_took, base_lat, _, base_cpu, _ = got["no chain"]
        b50, b95 = _percentiles(base_lat)
        per_command.append(base_cpu / len(base_lat))
        for v in BESIDE:
            rate[v].append(len(got[v][1]) / got[v][0])
        for v in BESIDE[1:]:
            took, lat, drained, used, use = got[v]
            cpu[v].append(used / base_cpu - 1)
            own[v].append(use.cpu / base_cpu)
            uses[v].append(use)
            l50, l95 = _percentiles(lat)
            cost[v].append(took / base_took - 1)
            p50[v].append(l50 / b50 - 1)
            p95[v].append(l95 / b95 - 1)
            lag[v].append(drained)
    print(
        f"  saturating commands ({commands} per variant per round from {workers} threads at "
        f"once, {rounds} interleaved rounds): no chain {statistics.median(rate['no chain']):.1f} "
        f"commands/s (median of rounds), {statistics.median(per_command) * 1e3:.2f} ms of CPU per "
        "command (this process and the server's backends)"
    )
    for v in BESIDE[1:]:
        print(
            f"    {v}: {statistics.median(rate[v]):.1f} commands/s; the chain's cost in wall "
            f"time {_spread(cost[v])}; median latency {_spread(p50[v])}; 95th percentile "
            f"{_spread(p95[v])}; chained {statistics.median(lag[v]) * 1e3:.0f} ms after the "
            f"last command (median; max {max(lag[v]) * 1e3:.0f} ms); the chain's cost in CPU "
            f"{_spread(cpu[v])}; the follower's own CPU ÷ no chain's CPU {_spread(own[v])}"
        )
        done = [u for u in uses[v] if u.rounds]
        if done:
            per_second = statistics.median(u.rounds / u.seconds for u in done)
            per_round = statistics.median(u.chained / u.rounds for u in done)
            cpu_round = statistics.median(u.cpu / u.rounds for u in done)
            client_round = statistics.median(u.client / u.rounds for u in done)
            per_event = statistics.median(u.cpu / u.chained for u in done)
            print(
                f"      its follower's rounds that chained something: {per_second:.1f} per "
                f"second, {per_round:.1f} events each; CPU {cpu_round * 1e3:.2f} ms a round "
                f"({client_round * 1e3:.2f} ms its thread), {per_event * 1e3:.3f} ms an event "
                "(all its CPU, empty rounds too; medians of rounds)"
            )


def _percentiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=20)
    return statistics.median(xs), q[18]


def _spread(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else xs * 3
    return (
        f"{statistics.median(xs):.1%} (quartiles {q[0]:.1%}–{q[2]:.1%}; rounds "
        f"{', '.join(f'{x:.1%}' for x in xs)}; aim ≤ 5%)"
    )


class _StoreTimer:
    """Times the stores' saving of events (`insert_events`) per variant, and the SQLite
    stores' chaining step (their `chain`), while a variant runs."""

    def __init__(self, rt: Runtime) -> None:
        self.variant: str | None = None
        self.patched: list[Any] = []
        self.reset()
        for app in rt.record_logs().values():
            recorder = app.recorder
            real_insert = recorder.insert_events

            def insert(*args: Any, _real: Any = real_insert, **kwargs: Any) -> Any:
                variant, start = self.variant, time.perf_counter()
                try:
                    return _real(*args, **kwargs)
                finally:
                    if variant is not None:
                        self.stored[variant] += time.perf_counter() - start

            recorder.insert_events = insert
            self.patched.append((recorder, "insert_events"))
            if isinstance(recorder, chaining_recorders.ChainingSQLiteRecorder):
                real_chain = recorder.chain

                def chain(*args: Any, _real: Any = real_chain) -> bool:
                    variant, start = self.variant, time.perf_counter()
                    try:
                        return bool(_real(*args))
                    finally:
                        if variant == "on":
                            self.chained += time.perf_counter() - start

                recorder.chain = chain  # type: ignore[method-assign]
                self.patched.append((recorder, "chain"))

    def reset(self) -> None:
        self.stored = dict.fromkeys(PAIRED, 0.0)
        self.chained = 0.0

    def undo(self) -> None:
        for recorder, name in self.patched:
            delattr(recorder, name)


def command_path(rt: Runtime, commands: int, rounds: int) -> None:
    """`rounds` interleaved rounds, the variants in a fresh random order each round (seeded);
    each variant's figure is the median of its per-round ratios to the no-chain round."""
    per: dict[str, list[float]] = {mode: [] for mode in MODES}
    chain_share: list[float] = []  # per round: catch-up seconds / the commands' own seconds
    first = 1_000_000
    order = random.Random(10)
    for _ in range(rounds):
        modes = list(MODES)
        order.shuffle(modes)
        for mode in modes:
            took, chaining = run_commands(rt, commands, first, mode)
            per[mode].append(took)
            if mode == "caught up after each":
                chain_share.append(chaining / (took - chaining))
            first += commands
    base = statistics.median(per["without"])
    print(
        f"  command path ({commands} commands per variant, {rounds} interleaved rounds in "
        f"random order): {base * 1e3:.2f} ms per command without the chain (rounds spread "
        f"{min(per['without']) * 1e3:.2f}–{max(per['without']) * 1e3:.2f} ms)"
    )
    for mode in MODES[1:]:
        ratios = [w / b for w, b in zip(per[mode], per["without"], strict=True)]
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(
            f"    chain {mode}: {statistics.median(per[mode]) * 1e3:.2f} ms; median "
            f"per-round ratio {statistics.median(ratios):.3f} (quartiles "
            f"{quartiles[0]:.3f}–{quartiles[2]:.3f})"
        )
    quartiles = statistics.quantiles(chain_share, n=4) if len(chain_share) > 1 else chain_share * 3
    print(
        f"    the chain's own work, caught up after each command: median per-round "
        f"(catch-up time ÷ the command's own time) {statistics.median(chain_share):.1%} "
        f"(quartiles {quartiles[0]:.1%}–{quartiles[2]:.1%}; aim ≤ 5%)"
    )


def cli_path(rt: Runtime, commands: int, rounds: int) -> None:
    from commands import users
    from infra import cli
    from infra.cli import record as cli_record
    from infra.config import load_council

    council = load_council(rt.settings.config_dir, COUNCIL)
    if not users.list_users(rt.directory_ports, COUNCIL):
        users.bootstrap_administrator(
            users.BootstrapAdministrator(
                council=COUNCIL, user_id=BENCH_ADMIN, name="Bench Administrator"
            ),
            rt.directory_ports,
            council,
        )
    ref = cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            intake=Intake(
                category="pothole",
                channel=Channel.PHONE,
                description="Pothole by the bench",
                customer=Customer(name="Bench Caller", phone="0400 000 000"),
            ),
            actor=OFFICER,
        ),
        rt.ports,
    ).reference
    saved = dict(os.environ)
    os.environ["CRM_DATA_DIR"] = str(rt.settings.data_dir)
    os.environ.pop("CRM_DATABASE_URL", None)
    if rt.settings.database_url:
        os.environ["CRM_DATABASE_URL"] = rt.settings.database_url
    argv = ["--council", COUNCIL, "--as", BENCH_ADMIN, "note", ref, "Rang back"]
    chain_step = cli_record.chain_what_was_written
    per: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(rounds):
            for chained, seconds in per.items():
                cli_record.chain_what_was_written = (  # type: ignore[assignment]
                    chain_step if chained else (lambda args: None)
                )
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    for _ in range(commands):
                        assert cli.main(argv) == 0
                seconds.append((time.perf_counter() - start) / commands)
        whole = []
        for _ in range(min(rounds * 2, 6)):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "infra.cli", *argv],
                check=True,
                capture_output=True,
                env=os.environ,
                cwd=PROJECT_ROOT,
            )
            whole.append(time.perf_counter() - start)
    finally:
        cli_record.chain_what_was_written = chain_step  # type: ignore[assignment]
        os.environ.clear()
        os.environ.update(saved)
    ratios = [w / b for w, b in zip(per[True], per[False], strict=True)]
    added = statistics.median(per[True]) - statistics.median(per[False])
    print(
        f"  `crm note` as a process (what a user runs): {statistics.median(whole) * 1e3:.0f} "
        f"ms median over {len(whole)} runs; chaining adds {added * 1e3:.1f} ms of it "
        f"({added / statistics.median(whole):.1%})"
    )
    print(
        f"  `crm note` in process ({commands} per variant, {rounds} rounds): "
        f"{statistics.median(per[False]) * 1e3:.2f} ms without, "
        f"{statistics.median(per[True]) * 1e3:.2f} ms with chaining after it; median "
        f"per-round ratio {statistics.median(ratios):.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--verify-events", type=int, default=1_000_000)
    parser.add_argument("--verify-rounds", type=int, default=3)
    parser.add_argument("--audit-events", type=int, default=30_000)
    parser.add_argument("--only", default="follower,verify,commands")
    parser.add_argument("--no-cli", action="store_true", help="commands: skip `crm note` itself")
    parser.add_argument("--workers", type=int, default=4, help="commands: threads saturating")
    args = parser.parse_args(argv)
    configure()  # as the CLI does: warnings and errors only
    parts = set(args.only.split(","))
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        with runtime(backend) as rt:
            if "follower" in parts:
                print(f"{backend}: filling the store with {args.requests} lifecycles …", flush=True)
                for i in range(args.requests):
                    lifecycle(rt, i)
                follower_rounds(rt, args.rounds)
            if "beside" in parts and "commands" not in parts:  # that part alone
                print(f"{backend}: saturating commands (load average {load()})", flush=True)
                follower_beside(rt, args.commands, args.rounds, args.workers)
                if not args.no_cli:  # what the CLI's catch-up on exit costs `crm note`
                    cli_path(rt, args.commands // 4, args.rounds)
                print(f"  load average after: {load()}", flush=True)
            if "commands" in parts:
                print(f"{backend}: the command path (load average {load()})", flush=True)
                command_path(rt, args.commands, args.rounds)
                chained_by_command(rt, args.commands, args.rounds)
                follower_beside(rt, args.commands, args.rounds, args.workers)
                if not args.no_cli:
                    cli_path(rt, args.commands // 2, args.rounds)
                print(f"  load average after: {load()}", flush=True)
        if "verify" in parts:
            with runtime(backend) as rt:
                print(f"{backend}: verification at scale", flush=True)
                verify_at_scale(rt, args.verify_events, max(3, args.verify_rounds))
        if "audit" in parts:
            with runtime(backend) as rt:
                print(f"{backend}: verification with the audit record", flush=True)
                verify_with_audit(rt, args.audit_events, max(3, args.verify_rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
