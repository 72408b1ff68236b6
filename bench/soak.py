"""The Kafka path under random SIGKILLs: nothing lost, nothing applied twice, verify clean.

Run (it starts PostgreSQL and Kafka servers of its own; the project's usual ones are never
touched)::

    python -m bench.soak                       # 15 minutes, at least 100 kills
    python -m bench.soak --minutes 3 --kills 20 --broker-kills 3 --postgres-kills 2   # a short one

What it does:

1. Starts its own PostgreSQL and Kafka with the project's ``infra.services`` machinery, in a
   state folder of their own (``--state-dir``, default ``<tmp>/councilcrm-soak``) on ports of
   their own (``--pg-port`` 56532, ``--kafka-port`` 60192 and the next one for the
   controller), and creates a fresh database and topic there.
2. Runs the relay (``crm relay``) and the read models' consumer (``crm consume`` with every
   read model, one process in the group ``<prefix>read-models``, as production runs it) as
   separate processes, and ``--threads`` driver threads (4) that each take request after
   request through its full life — lodge, acknowledge, assign, note, delay, escalate, close —
   through the real command handlers; besides, every third request is a complaint, every
   other one has a document attached, one in four is recategorised and another one in four
   is reopened and closed again, so every read model sees traffic. A command that fails
   because a server is away is tried again (bounded); one refused because its earlier attempt
   did commit (say, "already acknowledged") counts as done.
3. Meanwhile a chaos thread SIGKILLs, at random instants spread over the run, the relay, the
   consumer, the broker and PostgreSQL — ``--kills`` in all (110), of which ``--broker-kills``
   (12) of the broker and ``--postgres-kills`` (6) of PostgreSQL, the rest shared by the two
   processes — and restarts each at once (a server with ``infra.services``, which waits
   until it answers).
4. Then stops the drivers, waits until the relay and the consumer have drained, and reports,
   per read model, the events in the store against the model's rows: for the models with a
   row per event (``PER_EVENT_MODELS``: the audit record, both temporal histories, and the
   attachments for ``AttachmentAdded``) each (request, version) once; for the enquiry
   statistics one row per lodgement with its corrected category; for the models with a row
   per request (the complaint register: per complaint) the request's last version and the
   counters of notes, delays, escalations and reopenings. Lost: in the store, not in the
   model; twice: a row too many, a version or counter above the store's. Then the dead
   letters and the result of ``crm projections verify``. The aim: 0 lost, 0 twice, verify
   clean.

``--out FILE`` also writes the report to FILE. ``--keep`` leaves the servers running (their
state folder stays either way; ``python -m infra.services down --state-dir DIR`` with the same
``CRM_PG_PORT``/``CRM_KAFKA_PORT`` stops them).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse, urlunparse

import psycopg2
import sqlalchemy as sa

from bench.staff import add_officer
from commands import attachments, users
from commands import corrections as fix
from commands import requests as cmds
from consumers import lag
from consumers.kafka_common import KafkaConfig, end_offsets, ensure_topic
from consumers.store_reader import StoreReader
from domain.errors import DomainError
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind, RequestKind
from infra import logs
from infra.attachments import DirectoryFileStore
from infra.runtime import Runtime
from infra.services import postgres_cluster
from infra.services.kafka_setup import _Kafka
from infra.settings import PROJECT_ROOT, Settings
from projections import registry

COUNCIL = "upper-lachlan"
SOAK_ADMIN = "soak.admin"  # `crm projections verify` needs an administrator
OFFICER = Actor(id="soak.officer", role="officer")
CONSUMER = "read-models"  # the one `crm consume` process feeding every read model
# Read models with one row per event (primary key: request and version), and which events
# have one: every event, or only those of the types named.
PER_EVENT_MODELS: dict[str, frozenset[str] | None] = {
    "audit_record": None,
    "work_queue_history": None,
    "sla_history": None,
    "request_attachments": frozenset({"AttachmentAdded"}),
}
# One row per lodgement (or enquiry), keyed by the request's id alone, carrying its category.
PER_LODGEMENT_MODELS = ("enquiry_statistics",)
# Models with a row per request of these kinds only (the rest: a row per request, any kind).
ROW_KINDS: dict[str, frozenset[str]] = {"complaint_register": frozenset({"complaint"})}
COUNTERS = {  # read model → {column: the event type it counts}
    "request_summary": {
        "notes": "NoteAdded",
        "delays": "Delayed",
        "escalations": "Escalated",
        "reopens": "Reopened",
    },
    "sla": {"escalations": "Escalated"},
}


# ------------------------------------------------------------------------------ the servers


@dataclass
class Servers:
    """The soak's own PostgreSQL and Kafka, started with `infra.services` in `state`."""

    state: Path
    pg_port: int
    kafka_port: int

    def environ(self) -> None:
        """`infra.services` reads the ports from the environment at each call."""
        os.environ["CRM_PG_PORT"] = str(self.pg_port)
        os.environ["CRM_KAFKA_PORT"] = str(self.kafka_port)
        os.environ["CRM_SERVICES_DIR"] = str(self.state)

    @property
    def server_url(self) -> str:
        return f"postgresql://crm:crm@127.0.0.1:{self.pg_port}/crm"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def postgres_up(self) -> None:
        from infra.services import postgres_up

        self.environ()
        postgres_up(self.state)

    def kafka_up(self) -> None:
        from infra.services import kafka_up

        self.environ()
        kafka_up(self.state)

    def down(self) -> None:
        from infra.services import down

        self.environ()
        down(self.state)

    def postgres_pid(self) -> int | None:
        pg = postgres_cluster._pg_recorded(self.state)
        return pg.pid if pg is not None and pg.running() else None

    def kafka_pid(self) -> int | None:
        k = _Kafka(self.state / "kafka")
        return k.pid if k.running() else None


