"""The streaming pipeline on the real servers, beside raw baselines measured in the same run.

Run (the servers must be up: ``crm services up``)::

    python -m bench.pipeline_bench                          # about 10 minutes
    python -m bench.pipeline_bench --rebuild-events 1000000 # the issue's rebuild size

0. **The generator alone** (``--only offer``): the lag run's commands at ``--rate`` through the
   real handlers on PostgreSQL, with no relay, no consumer and nothing watched: the rate this
   machine can offer, and the offering processes' CPU per command.

0b. **The relay alone** (``--only relay``): a stored backlog (``--requests`` lifecycles) relayed
   by ``Relay`` in this process (its producer's sender thread included) to a fresh topic, in
   batches of ``--relay-small-batch`` (5: what a trickle's batches hold) and of 1000, beside raw
   kafka-python produce of the same keys, values, headers and partitions (the relay's producer
   settings, flushed at the same batch boundaries): events/s and CPU an event of each.

Every measurement takes ``--rounds`` (3) rounds; in each round the pipeline and its baselines
run back to back (interleaved), and the figure to quote is the **median of the per-round
ratios**: on a shared machine the rates swing between rounds far more than within one.

1. **Drain throughput.** A backlog already in the event store (``--requests`` requests, each a
   full lifecycle of 7 events, every third a complaint, ``--window`` requests interleaved at a
   time) is relayed through
   Kafka into every read model (``--mode processes``: ``crm relay`` plus one ``crm consume``
   feeding every read model, as separate processes; ``--mode per-model``: ``crm relay`` plus
   one ``crm consume NAME`` per read model, each decoding every message, as before one
   consumer fed them all; ``--mode worker``: one ``crm worker``). The consumers start first
   and the relay only once they joined the stream (their start-up is not the drain's time);
   timed from the relay's first acknowledged batch until the relay and every read model have
   drained. Beside it, in the
   same round: raw kafka-python produce + consume of the same messages (same producer
   settings, one consumer reading them once), and raw batched inserts (SQLAlchemy Core, 1000
   rows a statement, same driver) of the same rows the read models ended with. Ratios are
   pipeline events/s ÷ baseline events/s; the aim is ≥ 0.8 × the slower baseline.
2. **End-to-end lag** at a steady offered load: ``--rate`` commands/s for ``--seconds`` through
   the real command handlers, issued from ``--offer-threads`` threads sharing one fixed
   schedule (a seventh lodge, each by a new invented resident with a phone number of their own,
   the rest the next lifecycle step of an earlier request), each timed from its commit to its row version being visible in ``work_queue``
   (polled every 5 ms). Aim: p99 < 500 ms at 200 commands/s. Each round also prints the load
   average and the CPU per command of the offering processes, the relay and the consumer.
3. **Rebuild.** ``--rebuild-events`` events in a store of their own; each read model rebuilt
   (``operations.rebuild``, what ``crm projections rebuild NAME`` runs, in this process) beside
   the physical path: a raw decoded read of the same events (the store's notifications in
   batches of 5000, each state decoded by the store's transcoder) plus a raw bulk insert
   (``COPY``) of the same final rows. Aim: rebuild ≥ 0.5 × the physical path. The first round
   also runs ``crm projections rebuild NAME`` in a child process whose RSS is sampled every 50
   ms (aim: flat, < 300 MB).

Flags: ``--requests`` (10000), ``--window`` (500), ``--mode`` (processes), ``--partitions``
(6), ``--rate`` (200), ``--seconds`` (20), ``--offer-threads`` (4), ``--offer-processes`` (1: more, each with ``--offer-threads``
threads and a share of the rate, when one interpreter cannot offer it), ``--open-requests`` (1000: lodged before the lag
run, so one request's commands are seconds apart), ``--rebuild-events`` (200000), ``--rounds``
(3), ``--only`` (any of ``offer,relay,drain,lag,rebuild``), ``--relay-small-batch`` (5), ``--keep`` (keep the bench databases and
topics), ``--profile FILE`` (the drain's consumer process under cProfile, its stats in FILE),
``--compare-tree DIR`` (the drain's rounds also run the relay and consumer of another checkout
of the project, e.g. the previous release, on the same backlogs: before and after, interleaved).

The backlogs are written by a bench-only bulk loader: the real aggregate makes the events, the
application's own mapper turns them into stored events, and ``COPY`` puts them in the store's
table, so the library reads them back exactly as if the application had saved them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CoordinatorNotAvailableError, NotCoordinatorError

from bench.residents import Residents
from bench.staff import add_officer
from commands import requests as cmds
from commands import users
from consumers import follower, lag, operations
from consumers.kafka_common import (
    KafkaConfig,
    admin_client,
    end_offsets,
    ensure_topic,
    partition_for,
)
from consumers.kafka_consumer import DEAD_LETTERS
from consumers.relay import Relay, headers, make_producer
from consumers.store_reader import StoreReader
from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, Customer, NoteKind, RequestKind
from infra import logs, services
from infra.runtime import Runtime
from infra.services import scratch
from infra.settings import PROJECT_ROOT, Settings
from infra.store import CrmApplication
from projections import bulk, registry

COUNCIL = "upper-lachlan"
SEALED = f"sealed:v1:{uuid.UUID(int=7)}:bench-token"
BENCH_ADMIN = "bench.admin"  # `crm projections rebuild` needs an administrator
ACTOR = Actor(id="bench.officer", role="officer")
EPOCH = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=11)))
# the live commands' delay: ahead of today, within the councils' two-year horizon for due dates
DELAYED_UNTIL = date.today() + timedelta(days=200)
INSERT_CHUNK = 1000
STEPS = 6  # after lodgement: acknowledge, assign, note, delay, escalate, close


# ------------------------------------------------------------------------------ the environment


@dataclass
class Bench:
    """One bench database and topic on the shared servers."""

    server_url: str
    bootstrap: str
    partitions: int
    data_dir: Path
    tag: str
    url: str = ""

    @property
    def config(self) -> KafkaConfig:
        return KafkaConfig(
            bootstrap=self.bootstrap,
            topic=f"bench-{self.tag}",
            partitions=self.partitions,
            group_prefix=f"bench-{self.tag}.",
        )

    def settings(self, kafka: bool = True) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.url,
            kafka_bootstrap=self.bootstrap if kafka else None,
            config_dir=PROJECT_ROOT / "config",
        )

    def env(self, kafka: bool = True) -> dict[str, str]:
        c = self.config
        out = {
            **os.environ,
            "CRM_DATABASE_URL": self.url,
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_KAFKA_TOPIC": c.topic,
            "CRM_KAFKA_GROUP_PREFIX": c.group_prefix,
            "CRM_KAFKA_PARTITIONS": str(c.partitions),
            "CRM_LOG_LEVEL": "WARNING",
            "CRM_KAFKA_BOOTSTRAP": self.bootstrap if kafka else "",
        }
        return out

    def spawn(
        self,
        *args: str,
        kafka: bool = True,
        profile: str | None = None,
        tree: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """`crm ARGS` in a child process, from this checkout or from `tree`'s."""
        python = [sys.executable] + (["-m", "cProfile", "-o", profile] if profile else [])
        env = self.env(kafka)
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        return subprocess.Popen(
            [*python, "-m", "infra.cli", *args],
            env=env,
            cwd=tree or PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )


@contextmanager
def bench_database(bench: Bench, keep: bool) -> Iterator[str]:
    """A fresh database for one measurement, dropped afterwards unless `keep`."""
    name = scratch.create_database(bench.server_url, f"bench_{bench.tag}")
    bench.url = scratch.database_url(bench.server_url, name)
    try:
        yield bench.url
    finally:
        if not keep:
            scratch.drop_database(bench.server_url, name)


def drop_topics(bench: Bench, topics: Sequence[str]) -> None:
    """Deletes the topics and the bench's consumer groups from the shared broker."""
    admin = admin_client(bench.config)
    try:
        existing = set(admin.list_topics())
        gone = [t for t in topics if t in existing]
        if gone:
            admin.delete_topics(gone)
        groups = [bench.config.group(name) for name in registry.READ_MODELS]
        groups.append(bench.config.models_group(list(registry.READ_MODELS)))
        admin.delete_groups(groups)  # absent groups are reported, not raised
    finally:
        admin.close()


# ------------------------------------------------------------------------------ the bulk loader


class BulkLoader:
    """Writes full request lifecycles into the store's own table with COPY (bench only)."""

    def __init__(self, app: CrmApplication, council: Council, url: str) -> None:
        self.app = app
        self.council = council
        self.url = url
        self.loaded_requests = 0

    def load(self, requests: int, window: int) -> int:
        """Appends `requests` lifecycles, `window` requests interleaved at a time; returns the
        number of events written."""
        events = 0
        with psycopg.connect(self.url) as conn:
            for start in range(0, requests, window):
                batch = self._window(min(window, requests - start))
                events += self._copy(conn, batch)
                conn.commit()
        return events

    def _window(self, size: int) -> list[Any]:
        """The events of `size` lifecycles, step by step across the requests (interleaved)."""
        aggregates = [self._lodge(self.loaded_requests + i) for i in range(size)]
        self.loaded_requests += size
        events = [e for a in aggregates for e in a.collect_events()]
        for step in range(1, STEPS + 1):
            for a in aggregates:
                self._step(a, step)
                events += a.collect_events()
        return events

    def _lodge(self, n: int) -> ServiceRequest:
        at = EPOCH + timedelta(minutes=n)
        # Every third request is a complaint (as in the soak), so the complaint register's
        # rebuild has rows to build.
        kind = RequestKind.COMPLAINT if n % 3 == 2 else RequestKind.SERVICE_REQUEST
        intake = Intake(
            category="pothole",
            channel=Channel.PHONE,
            description=f"Pothole {n}",
            customer=Customer(name="Bench Resident", phone="0400 000 000"),
            kind=kind,
        )
        fields = lodgement_fields(self.council, intake, f"UL-2026-{n:07d}", at)
        # The events carry personal data sealed (`domain.personal`): constant tokens stand in
        # for the sealing the command path does (the privacy bench measures that).
        fields["description"] = SEALED
        fields["customer"] = dataclasses.replace(fields["customer"], name=SEALED, phone=SEALED)
        return ServiceRequest.lodge(occurred_at=at, actor=ACTOR, **fields)

    def _step(self, a: ServiceRequest, step: int) -> None:
        at = a.lodged_at + timedelta(hours=step)
        kw: dict[str, Any] = {"occurred_at": at, "actor": ACTOR}
        match step:
            case 1:
                a.acknowledge(**kw)
            case 2:
                a.assign(team="roads", officer="o.smith", **kw)
            case 3:
                a.add_note(
                    text="Inspected; crew booked", note_kind=NoteKind.ACTION, channel=None, **kw
                )
            case 4:
                a.delay(horizon_days=730, reason="Asphalt supply", until=date(2027, 6, 29), **kw)
            case 5:
                a.escalate(level=None, reason="Target missed", **kw)
            case 6:
                a.close(outcome="completed", text="Patched", outcomes=self.council.outcomes, **kw)

    def _copy(self, conn: psycopg.Connection[Any], events: Sequence[Any]) -> int:
        sql = "COPY councilcrm_events (originator_id, originator_version, topic, state) FROM STDIN"
        with conn.cursor() as cur, cur.copy(sql) as copy:
            for event in events:
                s = self.app.mapper.to_stored_event(event)
                copy.write_row((s.originator_id, s.originator_version, s.topic, s.state))
        return len(events)


