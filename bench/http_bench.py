"""The staff API under load on loopback: lodge and work-queue reads over HTTP beside the same
command and view called in process, and beside a trivial endpoint of the same app.

Run: ``python -m bench.http_bench [--backend sqlite|postgres|both] [--clients 1,16,64]
[--rounds R] [--requests N] [--reads N] [--seed N] [--open N] [--lock FILE]
[--load-processes P] [--keep DIR [--seed-only]] [--only NAME,…]`` (defaults: both backends,
1, 16 and 64 clients, 3 rounds, 100 lodgements and 50 queue reads per variant per round and
client count, 100,000 stored requests of which 1,000 open on the team whose queue is read).
Seeding 100,000 requests takes about 11 minutes per backend on the shared 2-core machine at a
load average of 15 (about 150 requests/s, mostly the read models' folds).

- **The server** is the real app (`infra.http.app.create_app`) under uvicorn, started as
  ``python -m infra.cli --council upper-lachlan serve --port P`` in its own process, on a free
  loopback port, over the data folder (SQLite) or scratch database (PostgreSQL) prepared here.
- **The load generator** (`bench.http_load`) runs in processes of its own (`--load-processes`,
  default 2), apart from this one, which keeps the in-process baselines: the C clients are
  spread over them, one thread and one keep-alive HTTP/1.1 socket each, sending a ready-made
  request and reading each answer whole by its length, checking its status (a closed loop:
  each client sends its next request when its last answer has arrived). One answer in
  `SAMPLE_EVERY` is decoded and checked here (a lodge's reference, the queue's rows). Every
  request is signed in with a bearer token (`Credentials.issue_token`) of a
  customer-service user.
- **Variants**, at each client count:
  - *HTTP lodge*: ``POST /api/v1/requests`` (a pothole with a named caller: a new customer
    record each time, details sealed);
  - *in-process lodge*: `commands.requests.lodge_request` with the same intake on this
    process's `Runtime` ports, from C threads (as the server's thread pool calls it);
  - *HTTP queue*: ``GET /api/v1/queue?team=water&limit=1000`` (the whole queue in one page;
    the server holds it ready while no event arrives);
  - *HTTP queue page*: ``GET /api/v1/queue?team=water``, the read a client makes by default:
    the queue's first page (`queue_cache.DEFAULT_LIMIT` rows, urgent first, then by due);
  - *in-process queue*: `infra.views.queue` for the same team, from C threads;
  - *HTTP healthz*: ``GET /healthz`` (touches no store): the stack's own cost;
  - *HTTP fixed body*: ``GET /`` of a bare server (`bench.http_fixed`, uvicorn with `crm
    serve`'s settings, in its own process) answering one fixed body the size of the whole
    queue's answer: what this machine charges for sending and reading that many bytes, with
    none of the app.
  `--only` picks variants by short name (`VARIANTS`: lodge, lodge-in-process, queue,
  queue-in-process, page, healthz, fixed), e.g. ``--only queue,page,healthz,fixed``.
  After each lodge variant the read models catch up once (untimed), so queue reads measure a
  read-only steady state, not the catch-up of the lodgements just made.
- **Rounds** are interleaved (the variants' order rotates each round); each pair's figure is
  the median of the per-round ratios, the steadier figure on a shared machine. Latencies
  (p50, p99) are pooled over the rounds.
- **The store is seeded** in bulk: each request made by the domain (`ServiceRequest.lodge`
  with the fields the lodgement policy computes, `lodgement_fields`; then `close` for the
  closed ones), its events turned into stored events by the application's own mapper and
  inserted straight into the store's table (`executemany` on SQLite, `COPY` on PostgreSQL),
  500 requests a transaction. In the same pass the same events, at the positions the store
  gave them, go through every read model's bulk fold (as `crm projections rebuild` builds a
  model); then the models' positions are set to the head and the record chain catches up, so
  the server starts with nothing to catch up. Seeded requests name no customer; their
  description is sealed under one throwaway key. Of `--seed` requests, `--open` are open on
  the water team; of the rest, every tenth is open on another team and the others closed.

`--keep DIR` keeps the seeded store for later runs with the same `--seed` and `--open` (SQLite:
`DIR/sqlite/data`; PostgreSQL: a database named in `DIR/postgres/database_url`, never dropped:
drop it by hand); `--seed-only` seeds it and stops. Each run's lodgements stay in it (on roads,
not the queue read).

Without `--keep`, PostgreSQL runs in a scratch database dropped afterwards (``$CRM_DATABASE_URL``, else
``$CRM_TEST_DATABASE_URL``, else the project's own server); SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import fcntl
import itertools
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import psycopg
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

from bench import http_load
from bench.commands_bench import (
    COUNCIL,
    median_ratio,
    scratch_database,
    server_facts,
    server_url,
)
from bench.commands_bench import Tally as RateTally
from bench.http_load import Load
from bench.privacy_bench import percentile
from bench.residents import Residents
from commands import requests as cmds
from commands import users
from consumers import follower, record_follower
from domain.aggregates.service_request import ServiceRequest
from domain.lodgement import Intake, lodgement_fields, make_intake
from domain.values import Actor, Channel, Customer
from infra import views
from infra.http import queue_cache
from infra.keys import Sealer
from infra.logs import configure
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT, Settings
from projections import bulk, registry
from projections.envelope import Envelope

QUEUE_TEAM = "water"  # the team whose queue is read; the bench's lodgements go to roads
ADMIN = "bench.admin"
USER = "bench.cs"  # a customer-service officer: may lodge and read queues
ROLE = "customer-service"
SEED_SERIAL0 = 900_000  # seeded references, clear of those the counter issues in a run
SEED_CHUNK = 500
SERVER_START_S = 60.0

LODGE_BODY: dict[str, Any] = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 12 Spring St, about 40 cm across; a cyclist fell",
    "name": "Ann Example",
    "phone": "0400 000 123",
    "customer_address": "12 Spring St, Crookwell",
    "location": {"address": "12 Spring St, Crookwell NSW", "lat": -34.46, "long": 149.47},
}
RESIDENTS = 4096  # lodgements by this many invented residents, in turn: each with a phone of
# their own, so the "likely the same person" look-up finds few earlier lodgements, as in life


def lodge_bodies(n: int = RESIDENTS) -> list[dict[str, Any]]:
    """`LODGE_BODY` from `n` invented residents, each with a phone number of their own."""
    residents = Residents()
    bodies = []
    for _ in range(n):
        who = residents.next()
        bodies.append({**LODGE_BODY, "name": who.name, "phone": who.phone})
    return bodies


def lodge_intake(body: dict[str, Any] = LODGE_BODY) -> Intake:
    """The intake the HTTP endpoint builds from a lodgement's body."""
    b, loc = body, body["location"]
    return make_intake(
        category=b["category"],
        channel=Channel(b["channel"]),
        description=b["description"],
        name=b["name"],
        phone=b["phone"],
        customer_address=b["customer_address"],
        address=loc["address"],
        lat=loc["lat"],
        long=loc["long"],
    )