def restart_until_up(start: Callable[[], None], what: str, timeout_s: float = 300) -> float:
    """Calls `start` until it succeeds (a killed server's leftovers may refuse the first try);
    returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        try:
            start()
            return time.monotonic() - t0
        except Exception as error:
            if time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"{what} did not come back in {timeout_s:g} s") from error
            time.sleep(1.0)


# ------------------------------------------------------------------------------ the pipeline


@dataclass
class Soak:
    servers: Servers
    data_dir: Path
    tag: str
    url: str = ""
    partitions: int = 6
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, TextIO] = field(default_factory=dict)
    exits: Counter[str] = field(default_factory=Counter)  # exits not caused by the chaos thread
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def config(self) -> KafkaConfig:
        return KafkaConfig(
            bootstrap=self.servers.bootstrap,
            topic=f"soak-{self.tag}",
            partitions=self.partitions,
            group_prefix=f"soak-{self.tag}.",
            session_timeout_ms=6_000,
        )

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.url,
            kafka_bootstrap=self.servers.bootstrap,
            config_dir=PROJECT_ROOT / "config",
        )

    def env(self) -> dict[str, str]:
        c = self.config
        return {
            **os.environ,
            "CRM_DATABASE_URL": self.url,
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_KAFKA_BOOTSTRAP": self.servers.bootstrap,
            "CRM_KAFKA_TOPIC": c.topic,
            "CRM_KAFKA_GROUP_PREFIX": c.group_prefix,
            "CRM_KAFKA_PARTITIONS": str(c.partitions),
            "CRM_KAFKA_SESSION_TIMEOUT_MS": str(c.session_timeout_ms),
            "CRM_COUNCIL": COUNCIL,
            "CRM_ACTOR": SOAK_ADMIN,
            "CRM_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def create_database(self) -> None:
        name = f"soak_{self.tag}"
        conn = psycopg2.connect(self.servers.server_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        self.url = urlunparse(urlparse(self.servers.server_url)._replace(path=f"/{name}"))

    # -- the processes ----------------------------------------------------------------------

    @staticmethod
    def process_names() -> list[str]:
        """The relay and the consumer, as `crm relay` and `crm consume` with every read model
        (group `<prefix>read-models`) run in production."""
        return ["relay", CONSUMER]

    def start(self, name: str) -> None:
        args = ["relay"] if name == "relay" else ["consume", *registry.READ_MODELS]
        log = self.logs.get(name)
        if log is None:
            log = self.logs[name] = open(self.data_dir / f"{name}.log", "a")  # noqa: SIM115
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", *args],
            env=self.env(),
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def kill(self, name: str) -> None:
        """SIGKILL, then start again at once."""
        with self.lock:
            proc = self.children[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            self.start(name)

    def restart_exited(self) -> None:
        """A process that ended by itself is counted and started again."""
        with self.lock:
            for name, proc in list(self.children.items()):
                code = proc.poll()
                if code is not None:
                    self.exits[f"{name} (exit {code})"] += 1
                    self.start(name)

    def stop_all(self) -> dict[str, int | None]:
        with self.lock:
            for proc in self.children.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            codes: dict[str, int | None] = {}
            for name, proc in self.children.items():
                try:
                    codes[name] = proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes[name] = proc.wait(30)
            for log in self.logs.values():
                log.close()
            return codes


# ------------------------------------------------------------------------------ the drivers


@dataclass
class Tally:
    commands: int = 0
    retries: int = 0
    done_before: int = 0  # refused on a retry because the failed attempt had committed
    refused: list[str] = field(default_factory=list)
    abandoned: int = 0  # requests given up after too many failed attempts
    lifecycles: int = 0


class Driver(threading.Thread):
    """Takes request after request through its whole life until `stop` is set."""

    def __init__(
        self, soak: Soak, n: int, stop: threading.Event, tally: Tally, tally_lock: threading.Lock
    ) -> None:
        super().__init__(name=f"driver-{n}", daemon=True)
        self.soak, self.n, self.stop, self.tally, self.tally_lock = soak, n, stop, tally, tally_lock
        self.rt: Runtime | None = None

    def run(self) -> None:
        count = 0
        while not self.stop.is_set():
            self._lifecycle(count)
            count += 1
        if self.rt is not None:
            with suppress(Exception):
                self.rt.close()

    def _runtime(self) -> Runtime:
        if self.rt is None:
            self.rt = Runtime(self.soak.settings())
        return self.rt

    def _lifecycle(self, count: int) -> None:
        reference: str | None = None
        for step in steps(count):
            outcome = self._attempt(step, reference, count)
            if outcome is None:
                with self.tally_lock:
                    self.tally.abandoned += 1
                return
            if step == "lodge":
                reference = outcome
        with self.tally_lock:
            self.tally.lifecycles += 1

    def _attempt(self, step: str, reference: str | None, count: int) -> str | None:
        """Issues one command, retrying while a server is away; the reference (or "done"),
        or None when given up."""
        deadline = time.monotonic() + 300
        attempt = 0
        while time.monotonic() < deadline:
            try:
                result = self._command(step, reference, count)
            except DomainError as error:
                with self.tally_lock:
                    if attempt:
                        self.tally.done_before += 1
                    else:
                        self.tally.refused.append(f"{step} {reference}: {error}")
                return reference or "refused"
            except Exception:  # noqa: BLE001 - a server away: drop the connections, try again
                attempt += 1
                with self.tally_lock:
                    self.tally.retries += 1
                if self.rt is not None:
                    with suppress(Exception):
                        self.rt.close()
                    self.rt = None
                time.sleep(min(2.0, 0.2 * attempt))
                continue
            with self.tally_lock:
                self.tally.commands += 1
            return result.reference
        return None

    def _command(self, step: str, reference: str | None, count: int) -> cmds.Result:
        p = self._runtime().ports
        if step == "lodge":
            complaint = count % 3 == 2
            intake = Intake(
                category="pothole",
                channel=Channel.PHONE,
                description=f"Soak request {self.n}-{count}: "
                + ("nobody came about the pothole" if complaint else "deep pothole"),
                customer=Customer(name="Sam Soakley", phone="0400 000 000"),
                kind=RequestKind.COMPLAINT if complaint else RequestKind.SERVICE_REQUEST,
            )
            return cmds.lodge_request(
                cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), p
            )
        assert reference is not None
        kw: dict[str, Any] = {"council": COUNCIL, "reference": reference, "actor": OFFICER}
        match step:
            case "acknowledge":
                return cmds.acknowledge_request(cmds.AcknowledgeRequest(**kw), p)
            case "assign":
                return cmds.assign_request(
                    cmds.AssignRequest(team="roads", officer="o.smith", **kw), p
                )
            case "note":
                return cmds.add_note(
                    cmds.AddNote(text="Inspected; crew booked", note_kind=NoteKind.ACTION, **kw), p
                )
            case "attach":
                files = DirectoryFileStore.for_settings(self.soak.settings())
                return attachments.attach_file(
                    attachments.AttachFile(
                        filename="inspection.txt",
                        media_type="text/plain",
                        content=f"Inspection of {reference}: 40 cm across\n".encode(),
                        note="Crew's inspection",
                        **kw,
                    ),
                    p,
                    files,
                )
            case "recategorise":
                return fix.recategorise_request(
                    fix.RecategoriseRequest(
                        category="road-damage", reason="The shoulder, not the road", **kw
                    ),
                    p,
                )
            case "delay":
                until = date.today() + timedelta(days=60)
                return cmds.delay_request(
                    cmds.DelayRequest(reason="Asphalt supply", until=until, **kw), p
                )
            case "escalate":
                return cmds.escalate_request(cmds.EscalateRequest(reason="Target missed", **kw), p)
            case "reopen":
                return fix.reopen_request(fix.ReopenRequest(reason="Opened up again", **kw), p)
            case _:  # close, and close again after a reopening
                return cmds.close_request(
                    cmds.CloseRequest(outcome="completed", text="Patched", **kw), p
                )


def steps(count: int) -> list[str]:
    """A lifecycle's commands: lodge, acknowledge, assign, note, delay, escalate and close for
    every request; besides, every third request is a complaint, every other one has a
    document attached, one in four is recategorised before it is delayed, and another one in
    four is reopened after closing and closed again (complaints among both)."""
    out = ["lodge", "acknowledge", "assign", "note"]
    if count % 2 == 0:
        out.append("attach")
    if count % 4 == 1:
        out.append("recategorise")
    out += ["delay", "escalate", "close"]
    if count % 4 == 2:
        out += ["reopen", "close again"]
    return out


# ------------------------------------------------------------------------------ the chaos


@dataclass
class Chaos:
    soak: Soak
    plan: list[tuple[float, str]]  # (seconds after the start, target)
    kills: Counter[str] = field(default_factory=Counter)
    restart_s: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def make_plan(
        rng: random.Random, seconds: float, kills: int, broker: int, postgres: int
    ) -> list[tuple[float, str]]:
        """`kills` targets — `broker` of the broker, `postgres` of PostgreSQL, the rest shared
        evenly among the processes — at sorted random instants over the run (leaving its last
        tenth for the last restarts)."""
        processes = Soak.process_names()
        targets = ["broker"] * broker + ["postgres"] * postgres
        rest = max(0, kills - len(targets))
        targets += [processes[i % len(processes)] for i in range(rest)]
        rng.shuffle(targets)
        instants = sorted(rng.uniform(5, seconds * 0.9) for _ in targets)
        return list(zip(instants, targets, strict=True))

    def run(self, started: float, stop: threading.Event) -> None:
        """The broker's kills, PostgreSQL's and the processes' each follow their own part of
        the plan on a thread of their own, so a server's slow restart never holds back the
        other kills."""
        parts: dict[str, list[tuple[float, str]]] = {}
        for at, target in self.plan:
            kind = target if target in ("broker", "postgres") else "processes"
            parts.setdefault(kind, []).append((at, target))
        threads = [
            threading.Thread(target=self._follow, args=(part, started, stop), daemon=True)
            for part in parts.values()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _follow(self, part: list[tuple[float, str]], started: float, stop: threading.Event) -> None:
        for at, target in part:
            while not stop.is_set() and time.monotonic() - started < at:
                self.soak.restart_exited()
                stop.wait(0.5)
            if stop.is_set():
                return
            try:
                self.kill(target)
            except Exception as error:  # noqa: BLE001 - reported
                with self.lock:
                    self.errors.append(f"{target}: {error!r}"[:500])

    def kill(self, target: str) -> None:
        servers = self.soak.servers
        if target in ("broker", "postgres"):
            pid = servers.kafka_pid() if target == "broker" else servers.postgres_pid()
            if pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid)
            start = servers.kafka_up if target == "broker" else servers.postgres_up
            took = restart_until_up(start, target)
            with self.lock:
                self.restart_s.setdefault(target, []).append(took)
        else:
            self.soak.kill(target)
        with self.lock:
            self.kills[target] += 1

    @staticmethod
    def _wait_gone(pid: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            except OSError:
                return
            if state == "Z":
                return
            time.sleep(0.05)


# ------------------------------------------------------------------------------ the counts


@dataclass
class StoreCounts:
    """What the event store holds: per request each version's event type, the kind it was
    lodged as and its category (after any recategorisation)."""

    events: dict[str, dict[int, str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    total: int = 0

    @property
    def versions(self) -> dict[str, int]:
        return {rid: max(vs) for rid, vs in self.events.items()}

    def count(self, rid: str, event_type: str) -> int:
        return sum(1 for t in self.events.get(rid, {}).values() if t == event_type)


def store_events(rt: Runtime) -> StoreCounts:
    out = StoreCounts()
    reader = StoreReader(rt.app)
    position = 0
    while True:
        batch = reader.read(position, 5000)
        if not batch:
            break
        for env in batch:
            out.events.setdefault(env.request_id, {})[env.version] = env.event_type
            if env.event_type == "Lodged":
                out.kinds[env.request_id] = env.data.get("kind") or "service-request"
                out.categories[env.request_id] = env.data["category"]
            elif env.event_type == "ContactLogged":
                out.kinds[env.request_id] = "enquiry"
                out.categories[env.request_id] = env.data["contact_type"]
            elif env.event_type == "Recategorised":
                out.categories[env.request_id] = env.data["category"]
            out.total += 1
        position = batch[-1].position
    return out


@dataclass
class ModelCount:
    name: str
    applied: int
    lost: int
    twice: int
    extra_requests: int


def count_model(conn: sa.Connection, name: str, store: StoreCounts) -> ModelCount:
    """Events the model applied; lost (in the store, not in the model) and twice."""
    model = registry.build(name)
    t = model.table  # type: ignore[attr-defined]  # every model but the base names its table
    if name in PER_EVENT_MODELS:
        return _count_per_event(conn, t, name, store, PER_EVENT_MODELS[name])
    if name in PER_LODGEMENT_MODELS:
        return _count_per_lodgement(conn, t, name, store)
    return _count_per_request(conn, t, name, store)


def _count_per_event(
    conn: sa.Connection, t: sa.Table, name: str, store: StoreCounts, types: frozenset[str] | None
) -> ModelCount:
    """One row per event (of `types`): each (request, version) of the store once."""
    expected = {
        (rid, v)
        for rid, vs in store.events.items()
        for v, kind in vs.items()
        if types is None or kind in types
    }
    rows = Counter((r[0], r[1]) for r in conn.execute(sa.select(t.c.request_id, t.c.version)))
    lost = len(expected - set(rows))
    twice = sum(n - 1 for n in rows.values()) + sum(
        1 for key in rows if key not in expected and key[0] in store.events
    )
    extra = len({rid for rid, _ in rows} - set(store.events))
    return ModelCount(name, sum(rows.values()), lost, twice, extra)


def _count_per_lodgement(
    conn: sa.Connection, t: sa.Table, name: str, store: StoreCounts
) -> ModelCount:
    """One row per lodgement or enquiry, keyed by its id, with the category the store says
    last: a missing row, or a recategorisation not applied, is lost."""
    rows: Counter[str] = Counter()
    lost = 0
    for rid, category in conn.execute(sa.select(t.c.id, t.c.type)):
        rows[rid] += 1
        if rid in store.categories and category != store.categories[rid]:
            lost += 1
    lost += len(set(store.categories) - set(rows))
    twice = sum(n - 1 for n in rows.values())
    extra = len(set(rows) - set(store.categories))
    return ModelCount(name, sum(rows.values()), lost, twice, extra)


def _count_per_request(
    conn: sa.Connection, t: sa.Table, name: str, store: StoreCounts
) -> ModelCount:
    """One row per request (of the kinds the model keeps) at the request's last version, its
    counters equal to the store's counts of those events."""
    columns = COUNTERS.get(name, {})
    kinds = ROW_KINDS.get(name)
    versions = {
        rid: last
        for rid, last in store.versions.items()
        if kinds is None or store.kinds.get(rid) in kinds
    }
    select = [t.c.request_id, t.c.version, *(t.c[c] for c in columns)]
    applied = lost = twice = extra = 0
    seen: set[str] = set()
    for row in conn.execute(sa.select(*select)):
        rid, version = row[0], row[1]
        seen.add(rid)
        last = versions.get(rid)
        if last is None:
            extra += 1
            continue
        applied += version
        lost += max(0, last - version)
        twice += max(0, version - last)
        for column, kind in columns.items():
            difference = row._mapping[column] - store.count(rid, kind)
            twice += max(0, difference)
            lost += max(0, -difference)
    lost += sum(last for rid, last in versions.items() if rid not in seen)
    return ModelCount(name, applied, lost, twice, extra)