def load_backlog(bench: Bench, requests: int, window: int) -> int:
    """Creates the store's and the read models' tables, then bulk-loads the backlog; returns
    the number of events."""
    rt = Runtime(bench.settings())
    try:
        council = rt.ports.council(COUNCIL)
        follower.ensure_tables(rt.read_engine, registry.build_all())
        DEAD_LETTERS.metadata.create_all(rt.read_engine)
        return BulkLoader(rt.app, council, bench.url).load(requests, window)
    finally:
        rt.close()


# ------------------------------------------------------------------------------ measurements


def wait_drained(bench: Bench, rt: Runtime, timeout_s: float, interval_s: float = 0.1) -> None:
    models = registry.build_all()
    reader = StoreReader(rt.app)

    def status() -> lag.PipelineStatus:
        return lag.kafka_status(
            reader, rt.write_engine, rt.read_engine, bench.config, models, ages=False
        )

    final = lag.wait_drained(status, timeout_s, interval_s)
    if not final.drained():
        raise RuntimeError(f"pipeline not drained after {timeout_s:g} s: {final.to_dict()}")


def wait_first_publish(bench: Bench, timeout_s: float = 600) -> float:
    """The monotonic instant the topic first holds a message (polled every 20 ms)."""
    deadline = time.monotonic() + timeout_s
    consumer = KafkaConsumer(bootstrap_servers=bench.bootstrap, group_id=None)
    try:
        tps = [TopicPartition(bench.config.topic, p) for p in range(bench.partitions)]
        while time.monotonic() < deadline:
            if bench.config.topic in consumer.topics() and sum(consumer.end_offsets(tps).values()):
                return time.monotonic()
            time.sleep(0.02)
    finally:
        consumer.close()
    raise RuntimeError("the relay published nothing")


def wait_consumers_joined(bench: Bench, groups: Sequence[str], timeout_s: float = 600) -> None:
    """Returns once every consumer group is stable with a member (its consumer started, built
    what it had to and joined the stream), polled every 100 ms."""
    admin = admin_client(bench.config)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                found = admin.describe_groups(list(groups))
            except (CoordinatorNotAvailableError, NotCoordinatorError):
                # a fresh broker makes its group coordinator on the first group's request
                found = {}
            if all(
                found.get(g, {}).get("group_state") == "Stable" and found[g].get("members")
                for g in groups
            ):
                return
            time.sleep(0.1)
    finally:
        admin.close()
    raise RuntimeError(f"the consumers did not join within {timeout_s:g} s")