def say(text: str) -> None:
    print(text, flush=True)


# ----------------------------------------------------------------------------------- set-up


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap=None,
        config_dir=PROJECT_ROOT / "config",
    )


def staff_token(rt: Runtime) -> str:
    """An administrator and the bench's customer-service user; a bearer token for the latter."""
    council = rt.ports.council(COUNCIL)
    users.bootstrap_administrator(
        users.BootstrapAdministrator(council=COUNCIL, user_id=ADMIN, name="Bench Administrator"),
        rt.directory_ports,
        council,
    )
    users.add_user(
        users.AddUser(
            council=COUNCIL,
            user_id=USER,
            name="Bench Officer",
            roles=(ROLE,),
            teams=(),
            actor=Actor(id=ADMIN, role="administrator"),
        ),
        rt.directory_ports,
        council,
    )
    token, _ = rt.credentials.issue_token(COUNCIL, USER, ADMIN, rt.clock(), timedelta(hours=4))
    return token


class Every:
    """Prints progress at most every `seconds`, and at the end."""

    def __init__(self, what: str, seconds: float = 5.0) -> None:
        self.what, self.seconds = what, seconds
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.seconds or done >= total:
            self.last = now
            rate = done / max(now - self.started, 1e-9)
            say(f"    {self.what}: {done:,}/{total:,} ({rate:,.0f}/s, {now - self.started:.0f} s)")