# ------------------------------------------------------------------------------ the run


@contextmanager
def tee(out: Path | None) -> Iterator[Callable[[str], None]]:
    buffer = io.StringIO()

    def say(line: str) -> None:
        print(line, flush=True)
        buffer.write(line + "\n")

    try:
        yield say
    finally:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(buffer.getvalue())


def bootstrap_admin(soak: Soak) -> None:
    rt = Runtime(soak.settings())
    try:
        users.bootstrap_administrator(
            users.BootstrapAdministrator(
                council=COUNCIL, user_id=SOAK_ADMIN, name="Soak administrator"
            ),
            rt.directory_ports,
            rt.ports.council(COUNCIL),
        )
        add_officer(rt, COUNCIL)
    finally:
        rt.close()


def wait_drained(soak: Soak, timeout_s: float) -> lag.PipelineStatus | None:
    """Polls until the relay and every consumer drained (restarting any process that ended)."""
    deadline = time.monotonic() + timeout_s
    last: lag.PipelineStatus | None = None
    models = registry.build_all()
    while time.monotonic() < deadline:
        soak.restart_exited()
        rt = Runtime(soak.settings())
        try:
            with redirect_stdout(io.StringIO()):
                last = lag.kafka_status(
                    StoreReader(rt.app),
                    rt.write_engine,
                    rt.read_engine,
                    soak.config,
                    models,
                    ages=False,
                )
            if last.drained():
                return last
        except Exception:  # noqa: BLE001, S110 - a server still coming back: ask again
            pass
        finally:
            rt.close()
        time.sleep(1.0)
    return last