@contextmanager
def pipeline_processes(
    bench: Bench, mode: str, profile: str | None = None, tree: Path | None = None
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """The consumers first, then (once they joined the stream: their start-up is not the
    drain's time) the relay; all stopped on exit. `tree`: another checkout's processes.
    Yields them by name (`relay`, `consume`, `consume NAME`, `worker`)."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    names = list(registry.READ_MODELS)
    try:
        if mode == "worker":
            procs["worker"] = bench.spawn("worker")
        else:
            ensure_topic(bench.config)
            if mode == "per-model":
                procs.update({f"consume {n}": bench.spawn("consume", n) for n in names})
                groups = [bench.config.group(name) for name in names]
            else:
                procs["consume"] = bench.spawn("consume", *names, profile=profile, tree=tree)
                groups = [bench.config.models_group(names)]
            wait_consumers_joined(bench, groups)
            procs["relay"] = bench.spawn("relay", tree=tree)
        yield procs
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(60)


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system, every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a server and its children: its own, its reaped children's, and each
    live child's (PostgreSQL's backends and workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile: its time is in the parent's reaped children
            continue
        if int(child[1]) == pid:
            total += (int(child[11]) + int(child[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_pids(bench: Bench) -> dict[str, int]:
    """The PostgreSQL and Kafka servers' pids, when they are the ones `crm services up`
    started (the bench's own servers); otherwise none."""
    found = {}
    for name, state in services.status().items():
        address = str(state.get("address") or "")
        ours = address and (address in bench.server_url or address in bench.bootstrap)
        if state.get("running") and ours and state.get("pid"):
            found[f"{name} server"] = int(str(state["pid"]))
    return found


@contextmanager
def cpu_used(
    procs: dict[str, subprocess.Popen[bytes]],
    into: dict[str, float],
    servers: dict[str, int] | None = None,
) -> Iterator[None]:
    """Fills `into` with each process's CPU seconds spent inside the block, and each of
    `servers`' (name → pid: the process and its children)."""
    clocks: dict[str, Callable[[], float]] = {
        name: functools.partial(cpu_seconds, p.pid) for name, p in procs.items()
    }
    for name, pid in (servers or {}).items():
        clocks[name] = functools.partial(tree_cpu_seconds, pid)
    before = {name: clock() for name, clock in clocks.items()}
    yield
    into.update({name: clock() - before[name] for name, clock in clocks.items()})


def raw_insert_seconds(engine: sa.Engine, name: str) -> tuple[float, int]:
    """Time to insert the live rows of read model `name` into fresh copies of its tables,
    1000 rows a statement, one transaction per statement; returns (seconds, rows). The rows
    are streamed from the live tables; only the inserts are timed."""
    live, raw = registry.build(name), registry.build(name, "raw_")
    raw.drop(engine)
    raw.create(engine)
    targets = {t.name.removeprefix("raw_"): t for t in raw.data_tables}
    elapsed, rows = 0.0, 0
    with engine.connect() as source:
        for table in live.data_tables:
            result = source.execution_options(yield_per=INSERT_CHUNK).execute(sa.select(table))
            for part in result.mappings().partitions():
                chunk = [dict(r) for r in part]
                started = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(sa.insert(targets[table.name]), chunk)
                elapsed += time.perf_counter() - started
                rows += len(chunk)
    raw.drop(engine)
    return elapsed, rows


def topic_messages(bench: Bench) -> list[tuple[bytes, bytes]]:
    """Every (key, value) in the bench topic."""
    ends = end_offsets(bench.config)
    consumer = KafkaConsumer(
        bootstrap_servers=bench.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    out: list[tuple[bytes, bytes]] = []
    try:
        tps = [TopicPartition(bench.config.topic, p) for p in ends]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while len(out) < sum(ends.values()):
            for records in consumer.poll(timeout_ms=500).values():
                out += [(r.key, r.value) for r in records]
    finally:
        consumer.close()
    return out


def raw_kafka_seconds(bench: Bench, messages: Sequence[tuple[bytes, bytes]]) -> float:
    """Produce the messages to a fresh topic (the relay's producer settings) and consume them
    once with one consumer."""
    config = KafkaConfig(
        bootstrap=bench.bootstrap, topic=f"bench-raw-{bench.tag}", partitions=bench.partitions
    )
    ensure_topic(config)
    producer: KafkaProducer = make_producer(config)
    consumer = KafkaConsumer(
        bootstrap_servers=bench.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    tps = [TopicPartition(config.topic, p) for p in range(config.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    started = time.perf_counter()
    for key, value in messages:
        producer.send(config.topic, key=key, value=value)
    producer.flush()
    received = 0
    while received < len(messages):
        received += sum(len(r) for r in consumer.poll(timeout_ms=500).values())
    elapsed = time.perf_counter() - started
    producer.close()
    consumer.close()
    drop_topics(bench, [config.topic])
    return elapsed


def drain_round(
    bench: Bench, args: argparse.Namespace, mode: str, profile: str | None
) -> dict[str, float]:
    """One round: the pipeline drains a fresh backlog, then the raw baselines on the same
    messages and rows; returns events/s of each."""
    bench.tag = uuid.uuid4().hex[:8]
    with bench_database(bench, args.keep):
        events = load_backlog(bench, args.requests, args.window)
        rt = Runtime(bench.settings())
        try:
            tree = args.compare_tree if mode == "tree" else None
            with pipeline_processes(bench, "processes" if tree else mode, profile, tree):
                first = wait_first_publish(bench)
                wait_drained(bench, rt, timeout_s=3600)
                drain_s = time.monotonic() - first
            insert_s = sum(raw_insert_seconds(rt.read_engine, n)[0] for n in registry.READ_MODELS)
            messages = topic_messages(bench)
            kafka_s = raw_kafka_seconds(bench, messages[:events])
        finally:
            rt.close()
            if not args.keep:
                drop_topics(bench, [bench.config.topic])
    return {
        "events": events,
        "pipeline": events / drain_s,
        "kafka": events / kafka_s,
        "inserts": events / insert_s,
    }


def measure_drain(bench: Bench, args: argparse.Namespace) -> None:
    modes = [args.mode] + (["per-model"] if args.compare and args.mode != "per-model" else [])
    if args.compare_tree is not None:
        modes.append("tree")  # another checkout's relay and consumer, e.g. the previous release
        print(f"  tree: the relay and consumer of {args.compare_tree}", flush=True)
    rounds: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else modes[::-1]:  # neither always first
            profile = args.profile if (r == 0 and mode == args.mode) else None
            got = drain_round(bench, args, mode, profile)
            rounds[mode].append(got)
            slower = min(got["kafka"], got["inserts"])
            print(
                f"  round {r + 1} {mode:9}: pipeline {got['pipeline']:7,.0f} events/s; "
                f"raw produce+consume {got['kafka']:7,.0f}/s; raw inserts "
                f"{got['inserts']:7,.0f}/s; pipeline / slower {got['pipeline'] / slower:.2f}",
                flush=True,
            )
    print(
        f"  backlog per round: {int(rounds[modes[0]][0]['events']):,} events "
        f"({args.requests:,} requests), {len(registry.READ_MODELS)} read models"
    )
    for mode, measured in rounds.items():
        ratio = statistics.median(g["pipeline"] / min(g["kafka"], g["inserts"]) for g in measured)
        print(
            f"  {mode:9} median of {len(measured)} rounds: pipeline "
            f"{statistics.median(g['pipeline'] for g in measured):,.0f} events/s, raw produce+consume "
            f"{statistics.median(g['kafka'] for g in measured):,.0f}/s, raw inserts "
            f"{statistics.median(g['inserts'] for g in measured):,.0f}/s; "
            f"pipeline / slower baseline {ratio:.2f} (aim ≥ 0.80)"
        )
    if len(modes) > 1:
        per_round = [
            a["pipeline"] / b["pipeline"]
            for a, b in zip(rounds[modes[0]], rounds[modes[1]], strict=True)
        ]
        print(
            f"  {modes[0]} / {modes[1]}: median {statistics.median(per_round):.2f}× (same rounds)"
        )


# ------------------------------------------------------------------------------ lag


class BenchClock:
    """Business time that moves a minute per command (commands stay valid), never the wall."""

    def __init__(self) -> None:
        self.current = EPOCH + timedelta(days=1)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.current += timedelta(minutes=1)
            return self.current


class LoadGenerator:
    """Issues commands: every seventh a lodgement, the rest the next lifecycle step of the
    longest-waiting open request (so one request's commands are far apart, as in real work);
    records each command's commit instant until its version is visible in work_queue. Each
    lodgement is by a new invented resident (`Residents`)."""

    def __init__(self, rt: Runtime, add_staff: bool = True) -> None:
        self.rt = rt
        self.residents = Residents()
        if add_staff:
            add_officer(rt, COUNCIL)
        self.open: deque[tuple[str, int]] = deque()
        self.pending: dict[tuple[str, int], float] = {}  # (request id, version) → committed at
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.n = 0

    def lodge(self) -> cmds.Result:
        intake = Intake(
            category="pothole",
            channel=Channel.PHONE,
            description="Pothole",
            customer=self.residents.next(),
        )
        result = cmds.lodge_request(
            cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=ACTOR), self.rt.ports
        )
        self.open.append((result.reference, 1))
        return result

    def command(self) -> None:
        """One command; safe from several threads at once (a request taken from `open` is
        this thread's until its next step is put back)."""
        with self.lock:
            self.n += 1
            lodge = self.n % (STEPS + 1) == 0
        try:
            taken = None if lodge else self.open.popleft()
        except IndexError:
            taken = None
        if taken is None:
            result = self.lodge()
        else:
            reference, step = taken
            result = self._step(reference, step)
            if step < STEPS:
                self.open.append((reference, step + 1))
        committed = time.monotonic()
        with self.lock:
            self.pending[(str(result.request_id), result.version)] = committed

    def _step(self, reference: str, step: int) -> cmds.Result:
        p = self.rt.ports
        kw: dict[str, Any] = {"council": COUNCIL, "reference": reference, "actor": ACTOR}
        commands: dict[int, Callable[[], cmds.Result]] = {
            1: lambda: cmds.acknowledge_request(cmds.AcknowledgeRequest(**kw), p),
            2: lambda: cmds.assign_request(
                cmds.AssignRequest(team="roads", officer="o.smith", **kw), p
            ),
            3: lambda: cmds.add_note(cmds.AddNote(text="Inspected", **kw), p),
            4: lambda: cmds.delay_request(
                cmds.DelayRequest(reason="Asphalt", until=DELAYED_UNTIL, **kw), p
            ),
            5: lambda: cmds.escalate_request(cmds.EscalateRequest(reason="Late", **kw), p),
            6: lambda: cmds.close_request(
                cmds.CloseRequest(outcome="completed", text="Done", **kw), p
            ),
        }
        return commands[step]()

    def watch(self, stop: threading.Event) -> None:
        """Every 5 ms, finds which pending versions are visible in work_queue (after `stop`,
        keeps looking for at most 60 s)."""
        table = registry.build("work_queue").table  # type: ignore[attr-defined]
        deadline = float("inf")
        with self.rt.read_engine.connect() as conn:
            while (not stop.is_set() or self.pending) and time.monotonic() < deadline:
                if stop.is_set() and deadline == float("inf"):
                    deadline = time.monotonic() + 60
                with self.lock:
                    pending = dict(self.pending)
                if pending:
                    ids = list({rid for rid, _ in pending})
                    q = sa.select(table.c.request_id, table.c.version).where(
                        table.c.request_id.in_(ids)
                    )
                    seen = dict(conn.execute(q).tuples().all())
                    conn.rollback()
                    now = time.monotonic()
                    visible = [k for k in pending if seen.get(k[0], 0) >= k[1]]
                    with self.lock:
                        for key in visible:
                            self.latencies.append(now - self.pending.pop(key))
                time.sleep(0.005)


def relay_drain(bench: Bench, rt: Runtime, topic: str, batch: int) -> tuple[int, float, float]:
    """The stored events relayed to a fresh `topic` by the relay itself (in this process, its
    producer's sender thread included), `batch` events a batch; (events, seconds, CPU s)."""
    config = dataclasses.replace(bench.config, topic=topic)
    ensure_topic(config)
    relay = Relay(StoreReader(rt.app), rt.stream_engine("write"), config, batch_size=batch)
    try:
        assert relay._lead()
        relay._ensure_producer().partitions_for(topic)  # connected, the topic's metadata known
        events, wall, cpu = 0, time.perf_counter(), time.process_time()
        while published := relay.publish_batch():
            events += published
        return events, time.perf_counter() - wall, time.process_time() - cpu
    finally:
        relay.close()
        relay.leader.release()


def raw_produce(
    bench: Bench, topic: str, messages: Sequence[tuple[bytes, bytes, Any, int]], batch: int
) -> tuple[float, float]:
    """The same keys, values, headers and partitions produced to a fresh `topic` with the
    relay's producer settings, flushed every `batch` messages; (seconds, CPU s)."""
    config = dataclasses.replace(bench.config, topic=topic)
    ensure_topic(config)
    producer: KafkaProducer = make_producer(config)
    try:
        producer.partitions_for(topic)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(messages), batch):
            for key, value, headers, partition in messages[i : i + batch]:
                producer.send(topic, key=key, value=value, headers=headers, partition=partition)
            producer.flush()
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        producer.close()


def measure_relay(bench: Bench, args: argparse.Namespace) -> None:
    """The relay alone: a stored backlog relayed to a fresh topic in small batches (as at a
    trickle) and in full ones, beside raw kafka-python produce of the same messages."""
    for r in range(args.rounds):
        bench.tag = uuid.uuid4().hex[:8]
        print(f"  round {r + 1} (load average {load_average()}):")
        with bench_database(bench, args.keep):
            load_backlog(bench, args.requests, args.window)
            rt = Runtime(bench.settings())
            topics: list[str] = []
            try:
                envs = StoreReader(rt.app).read(0, 10**9)
                count = bench.config.partitions
                messages = [
                    (
                        e.request_id.encode(),
                        e.to_json(),
                        headers(e),
                        partition_for(e.request_id, count),
                    )
                    for e in envs
                ]
                for batch in (args.relay_small_batch, 1000):
                    topics += [
                        f"{bench.config.topic}-relay{batch}",
                        f"{bench.config.topic}-raw{batch}",
                    ]
                    n, wall, cpu = relay_drain(bench, rt, topics[-2], batch)
                    raw_wall, raw_cpu = raw_produce(bench, topics[-1], messages[:n], batch)
                    print(
                        f"    batches of {batch}: relay {n / wall:,.0f} events/s, "
                        f"{cpu / n * 1e6:.0f} µs CPU an event; raw produce {n / raw_wall:,.0f} "
                        f"events/s, {raw_cpu / n * 1e6:.0f} µs; relay ÷ raw: rate "
                        f"{(n / wall) / (n / raw_wall):.2f}, CPU {cpu / raw_cpu:.2f}",
                        flush=True,
                    )
            finally:
                rt.close()
                if not args.keep:
                    drop_topics(bench, topics)


def measure_lag(bench: Bench, args: argparse.Namespace) -> None:
    p99s = []
    for r in range(args.rounds):
        bench.tag = uuid.uuid4().hex[:8]
        print(f"  round {r + 1}:")
        p99s.append(lag_round(bench, args))
    print(
        f"  median p99 of {len(p99s)} rounds: {statistics.median(p99s) * 1000:.0f} ms "
        "(aim < 500 ms)"
    )


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def lag_round(bench: Bench, args: argparse.Namespace) -> float:
    print(f"    load average at the start {load_average()}")
    with bench_database(bench, args.keep):
        rt = Runtime(bench.settings(), clock=BenchClock())
        try:
            rt.ports.council(COUNCIL)
            follower.ensure_tables(rt.read_engine, registry.build_all())
            DEAD_LETTERS.metadata.create_all(rt.read_engine)
            gen = LoadGenerator(rt)
            if args.offer_processes > 1:
                got = offer_from_processes(bench, args)
            else:
                for _ in range(args.open_requests):  # requests already being worked, untimed
                    gen.lodge()
                with pipeline_processes(bench, args.mode) as procs:
                    wait_drained(bench, rt, timeout_s=300)
                    used: dict[str, float] = {}
                    with cpu_used(procs, used, server_pids(bench)):
                        got = offer(gen, args.rate, args.seconds, args.offer_threads)
                    got.pipeline_cpu_s = used
        finally:
            rt.close()
            if not args.keep:
                drop_topics(bench, [bench.config.topic])
    lat = sorted(got.latencies)
    p50, p99 = statistics.quantiles(lat, n=100)[49], statistics.quantiles(lat, n=100)[98]
    print(
        f"    offered {args.rate:g} commands/s for {args.seconds:g} s from "
        f"{args.offer_processes} process(es) × {args.offer_threads} threads: issued {got.issued} "
        f"in {got.took:.1f} s ({got.issued / got.took:.0f}/s achieved; a command fell behind its "
        f"schedule by at most {got.behind * 1000:.0f} ms); CPU of the offering processes "
        f"{got.cpu_s / got.issued * 1000:.2f} ms a command (with the watcher's polls)"
    )
    print(
        f"    commit → visible in work_queue: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {lat[-1] * 1000:.0f} ms over {len(lat)} commands; load average at the end "
        f"{load_average()}",
        flush=True,
    )
    every = got.cpu_s + sum(got.pipeline_cpu_s.values())
    print(
        "    CPU per command of "
        + ", ".join(
            f"{name} {cpu / got.issued * 1000:.2f} ms" for name, cpu in got.pipeline_cpu_s.items()
        )
        + f"; with the offering processes' {every / got.issued * 1000:.2f} ms "
        f"({every / got.took:.2f} cores over the run)",
        flush=True,
    )
    return p99


@dataclass
class Offered:
    """What one offering process (or all of them, summed) did."""

    issued: int
    behind: float  # the worst lateness against the schedule, s
    took: float  # s
    cpu_s: float  # CPU time of the offering process(es) while offering
    latencies: list[float]
    # the relay's and the consumer's CPU time from the first command until the last visible
    pipeline_cpu_s: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def combined(cls, parts: Sequence[Offered]) -> Offered:
        return cls(
            issued=sum(p.issued for p in parts),
            behind=max(p.behind for p in parts),
            took=max(p.took for p in parts),
            cpu_s=sum(p.cpu_s for p in parts),
            latencies=[x for p in parts for x in p.latencies],
        )


def offer(
    gen: LoadGenerator,
    rate: float,
    seconds: float,
    threads: int,
    start: float | None = None,
    watch: bool = True,
) -> Offered:
    """Offers `rate` commands/s for `seconds` while (with `watch`) watching them become
    visible; the process's CPU time is measured over the offering."""
    gen.pending.clear()
    stop = threading.Event()
    watcher = threading.Thread(target=gen.watch, args=(stop,), daemon=True)
    if watch:
        watcher.start()
    cpu = time.process_time()
    issued, behind, took = run_paced(gen.command, rate, seconds, threads=threads, start=start)
    cpu_s = time.process_time() - cpu
    stop.set()
    if watch:
        watcher.join(120)
    return Offered(issued, behind, took, cpu_s, gen.latencies)


def offer_from_processes(bench: Bench, args: argparse.Namespace, pipeline: bool = True) -> Offered:
    """The lag run's commands from `--offer-processes` processes (each with its own runtime,
    `--offer-threads` threads and a share of the rate and of the open requests), all on one
    clock: the offered load is not capped by one interpreter's lock. Without `pipeline`, the
    generator alone: no relay, no consumer, nothing watched."""
    ctx = multiprocessing.get_context("spawn")
    n = args.offer_processes
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Queue()
    procs = [
        ctx.Process(
            target=offer_process, args=(bench, args, ready, go, results, pipeline), daemon=True
        )
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    try:
        for _ in range(n):
            ready.get(timeout=600)  # its open requests are lodged
        rt = Runtime(bench.settings())
        try:
            used: dict[str, float] = {}
            processes: AbstractContextManager[dict[str, subprocess.Popen[bytes]]] = (
                pipeline_processes(bench, args.mode) if pipeline else nullcontext({})
            )
            with processes as running:
                if pipeline:
                    wait_drained(bench, rt, timeout_s=300)
                with cpu_used(running, used, server_pids(bench)):
                    start = time.monotonic() + 0.5  # one clock: CLOCK_MONOTONIC is system-wide
                    for _ in range(n):
                        go.put(start)
                    got = [results.get(timeout=args.seconds * 10 + 300) for _ in range(n)]
        finally:
            rt.close()
    finally:
        for p in procs:
            p.join(30)
    out = Offered.combined(got)
    out.pipeline_cpu_s = used
    return out


def offer_process(
    bench: Bench, args: argparse.Namespace, ready: Any, go: Any, results: Any, pipeline: bool
) -> None:
    logs.configure("WARNING")
    rt = Runtime(bench.settings(), clock=BenchClock())
    try:
        gen = LoadGenerator(rt, add_staff=False)
        for _ in range(args.open_requests // args.offer_processes):
            gen.lodge()
        ready.put(True)
        start = go.get()
        results.put(
            offer(
                gen,
                args.rate / args.offer_processes,
                args.seconds,
                args.offer_threads,
                start=start,
                watch=pipeline,
            )
        )
    finally:
        rt.close()


def measure_offer(bench: Bench, args: argparse.Namespace) -> None:
    """The lag run's generator alone: the same commands through the real handlers on
    PostgreSQL, no relay, no consumer, nothing watched; the achieved rate and the offering
    processes' CPU per command."""
    rates, cpus = [], []
    for r in range(args.rounds):
        bench.tag = uuid.uuid4().hex[:8]
        print(f"  round {r + 1}: load average at the start {load_average()}")
        with bench_database(bench, args.keep):
            rt = Runtime(bench.settings(), clock=BenchClock())
            try:
                rt.ports.council(COUNCIL)
                gen = LoadGenerator(rt)
                if args.offer_processes > 1:
                    got = offer_from_processes(bench, args, pipeline=False)
                else:
                    for _ in range(args.open_requests):
                        gen.lodge()
                    got = offer(gen, args.rate, args.seconds, args.offer_threads, watch=False)
            finally:
                rt.close()
        rates.append(got.issued / got.took)
        cpus.append(got.cpu_s / got.issued)
        print(
            f"    offered {args.rate:g} commands/s for {args.seconds:g} s from "
            f"{args.offer_processes} process(es) × {args.offer_threads} threads: issued "
            f"{got.issued} in {got.took:.1f} s ({rates[-1]:.0f}/s achieved; at most "
            f"{got.behind * 1000:.0f} ms behind); CPU of the offering processes "
            f"{cpus[-1] * 1000:.2f} ms a command; load average at the end {load_average()}",
            flush=True,
        )
    print(
        f"  median of {args.rounds}: {statistics.median(rates):.0f} commands/s achieved, "
        f"{statistics.median(cpus) * 1000:.2f} ms CPU a command"
    )


def run_paced(
    action: Callable[[], None],
    rate: float,
    seconds: float,
    threads: int = 1,
    start: float | None = None,
) -> tuple[int, float, float]:
    """Calls `action` `rate` times a second for `seconds`, from `threads` threads each keeping
    its share of one schedule (call k is due at k / rate); returns (calls, worst lateness,
    seconds taken); the schedule begins at `start` (a `time.monotonic()` instant), or now."""
    start = time.monotonic() if start is None else start
    total = int(rate * seconds)
    behind = [0.0] * threads
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            for k in range(index, total, threads):
                due = start + k / rate
                now = time.monotonic()
                if now < due:
                    time.sleep(due - now)
                else:
                    behind[index] = max(behind[index], now - due)
                action()
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return total, max(behind), time.monotonic() - start


# ------------------------------------------------------------------------------ rebuild


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def timed_rebuild(bench: Bench, name: str) -> tuple[float, list[float]]:
    """Runs `crm projections rebuild NAME` (embedded path) and samples its RSS every 50 ms;
    returns (seconds, samples in MB)."""
    samples: list[float] = []
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.cli",
                "--council",
                COUNCIL,
                "--as",
                BENCH_ADMIN,
                "projections",
                "rebuild",
                name,
            ],
            env=bench.env(kafka=False),
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        while proc.poll() is None:
            mb = rss_mb(proc.pid)
            if mb is not None:
                samples.append(mb)
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-2000:]
            raise RuntimeError(f"rebuild {name} failed with exit {proc.returncode}:\n{tail}")
    return elapsed, samples


def physical_read_seconds(rt: Runtime, until: int) -> float:
    """The raw decoded read: the store's notifications up to `until` in batches of 5000, each
    state decoded by the store's own transcoder (no domain objects, no envelopes)."""
    recorder, transcoder = rt.app.recorder, rt.app.mapper.transcoder
    started = time.perf_counter()
    start = 0
    while start < until:
        batch = recorder.select_notifications(start=start, limit=5000, inclusive_of_start=False)
        if not batch:
            break
        for n in batch:
            transcoder.decode(n.state)
        start = batch[-1].id
    return time.perf_counter() - started


def raw_copy_seconds(engine: sa.Engine, name: str) -> tuple[float, int]:
    """Time to COPY the live rows of read model `name` into fresh copies of its tables, in
    one transaction (the rows are read beforehand, untimed); returns (seconds, rows)."""
    live, raw = registry.build(name), registry.build(name, "raw_")
    raw.drop(engine)
    raw.create(engine)
    targets = {t.name.removeprefix("raw_"): t for t in raw.data_tables}
    with engine.connect() as source:
        rows = {
            t.name: [dict(r) for r in source.execute(sa.select(t)).mappings()]
            for t in live.data_tables
        }
    started = time.perf_counter()
    with engine.begin() as conn:
        for table, part in rows.items():
            for i in range(0, len(part), 5000):
                bulk.write(conn, targets[table], part[i : i + 5000])
    elapsed = time.perf_counter() - started
    raw.drop(engine)
    return elapsed, sum(len(p) for p in rows.values())


def measure_rebuild(bench: Bench, args: argparse.Namespace) -> None:
    requests = max(1, args.rebuild_events // (STEPS + 1))
    with bench_database(bench, args.keep):
        t0 = time.perf_counter()
        events = load_backlog(bench, requests, args.window)
        print(
            f"  store: {events:,} events ({requests:,} requests) bulk-loaded in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        rt = Runtime(bench.settings(kafka=False))
        try:
            users.bootstrap_administrator(
                users.BootstrapAdministrator(
                    council=COUNCIL, user_id=BENCH_ADMIN, name="Benchmark administrator"
                ),
                rt.directory_ports,
                rt.ports.council(COUNCIL),
            )
            follower.ensure_tables(rt.read_engine, registry.build_all())
            head = rt.app.recorder.max_notification_id() or 0
            ratios: dict[str, list[float]] = {n: [] for n in registry.READ_MODELS}
            rates: dict[str, list[float]] = {n: [] for n in registry.READ_MODELS}
            for r in range(args.rounds):
                for name in registry.READ_MODELS:
                    started = time.perf_counter()
                    operations.rebuild(StoreReader(rt.app), rt.read_engine, name)
                    rebuild_s = time.perf_counter() - started
                    read_s = physical_read_seconds(rt, head)
                    copy_s, rows = raw_copy_seconds(rt.read_engine, name)
                    ratios[name].append((read_s + copy_s) / rebuild_s)
                    rates[name].append(events / rebuild_s)
                    print(
                        f"  round {r + 1} {name:18} rebuild {rebuild_s:6.1f} s "
                        f"({events / rebuild_s:7,.0f} events/s); physical: read {read_s:5.1f} s"
                        f" + COPY of {rows:,} rows {copy_s:5.1f} s; rebuild / physical "
                        f"{(read_s + copy_s) / rebuild_s:.2f}",
                        flush=True,
                    )
            for name in registry.READ_MODELS:
                print(
                    f"  {name:18} median of {args.rounds}: {statistics.median(rates[name]):7,.0f}"
                    f" events/s; rebuild / physical {statistics.median(ratios[name]):.2f} "
                    "(aim ≥ 0.50)"
                )
            if args.rss:
                for name in registry.READ_MODELS:
                    seconds, samples = timed_rebuild(bench, name)
                    report_rss(name, events, seconds, samples)
        finally:
            rt.close()


def report_rss(name: str, events: int, seconds: float, samples: list[float]) -> None:
    quarter = [samples[int(len(samples) * f)] for f in (0.25, 0.5, 0.75)] if samples else []
    print(
        f"  {name:18} `crm projections rebuild` in a child: {seconds:6.1f} s "
        f"({events / seconds:7,.0f} events/s, with start-up); peak RSS "
        f"{max(samples, default=0):.0f} MB; at 25/50/75% of the run "
        + "/".join(f"{mb:.0f}" for mb in quarter)
        + " MB"
    )


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--mode", choices=("processes", "per-model", "worker"), default="processes")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="drain: also the per-model layout, interleaved in the same rounds",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default=None)
    parser.add_argument(
        "--compare-tree",
        type=Path,
        default=None,
        help="also drain with the relay and consumer of this checkout",
    )
    parser.add_argument(
        "--rss",
        action="store_true",
        help="rebuild: also each model in a child process, its RSS sampled",
    )
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--offer-threads",
        type=int,
        default=4,
        help="lag: threads issuing the commands, sharing one schedule",
    )
    parser.add_argument(
        "--offer-processes",
        type=int,
        default=1,
        help="processes issuing the lag run's commands (each --offer-threads)",
    )
    parser.add_argument("--open-requests", type=int, default=1000)
    parser.add_argument(
        "--relay-small-batch",
        type=int,
        default=5,
        help="relay: the small batches' size (a trickle's batch), beside full ones",
    )
    parser.add_argument("--rebuild-events", type=int, default=200_000)
    parser.add_argument(
        "--only", default="drain,lag,rebuild", help="any of offer,drain,lag,rebuild,relay"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    logs.configure("WARNING")  # the commands the lag run issues in this process log quietly
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as data_dir:
        bench = Bench(
            server_url=os.environ.get("CRM_DATABASE_URL") or services.database_url(),
            bootstrap=os.environ.get("CRM_KAFKA_BOOTSTRAP") or services.kafka_bootstrap(),
            partitions=args.partitions,
            data_dir=Path(data_dir),
            tag=uuid.uuid4().hex[:8],
        )
        print(f"pipeline bench ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
        for section, run in (
            ("offer", measure_offer),
            ("relay", measure_relay),
            ("drain", measure_drain),
            ("lag", measure_lag),
            ("rebuild", measure_rebuild),
        ):
            if section in only:
                bench.tag = uuid.uuid4().hex[:8]
                print(f"[{section}]")
                run(bench, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