def seed(rt: Runtime, total: int, open_in_team: int) -> None:
    """`total` requests, `open_in_team` of them open on `QUEUE_TEAM`, written in bulk: each
    made by the domain and turned into stored events by the application's own mapper, then
    inserted straight into the store's table (`executemany` on SQLite, `COPY` on PostgreSQL,
    `SEED_CHUNK` requests a transaction). The same events, with the positions the store gave
    them, go through every read model's bulk fold (`projections.bulk`, as a rebuild does) in
    the same pass; the models' positions are then set to the store's head, and the record
    chain catches up."""
    council = rt.ports.council(COUNCIL)
    kinds = list(council.categories.values())
    in_team = [k for k in kinds if k.team == QUEUE_TEAM]
    sealer = Sealer(uuid.uuid4(), AESGCM.generate_key(bit_length=256))
    description = sealer.seal("Seeded request: a water meter leaking at the front boundary")
    actor = Actor(id=ADMIN, role="administrator")
    base = rt.clock() - timedelta(days=40)
    step = timedelta(days=30) / max(1, total)
    caller = Customer(name="Seed Caller", phone="0400 000 000")
    models = registry.build_all()
    follower.ensure_tables(rt.read_engine, models)
    folds = [m.fold() for m in models]
    progress = Every("seeding: requests stored and folded")
    opened = events = 0
    t0 = time.perf_counter()
    with store_writer(rt) as insert, rt.read_engine.begin() as conn:
        for first in range(0, total, SEED_CHUNK):
            made: list[ServiceRequest] = []
            for i in range(first, min(first + SEED_CHUNK, total)):
                if i < open_in_team:
                    kind, stays_open = in_team[i % len(in_team)], True
                else:
                    kind = kinds[i % len(kinds)]
                    stays_open = kind.team != QUEUE_TEAM and i % 10 == 0
                at = base + i * step
                intake = Intake(
                    category=kind.code, channel=Channel.PHONE, description="seeded", customer=caller
                )
                reference = f"{council.reference_prefix}-{at.year}-{SEED_SERIAL0 + i:06d}"
                fields = lodgement_fields(council, intake, reference, at)
                fields["customer"], fields["description"] = None, description
                request = ServiceRequest.lodge(occurred_at=at, actor=actor, **fields)
                if stays_open:
                    opened += 1
                else:
                    request.close(
                        outcome="completed",
                        text="Done",
                        outcomes=council.outcomes.keys(),
                        occurred_at=at + timedelta(hours=2),
                        actor=actor,
                    )
                made.append(request)
            lives = [(r, r.collect_events()) for r in made]
            position = insert([rt.app.mapper.to_stored_event(e) for _, es in lives for e in es])
            envelopes = []
            for r, es in lives:
                for e in es:
                    position += 1
                    envelopes.append(
                        Envelope.of(e, position=position, council=COUNCIL, reference=r.reference)
                    )
            events += len(envelopes)
            for fold in folds:
                for env in envelopes:
                    fold.add(env)
                bulk.write_all(conn, fold.take())
            progress(first + len(made), total)
        head = rt.app.recorder.max_notification_id() or 0
        for model, fold in zip(models, folds, strict=True):
            bulk.write_all(conn, fold.finish())
            model.set_position(conn, follower.SOURCE, head)
    if rt.settings.database_url is not None:
        with rt.read_engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    say(
        f"  seeded {total:,} requests ({events:,} events; {opened:,} open, {open_in_team:,} "
        f"of them on {QUEUE_TEAM}) and the read models in {time.perf_counter() - t0:.0f} s"
    )
    t0 = time.perf_counter()
    chained = record_follower.catch_up(rt.chain_engine, rt.record_logs())
    say(f"  record chain caught up ({chained:,} events) in {time.perf_counter() - t0:.0f} s")