def run(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    logs.configure("WARNING")  # the drivers' commands log each event at INFO
    rng = random.Random(args.seed)
    servers = Servers(Path(args.state_dir), args.pg_port, args.kafka_port)
    servers.state.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    servers.postgres_up()
    servers.kafka_up()
    say(
        f"servers: PostgreSQL {servers.server_url.split('@')[1]}, Kafka {servers.bootstrap} "
        f"(state {servers.state}), up in {time.monotonic() - t0:.1f} s"
    )
    data_dir = Path(tempfile.mkdtemp(prefix="crm-soak-"))
    soak = Soak(servers, data_dir, uuid.uuid4().hex[:8])
    soak.create_database()
    bootstrap_admin(soak)
    ensure_topic(soak.config)
    for name in soak.process_names():
        soak.start(name)
    seconds = args.minutes * 60
    plan = Chaos.make_plan(rng, seconds, args.kills, args.broker_kills, args.postgres_kills)
    say(
        f"soak {args.minutes:g} min, {args.threads} driver threads, {len(plan)} kills planned "
        f"(seed {args.seed}); logs in {data_dir}"
    )
    chaos = Chaos(soak, plan)
    stop_drivers, stop_chaos = threading.Event(), threading.Event()
    tally, tally_lock = Tally(), threading.Lock()
    drivers = [Driver(soak, n, stop_drivers, tally, tally_lock) for n in range(args.threads)]
    started = time.monotonic()
    chaos_thread = threading.Thread(target=chaos.run, args=(started, stop_chaos), daemon=True)
    for d in drivers:
        d.start()
    chaos_thread.start()
    while time.monotonic() - started < seconds and chaos_thread.is_alive():
        time.sleep(5)
        with tally_lock:
            done = tally.commands
        print(
            f"  {time.monotonic() - started:5.0f} s: {sum(chaos.kills.values())} kills, "
            f"{done} commands",
            flush=True,
        )
    chaos_thread.join()  # the plan ends before the run does; a late restart finishes first
    stop_drivers.set()
    for d in drivers:
        d.join(330)
    run_s = time.monotonic() - started
    # Every server up, every process running, then drain.
    restart_until_up(servers.postgres_up, "postgres")
    restart_until_up(servers.kafka_up, "broker")
    t_drain = time.monotonic()
    status = wait_drained(soak, args.drain_timeout)
    drained_s = time.monotonic() - t_drain
    t_verify = time.monotonic()
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "--council",
            COUNCIL,
            "--as",
            SOAK_ADMIN,
            "projections",
            "verify",
            "--timeout",
            "300",
        ],
        env=soak.env(),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    verify_s = time.monotonic() - t_verify
    codes = soak.stop_all()
    timings = (run_s, drained_s, verify_s)
    return report(soak, chaos, tally, status, verify, codes, timings, say, args)