@contextmanager
def store_writer(rt: Runtime) -> Iterator[Callable[[list[StoredEvent]], int]]:
    """A function writing stored events at the end of the request store's log, in order, one
    transaction a call; it returns the position before the first (the events then have the
    positions after it, one by one: checked)."""
    recorder: Any = rt.app.recorder
    table = recorder.events_table_name
    columns = "(originator_id, originator_version, topic, state)"

    def checked(before: int, n: int) -> int:
        after = recorder.max_notification_id() or 0
        if after != before + n:
            raise RuntimeError(f"the store gave positions {before + 1}..{after} to {n} events")
        return before

    if rt.settings.database_url is None:

        def insert(stored: list[StoredEvent]) -> int:
            before = recorder.max_notification_id() or 0
            with recorder.datastore.transaction(commit=True) as c:
                c.executemany(
                    f"INSERT INTO {table} {columns} VALUES (?, ?, ?, ?)",
                    [
                        (str(s.originator_id), s.originator_version, s.topic, s.state)
                        for s in stored
                    ],
                )
            return checked(before, len(stored))

        yield insert
        return
    with psycopg.connect(rt.settings.database_url) as pg:

        def copy(stored: list[StoredEvent]) -> int:
            before = recorder.max_notification_id() or 0
            with (
                pg.transaction(),
                pg.cursor() as cur,
                cur.copy(f"COPY {table} {columns} FROM STDIN") as out,
            ):
                for s in stored:
                    out.write_row((s.originator_id, s.originator_version, s.topic, s.state))
            return checked(before, len(stored))

        yield copy
        pg.execute(f"ANALYZE {table}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(settings: Settings, log: Path) -> Iterator[str]:
    """`crm serve` over the prepared store in its own process; yields its base URL."""
    port = free_port()
    env = {**os.environ, "CRM_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("CRM_KAFKA_BOOTSTRAP", None)
    env.pop("CRM_DATABASE_URL", None)
    if settings.database_url:
        env["CRM_DATABASE_URL"] = settings.database_url
    serve = ["-m", "infra.cli", "--council", COUNCIL, "serve", "--port", str(port)]
    with started(serve, port, env, log, "/healthz") as base:
        yield base


@contextmanager
def fixed_server(size: int) -> Iterator[str]:
    """A bare server (`bench.http_fixed`) answering `size` bytes, in its own process."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with tempfile.TemporaryDirectory(prefix="crm-fixed-") as tmp:
        args = ["-m", "bench.http_fixed", "--port", str(port), "--size", str(size)]
        with started(args, port, env, Path(tmp) / "server.log", "/") as base:
            yield base


@contextmanager
def started(
    args: list[str], port: int, env: dict[str, str], log: Path, ready: str
) -> Iterator[str]:
    """`python ARGS` in its own process, once it answers `ready` with 200; yields its base URL
    and stops it afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=out, stderr=out, cwd=PROJECT_ROOT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{base}{ready}", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer in {SERVER_START_S:.0f} s")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------------- variants


@dataclass
class Tally(RateTally):
    latencies: list[float] = field(default_factory=list)  # ms, pooled over the rounds


class Http:
    """`n` requests from `clients` concurrent clients in a closed loop, sent by the load
    generator's processes (`bench.http_load`); a sample of the answers is decoded and checked."""

    def __init__(
        self,
        name: str,
        load: Load,
        base: str,
        request: bytes | tuple[bytes, ...],
        status: int,
        check: Callable[[Any], None],
    ) -> None:
        self.name, self.load, self.request, self.status, self.check = (
            name,
            load,
            request,
            status,
            check,
        )
        where = urlparse(base)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 80
        self.sampled = 0

    def run(self, n: int, clients: int) -> tuple[float, list[float]]:
        seconds, latencies, samples = self.load.run(
            self.host, self.port, self.request, self.status, n, clients
        )
        for body in samples:
            self.check(json.loads(body))
        self.sampled += len(samples)
        return seconds, latencies


class InProcess:
    """`n` calls of `call` from `clients` threads, each thread taking the next call."""

    def __init__(
        self, name: str, pools: dict[int, ThreadPoolExecutor], call: Callable[[], Any]
    ) -> None:
        self.name, self.pools, self.call = name, pools, call

    def run(self, n: int, clients: int) -> tuple[float, list[float]]:
        def timed() -> float:
            t0 = time.perf_counter()
            self.call()
            return 1000 * (time.perf_counter() - t0)

        t0 = time.perf_counter()
        latencies = list(self.pools[clients].map(lambda _: timed(), range(n)))
        return time.perf_counter() - t0, latencies


LABELS = (
    "HTTP lodge",
    "in-process lodge",
    "HTTP queue",
    "in-process queue",
    "HTTP healthz",
    "HTTP queue page",
    "HTTP fixed body",
)
VARIANTS = dict(
    zip(
        ("lodge", "lodge-in-process", "queue", "queue-in-process", "healthz", "page", "fixed"),
        LABELS,
        strict=True,
    )
)  # `--only`'s short names


def measure(
    rt: Runtime, base: str, token: str, args: argparse.Namespace
) -> dict[int, dict[str, Tally]]:
    council = rt.ports.council(COUNCIL)
    actor = Actor(id=USER, role=ROLE)
    bodies = lodge_bodies()
    intakes = itertools.cycle([lodge_intake(b) for b in bodies])
    next_intake = threading.Lock()

    def lodge() -> None:
        with next_intake:
            intake = next(intakes)
        cmds.lodge_request(cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=actor), rt.ports)

    def queue() -> None:
        rows = views.queue(rt, council, QUEUE_TEAM, None)
        assert len(rows) >= min(args.open, args.seed), len(rows)

    # the whole queue as one page (at most 1,000 rows a page): the 1,000-row read of the aim
    queue_path = f"/api/v1/queue?team={QUEUE_TEAM}&limit=1000"
    host = urlparse(base).netloc
    headers = {"Authorization": f"Bearer {token}"}
    lodge_request = tuple(
        http_load.request_bytes(
            "POST",
            "/api/v1/requests",
            host,
            {**headers, "Content-Type": "application/json"},
            json.dumps(body).encode(),
        )
        for body in bodies
    )
    queue_request = http_load.request_bytes("GET", queue_path, host, headers)
    # the default read: the first page of the same queue
    page_request = http_load.request_bytes("GET", f"/api/v1/queue?team={QUEUE_TEAM}", host, headers)
    expected_rows = min(args.open, args.seed)
    page_rows = min(expected_rows, queue_cache.DEFAULT_LIMIT)
    healthz_request = http_load.request_bytes("GET", "/healthz", host, {})

    def lodged(answer: Any) -> None:
        assert str(answer["reference"]).startswith("UL-"), answer

    def queued(answer: Any) -> None:
        assert isinstance(answer, list) and len(answer) >= expected_rows, len(answer)
        assert all("reference" in row for row in answer)

    def paged(answer: Any) -> None:
        assert isinstance(answer, list) and len(answer) == page_rows, len(answer)
        assert all("reference" in row for row in answer)

    def healthy(answer: Any) -> None:
        assert isinstance(answer, dict), answer

    # the floor under the whole queue's answer: a bare server sending as many bytes
    whole = httpx.get(base + queue_path, headers=headers, timeout=60)
    whole.raise_for_status()
    size = len(whole.content)

    def fixed(answer: Any) -> None:
        assert isinstance(answer, list) and len(json.dumps(answer)) == size, len(answer)

    chosen = [VARIANTS[name] for name in args.only]
    tallies: dict[int, dict[str, Tally]] = {c: {k: Tally(k) for k in chosen} for c in args.clients}
    stack = ExitStack()
    load = Load(args.load_processes)
    pools = {c: ThreadPoolExecutor(c, thread_name_prefix=f"bench{c}") for c in args.clients}
    try:
        every: list[tuple[Callable[[], Http | InProcess], str]] = [
            (lambda: Http(LABELS[0], load, base, lodge_request, 201, lodged), "requests"),
            (lambda: InProcess(LABELS[1], pools, lodge), "requests"),
            (lambda: Http(LABELS[2], load, base, queue_request, 200, queued), "reads"),
            (lambda: InProcess(LABELS[3], pools, queue), "reads"),
            (lambda: Http(LABELS[4], load, base, healthz_request, 200, healthy), "requests"),
            (lambda: Http(LABELS[5], load, base, page_request, 200, paged), "reads"),
            (lambda: fixed_http(LABELS[6], load, stack, size, fixed), "reads"),
        ]
        variants = [
            (make(), n) for (make, n), label in zip(every, LABELS, strict=True) if label in chosen
        ]
        say("  warming up (connections, caches): 2 calls per client of each variant")
        for c in args.clients:
            for v, _ in variants:
                v.run(2 * c, c)
        views.read_models_ready(rt)
        for r in range(args.rounds):
            t_round = time.perf_counter()
            for c in args.clients:
                turn = r % len(variants)
                order = variants[turn:] + variants[:turn]
                for v, how_many in order:
                    n = getattr(args, how_many)
                    seconds, latencies = v.run(n, c)
                    t = tallies[c][v.name]
                    t.ops, t.seconds = t.ops + n, t.seconds + seconds
                    t.round_rates.append(n / seconds)
                    t.latencies += latencies
                    if "lodge" in v.name:
                        views.read_models_ready(rt)  # untimed: reads see a steady state
            say(
                f"  round {r + 1}/{args.rounds} done in {time.perf_counter() - t_round:.0f} s"
                f" (load average {os.getloadavg()[0]:.1f})"
            )
        sampled = sum(v.sampled for v, _ in variants if isinstance(v, Http))
        say(f"  answers decoded and checked (one in {http_load.SAMPLE_EVERY}): {sampled}")
    finally:
        load.close()
        for pool in pools.values():
            pool.shutdown()
        stack.close()
    return tallies