def report(
    soak: Soak,
    chaos: Chaos,
    tally: Tally,
    status: lag.PipelineStatus | None,
    verify: subprocess.CompletedProcess[str],
    codes: dict[str, int | None],
    timings: tuple[float, float, float],  # seconds: the run, the drain, verify
    say: Callable[[str], None],
    args: argparse.Namespace,
) -> int:
    say(
        f"ran {timings[0]:.0f} s; drained {timings[1]:.0f} s after the drivers stopped: "
        f"{'yes' if status is not None and status.drained() else 'NO'}"
    )
    total = sum(chaos.kills.values())
    say(f"kills: {total} in all — " + ", ".join(f"{k} {n}" for k, n in sorted(chaos.kills.items())))
    for target, took in sorted(chaos.restart_s.items()):
        say(
            f"  {target} back in {min(took):.1f}–{max(took):.1f} s "
            f"(median {sorted(took)[len(took) // 2]:.1f} s)"
        )
    for error in chaos.errors:
        say(f"  kill failed: {error}")
    if soak.exits:
        say(
            "processes that ended by themselves (restarted): "
            + ", ".join(f"{k} ×{n}" for k, n in soak.exits.items())
        )
    say(
        f"commands: {tally.commands} ({tally.lifecycles} full lifecycles), {tally.retries} "
        f"retries while a server was away, {tally.done_before} found done by an earlier "
        f"attempt, {tally.abandoned} requests abandoned, {len(tally.refused)} refused"
    )
    for line in tally.refused[:5]:
        say(f"  refused: {line}")
    rt = Runtime(soak.settings())
    try:
        store = store_events(rt)
        by_type = Counter(t for vs in store.events.values() for t in vs.values())
        say(
            f"store: {store.total} events of {len(store.events)} requests; topic holds "
            f"{sum(end_offsets(soak.config).values())} messages (at least once)"
        )
        say("  events by type: " + ", ".join(f"{k} {n}" for k, n in sorted(by_type.items())))
        lost_all = twice_all = 0
        with rt.read_engine.connect() as conn:
            for name in registry.READ_MODELS:
                c = count_model(conn, name, store)
                lost_all += c.lost
                twice_all += c.twice + c.extra_requests
                say(
                    f"  {name:20} applied {c.applied:7d}  lost {c.lost}  twice {c.twice}"
                    + (f"  unknown requests {c.extra_requests}" if c.extra_requests else "")
                )
            parked = conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar() or 0
    finally:
        rt.close()
    say(f"dead letters: {parked}")
    verdict = verify.stdout.strip().replace("\n", "; ")
    say(f"crm projections verify ({timings[2]:.0f} s): exit {verify.returncode}: {verdict}")
    if verify.returncode != 0:
        say(verify.stderr.strip()[-1500:])
    say("processes stopped by SIGTERM: " + ", ".join(f"{k} {v}" for k, v in codes.items()))
    ok = (
        lost_all == 0
        and twice_all == 0
        and verify.returncode == 0
        and total >= args.kills
        and not chaos.errors
    )
    say(
        f"RESULT: {'PASS' if ok else 'FAIL'} — {lost_all} lost, {twice_all} twice, verify "
        f"{'clean' if verify.returncode == 0 else 'FAILED'}, {total} kills "
        f"({chaos.kills['broker']} broker, {chaos.kills['postgres']} PostgreSQL)"
    )
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--kills", type=int, default=110)
    parser.add_argument("--broker-kills", type=int, default=12)
    parser.add_argument("--postgres-kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--state-dir", default=str(Path(tempfile.gettempdir()) / "councilcrm-soak"))
    parser.add_argument("--pg-port", type=int, default=56532)
    parser.add_argument("--kafka-port", type=int, default=60192)
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    servers = Servers(Path(args.state_dir), args.pg_port, args.kafka_port)
    with tee(args.out) as say:
        say(
            f"soak ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load "
            f"{os.getloadavg()[0]:.1f})"
        )
        try:
            return run(args, say)
        finally:
            if not args.keep:
                with suppress(Exception):
                    servers.down()


if __name__ == "__main__":
    raise SystemExit(main())