def fixed_http(
    name: str, load: Load, stack: ExitStack, size: int, check: Callable[[Any], None]
) -> Http:
    """The *HTTP fixed body* variant: its bare server started (closed with `stack`)."""
    base = stack.enter_context(fixed_server(size))
    say(f"  bare server (bench.http_fixed) at {base}: a fixed answer of {size:,} bytes")
    request = http_load.request_bytes("GET", "/", urlparse(base).netloc, {})
    return Http(name, load, base, request, 200, check)


def report(tallies: dict[int, dict[str, Tally]], args: argparse.Namespace) -> None:
    say(
        f"  {'clients':>7}  {'variant':<18} {'per s':>9} {'rounds min–max':>15} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    for c, by_name in tallies.items():
        for t in by_name.values():
            spread = f"{min(t.round_rates):,.0f}–{max(t.round_rates):,.0f}"
            say(
                f"  {c:>7}  {t.name:<18} {t.rate:>9,.0f} {spread:>15} "
                f"{percentile(t.latencies, 50):>8.1f} {percentile(t.latencies, 99):>8.1f}"
            )
    say("  ratios (median of per-round ratios; overall in brackets):")
    for c, by_name in tallies.items():
        parts = []
        for a, b in (
            ("HTTP lodge", "in-process lodge"),
            ("HTTP queue", "in-process queue"),
            ("HTTP lodge", "HTTP healthz"),
            ("HTTP queue", "HTTP fixed body"),
        ):
            if a in by_name and b in by_name:
                ta, tb = by_name[a], by_name[b]
                parts.append(f"{a} / {b} {median_ratio(ta, tb):.2f} ({ta.rate / tb.rate:.2f})")
        say(f"  {c:>7}  " + "; ".join(parts))
    say("  aims:")
    for c, by_name in tallies.items():
        if "HTTP lodge" in by_name and "in-process lodge" in by_name:
            ratio = median_ratio(by_name["HTTP lodge"], by_name["in-process lodge"])
            say(
                f"    {c:>3} clients: HTTP lodge / in-process {ratio:.2f} (aim ≥ 0.70): "
                f"{'met' if ratio >= 0.7 else 'MISSED'}"
            )
    at16 = tallies.get(16, {})

    def p99_of(label: str) -> str:
        return f"{percentile(at16[label].latencies, 99):.1f} ms" if label in at16 else "not run"

    if "HTTP queue" in at16:
        p99 = percentile(at16["HTTP queue"].latencies, 99)
        say(
            f"    queue read, 16 clients, {args.open:,} open among {args.seed:,} stored: p99 "
            f"{p99:.1f} ms (aim < 50 ms): {'met' if p99 < 50 else 'MISSED'}; the same run's "
            f"/healthz p99 {p99_of('HTTP healthz')}, a bare server's fixed answer of the same "
            f"size p99 {p99_of('HTTP fixed body')} (the floors on this machine)"
        )
    if "HTTP queue page" in at16:
        p99 = percentile(at16["HTTP queue page"].latencies, 99)
        say(
            f"    the same queue's first page ({queue_cache.DEFAULT_LIMIT} rows, the default "
            f"read), 16 clients: p99 {p99:.1f} ms (aim < 50 ms): {'met' if p99 < 50 else 'MISSED'}"
        )


# ----------------------------------------------------------------------------------- runner


@contextmanager
def store(backend: str) -> Iterator[str | None]:
    if backend != "postgres":
        yield None
        return
    if not os.environ.get("CRM_DATABASE_URL") and os.environ.get("CRM_TEST_DATABASE_URL"):
        os.environ["CRM_DATABASE_URL"] = os.environ["CRM_TEST_DATABASE_URL"]
    with scratch_database() as url:
        yield url


@contextmanager
def measuring(lock: Path | None) -> Iterator[None]:
    """Holds an exclusive lock on the file `lock` (flock), if given, while measuring: seeding
    runs beforehand without it, so at most one bench on the machine measures at a time."""
    if lock is None:
        yield
        return
    with lock.open("a") as held:
        t0 = time.perf_counter()
        fcntl.flock(held, fcntl.LOCK_EX)
        say(
            f"  holding {lock} to measure (waited {time.perf_counter() - t0:.0f} s; load "
            f"average {' '.join(f'{x:.1f}' for x in os.getloadavg())})"
        )
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


@contextmanager
def kept(backend: str, folder: Path) -> Iterator[str | None]:
    """A store kept between runs in `folder` (SQLite: its data folder; PostgreSQL: a database
    whose URL is written there, made on first use and never dropped)."""
    folder.mkdir(parents=True, exist_ok=True)
    if backend != "postgres":
        yield None
        return
    saved = folder / "database_url"
    if not saved.exists():
        if not os.environ.get("CRM_DATABASE_URL") and os.environ.get("CRM_TEST_DATABASE_URL"):
            os.environ["CRM_DATABASE_URL"] = os.environ["CRM_TEST_DATABASE_URL"]
        url = server_url()
        name = f"bench_kept_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(SQL("CREATE DATABASE {0}").format(Identifier(name)))
        saved.write_text(urlunparse(urlparse(url)._replace(path=f"/{name}")))
    yield saved.read_text().strip()


def bench_backend(backend: str, args: argparse.Namespace) -> dict[int, dict[str, Tally]]:
    with ExitStack() as stack:
        if args.keep is not None:
            tmp = args.keep / backend
            db_url = stack.enter_context(kept(backend, tmp))
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-http-")))
            db_url = stack.enter_context(store(backend))
        where = "kept in " + str(tmp) if args.keep is not None else "scratch"
        if db_url is not None:
            say(f"\n== PostgreSQL: {server_facts(db_url)}, {where} database")
        else:
            say(f"\n== SQLite {sqlite3.sqlite_version}: a data folder, {where}")
        settings = settings_for(tmp / "data", db_url)
        rt = Runtime(settings)
        marker, wanted = tmp / "seeded", f"{args.seed} {min(args.open, args.seed)}"
        try:
            if args.keep is not None and marker.exists() and marker.read_text() == wanted:
                say(f"  the kept store is seeded ({args.seed:,} requests): not seeded again")
                token, _ = rt.credentials.issue_token(
                    COUNCIL, USER, ADMIN, rt.clock(), timedelta(hours=4)
                )
                views.read_models_ready(rt)
            else:
                token = staff_token(rt)
                seed(rt, args.seed, min(args.open, args.seed))
                if args.keep is not None:
                    marker.write_text(wanted)
            if args.seed_only:
                return {}
            with measuring(args.lock), server(settings, tmp / "server.log") as base:
                say(
                    f"  server: crm serve at {base} (its own process); load generator: "
                    f"{args.load_processes} processes of their own, one thread and one "
                    "keep-alive socket per client (bench.http_load)"
                )
                say(
                    f"  {args.rounds} interleaved rounds; per round and client count: "
                    f"{args.requests} lodgements and healthz calls, {args.reads} queue reads "
                    "per variant"
                )
                tallies = measure(rt, base, token, args)
        finally:
            rt.close()
    report(tallies, args)
    return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--clients", default="1,16,64", help="concurrent clients, comma-separated (default 1,16,64)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--requests",
        type=int,
        default=100,
        help="lodgements (and healthz calls) per variant per round",
    )
    parser.add_argument("--reads", type=int, default=50, help="queue reads per variant per round")
    parser.add_argument("--seed", type=int, default=100_000, help="requests stored beforehand")
    parser.add_argument(
        "--open", type=int, default=1000, help=f"of those, open on the {QUEUE_TEAM} team's queue"
    )
    parser.add_argument(
        "--lock",
        type=Path,
        default=None,
        help="a file to hold an exclusive lock on while measuring (not seeding)",
    )
    parser.add_argument(
        "--load-processes", type=int, default=2, help="the load generator's processes (default 2)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="a folder to keep the seeded store in (a subfolder per backend; "
        "PostgreSQL: a database named there, not dropped), reused by a later "
        "run with the same --seed and --open",
    )
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="seed (with --keep) and stop: measure in a later run",
    )
    parser.add_argument(
        "--only",
        default=",".join(VARIANTS),
        help=f"the variants to run, comma-separated, of {', '.join(VARIANTS)} (default all)",
    )
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    if not args.only or (unknown := set(args.only) - set(VARIANTS)):
        parser.error(
            f"--only: {', '.join(sorted(unknown)) or 'nothing'} is not one of {', '.join(VARIANTS)}"
        )
    configure()  # as the CLI, and so the server, configures logging (warnings and errors)
    say(
        f"uvicorn {version('uvicorn')}, fastapi {version('fastapi')}, httpx {version('httpx')}, "
        f"eventsourcing {version('eventsourcing')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        bench_backend(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
