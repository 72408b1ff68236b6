"""Full-lifecycle command throughput beside the bare library and raw SQL, on SQLite and PostgreSQL.

Run: ``python -m bench.commands_bench [--requests N] [--backend sqlite|postgres|both]
[--rounds R] [--compare-sqlalchemy]`` (defaults: 400 requests, both backends, 20 rounds;
about 30 s on a 2-core machine, about a minute with ``--compare-sqlalchemy``).

Each request goes through its whole lifecycle — lodge, acknowledge, assign, note, delay, escalate,
close: seven commands, seven events — through our handlers and `StorePorts` (load, decide, save),
on a `Runtime` built exactly as the CLI builds one. Beside it, in the same run and on the same
store, with the same number of events of the same sizes:

- **bare library**: an `eventsourcing` `Application` with its default settings and a plain
  aggregate; one transaction per command, each command a `repository.get` then `save`;
- **raw**: one transaction per event issuing the SQL the library's insert path issues (PostgreSQL:
  ``SET LOCAL lock_timeout``, ``LOCK TABLE … IN EXCLUSIVE MODE``, ``NOTIFY``, the
  ``INSERT … RETURNING notification_id``, through psycopg 3 with autocommit off, one statement at
  a time; SQLite: ``BEGIN``, the library's ``INSERT``, ``COMMIT``). The rows are the very
  ``(topic, state)`` pairs our commands recorded, under fresh ids. PostgreSQL also gets a
  "pipelined" raw line: the same statements sent the way the library sends them (one psycopg
  pipeline: one round trip for the statements, one for the commit);
- **bare library, append only**: the same application saving the same events with no load at
  all — the ceiling of any command path that records through `Application.save`.

The variants run in interleaved rounds (order rotated each round), so a neighbour's load on the
machine lands on all of them alike; besides the overall ratios the bench prints the median of the
per-round ratios, which is the steadier figure on a shared machine. PostgreSQL runs in a scratch
database created for the run and dropped after it (server: ``$CRM_DATABASE_URL``, else the
project's own, started if needed); SQLite in a temporary folder.

``--compare-sqlalchemy`` also measures the library's core PostgreSQL module against
``eventsourcing-sqlalchemy`` (psycopg2), both on their defaults: append events/s (one transaction
per event), get-then-save commands/s, and reading the whole log (pages of 1,000, events/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg.sql import SQL, Identifier
from psycopg.types.composite import CompositeInfo, register_composite

from bench.staff import add_officer
from commands import requests as cmds
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, Location, NoteKind
from infra.runtime import Runtime
from infra.services import scratch
from infra.settings import PROJECT_ROOT, Settings

COUNCIL = "upper-lachlan"
INSTANT = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Australia/Sydney"))  # a business day
OFFICER = Actor(id="jsmith", role="officer")
LIFECYCLE = ("lodge", "acknowledge", "assign", "note", "delay", "escalate", "close")
WARMUP_REQUESTS = 5
LOG_PAGE = 1000

# ------------------------------------------------------------------------------------ our path


def intake(n: int) -> Intake:
    return Intake(
        category="pothole",
        channel=Channel.PHONE,
        description=f"Deep pothole outside {n} Spring St, about 40 cm across; a cyclist fell",
        customer=Customer(name="Ann Lee", phone="0400 000 000", address=f"{n} Spring St"),
        location=Location(address=f"{n} Spring St, Crookwell NSW", lat=-34.46, long=149.47),
    )


def lifecycle_commands(reference: str) -> list[tuple[str, Any]]:
    on = {"council": COUNCIL, "reference": reference, "actor": OFFICER}
    return [
        ("acknowledge", cmds.AcknowledgeRequest(**on)),
        ("assign", cmds.AssignRequest(**on, team="roads", officer="o.smith")),
        (
            "note",
            cmds.AddNote(
                **on,
                text="Inspected; patching crew booked for Thursday",
                note_kind=NoteKind.ACTION,
            ),
        ),
        (
            "delay",
            cmds.DelayRequest(
                **on,
                reason="Asphalt supply delayed",
                until=date(2026, 12, 18),
            ),
        ),
        ("escalate", cmds.EscalateRequest(**on, reason="Completion target missed")),
        ("close", cmds.CloseRequest(**on, outcome="completed", text="Pothole patched")),
    ]


class Ours:
    """Our handlers through `StorePorts`, on a `Runtime` built as the CLI builds one."""

    name = "ours: handlers + StorePorts (load, decide, save)"

    def __init__(self, settings: Settings) -> None:
        self.runtime = Runtime(settings, clock=lambda: INSTANT)
        add_officer(self.runtime, COUNCIL)
        self.ports = self.runtime.ports
        self.serial = 0
        self.per_command: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def run(self, requests: int) -> int:
        ports, per_command, counts = self.ports, self.per_command, self.counts
        clock = time.perf_counter
        for _ in range(requests):
            self.serial += 1
            lodge = cmds.LodgeRequest(council=COUNCIL, intake=intake(self.serial), actor=OFFICER)
            t0 = clock()
            reference = cmds.handle(lodge, ports).reference
            t1 = clock()
            per_command["lodge"] += t1 - t0
            for name, cmd in lifecycle_commands(reference):
                t0 = clock()
                cmds.handle(cmd, ports)
                t1 = clock()
                per_command[name] += t1 - t0
            for name in LIFECYCLE:
                counts[name] += 1
        return requests * len(LIFECYCLE)

    def stored_rows(self) -> list[tuple[str, bytes]]:
        """(topic, state) of the first request's events, in version order."""
        notes = self.runtime.app.recorder.select_notifications(start=1, limit=len(LIFECYCLE))
        return [(n.topic, bytes(n.state)) for n in notes]

    def close(self) -> None:
        self.runtime.close()


# ------------------------------------------------------------------------------ bare library


class Item(Aggregate):
    """A plain aggregate whose events carry a payload sized like ours."""

    @event("Created")
    def __init__(self, payload: str) -> None:
        self.payload = payload
        self.changes = 0

    @event("Changed")
    def change(self, payload: str) -> None:
        self.payload = payload
        self.changes += 1


def payload_sizes(app: Application[Any], target_sizes: Sequence[int]) -> list[int]:
    """Payload lengths giving stored states of `target_sizes` bytes (version 1, then changes)."""
    probe = Item("")
    created_overhead = len(app.mapper.to_stored_event(probe.collect_events()[0]).state)
    probe.change("")
    changed_overhead = len(app.mapper.to_stored_event(probe.collect_events()[0]).state)
    overheads = [created_overhead] + [changed_overhead] * (len(target_sizes) - 1)
    return [max(0, size - over) for size, over in zip(target_sizes, overheads, strict=True)]


class BareLibrary:
    """The library on its defaults, one transaction per command: get-then-save (the baseline),
    or with `append_only` just `save` on an aggregate held in memory — the ceiling of any path
    that records through `Application.save`."""

    def __init__(
        self, env: dict[str, str], target_sizes: Sequence[int], *, append_only: bool = False
    ) -> None:
        self.append_only = append_only
        self.name = (
            "bare library, append only: save, no load (ceiling)"
            if append_only
            else "bare library: Application get-then-save"
        )
        self.label = "bare append-only" if append_only else "bare library"
        self.app = make_app(env, "bareappend" if append_only else "barebench")
        self.payloads = ["x" * n for n in payload_sizes(self.app, target_sizes)]

    def run(self, requests: int) -> int:
        app, payloads = self.app, self.payloads
        for _ in range(requests):
            item = Item(payloads[0])
            app.save(item)
            for payload in payloads[1:]:
                if not self.append_only:
                    item = app.repository.get(item.id)
                item.change(payload)
                app.save(item)
        return requests * len(payloads)

    def close(self) -> None:
        self.app.close()


def make_app(env: dict[str, str], name: str) -> Application[Any]:
    """An application whose tables are `<name>_events` (the name is pinned, as ours is)."""
    cls = type(f"App_{name}", (Application,), {"name": name})
    return cls(env=env)


# ----------------------------------------------------------------------------------------- raw


class RawPostgres:
    """The library's insert SQL, one statement at a time, one transaction per event."""

    def __init__(self, env: dict[str, str], rows: Sequence[tuple[str, bytes]], *, pipelined: bool):
        self.pipelined = pipelined
        self.name = (
            "raw, pipelined as the library sends it"
            if pipelined
            else "raw: LOCK + NOTIFY + INSERT per txn (autocommit off)"
        )
        self.label = "raw pipelined" if pipelined else "raw"
        table = "rawpipe" if pipelined else "rawbench"
        app = make_app(env, table)  # creates the table, its composite type and its index
        recorder: Any = app.recorder
        self.lock_statements = list(recorder.lock_table_statements)
        self.notify = SQL("NOTIFY {0}").format(Identifier(recorder.channel_name))
        self.insert = recorder.insert_events_statement
        type_name = f"{recorder.datastore.schema}.{recorder.stored_event_type_name}"
        app.close()
        self.conn = psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            autocommit=pipelined,
        )
        info = CompositeInfo.fetch(self.conn, type_name)
        assert info is not None, type_name
        register_composite(info, self.conn)
        assert info.python_type is not None
        self.conn.commit()
        self.row_type = info.python_type
        self.rows = rows

    def run(self, requests: int) -> int:
        conn, row_type = self.conn, self.row_type
        lock_statements, notify, insert = self.lock_statements, self.notify, self.insert
        for _ in range(requests):
            originator = uuid.uuid4()
            for version_, (topic, state) in enumerate(self.rows, start=1):
                params = ([row_type(originator, version_, topic, state)],)
                if self.pipelined:
                    with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as cur:
                        for statement in lock_statements:
                            cur.execute(statement, prepare=True)
                        cur.execute(notify)
                        cur.execute(insert, params)
                        pipeline.sync()
                        cur.fetchall()
                else:
                    with conn.cursor() as cur:
                        for statement in lock_statements:
                            cur.execute(statement, prepare=True)
                        cur.execute(notify)
                        cur.execute(insert, params)
                        cur.fetchall()
                    conn.commit()
        return requests * len(self.rows)

    def close(self) -> None:
        self.conn.close()


class RawSQLite:
    """The library's SQLite insert in its own transaction (BEGIN, INSERT, COMMIT) per event."""

    name = "raw: BEGIN + INSERT + COMMIT per event"
    label = "raw"

    def __init__(self, env: dict[str, str], rows: Sequence[tuple[str, bytes]]) -> None:
        app = make_app(env, "rawbench")  # creates the table, in WAL mode, as the library does
        self.insert = app.recorder.insert_events_statement  # type: ignore[attr-defined]
        app.close()
        self.conn = sqlite3.connect(
            env["SQLITE_DBNAME"],
            isolation_level=None,
            check_same_thread=False,
            timeout=float(env.get("SQLITE_LOCK_TIMEOUT", "5")),
        )
        self.rows = rows

    def run(self, requests: int) -> int:
        conn, insert = self.conn, self.insert
        for _ in range(requests):
            originator = uuid.uuid4().hex
            for version_, (topic, state) in enumerate(self.rows, start=1):
                cur = conn.cursor()
                cur.execute("BEGIN")
                cur.execute(insert, (originator, version_, topic, state))
                assert cur.lastrowid
                conn.commit()
        return requests * len(self.rows)

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------------- the runner


@dataclass
class Tally:
    name: str
    ops: int = 0
    seconds: float = 0.0
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


def interleaved(variants: Sequence[Any], requests: int, rounds: int) -> list[Tally]:
    """Runs every variant on `requests` requests in total, in `rounds` interleaved rounds."""
    tallies = [Tally(v.name) for v in variants]
    for v in variants:
        v.run(WARMUP_REQUESTS)  # connections, prepared statements, caches
    chunks = [requests // rounds + (1 if i < requests % rounds else 0) for i in range(rounds)]
    for r, chunk in enumerate(chunks):
        order = list(range(len(variants)))
        order = order[r % len(order) :] + order[: r % len(order)]
        for i in order:
            t0 = time.perf_counter()
            ops = variants[i].run(chunk)
            elapsed = time.perf_counter() - t0
            tallies[i].ops += ops
            tallies[i].seconds += elapsed
            tallies[i].round_rates.append(ops / elapsed)
    return tallies


def sample_rows() -> list[tuple[str, bytes]]:
    """(topic, state) of one request's lifecycle through our handlers, on a scratch SQLite."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        ours = Ours(settings_for(Path(tmp), None))
        try:
            ours.run(1)
            return ours.stored_rows()
        finally:
            ours.close()


def postgres_env(url: str) -> dict[str, str]:
    parts = urlparse(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_LOCK_TIMEOUT": "5",
    }


def server_url() -> str:
    url = os.environ.get("CRM_DATABASE_URL")
    if url:
        return url
    from infra import services

    return services.postgres_up()


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    with scratch.scratch_database(server_url(), "bench") as url:
        yield url


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap=None,
        config_dir=PROJECT_ROOT / "config",
    )


def server_facts(url: str) -> str:
    with psycopg.connect(url) as conn:
        facts = [
            conn.execute(SQL("SHOW {0}").format(Identifier(name))).fetchone()[0]  # type: ignore
            for name in ("server_version", "fsync", "synchronous_commit")
        ]
    return f"PostgreSQL {facts[0]} (fsync={facts[1]}, synchronous_commit={facts[2]})"


def bench_backend(backend: str, requests: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp, _store(backend) as db_url:
        folder = Path(tmp)
        settings = settings_for(folder / "ours", db_url)
        ours = Ours(settings)
        variants: list[Any] = [ours]
        try:
            # Our warm-up records the event rows the baselines copy (sizes, or the rows
            # themselves), so every variant writes the same number of events of the same size.
            ours.run(1)
            rows = ours.stored_rows()
            sizes = [len(state) for _, state in rows]
            if backend == "postgres":
                assert db_url is not None
                env = postgres_env(db_url)
                variants += [
                    BareLibrary(env, sizes),
                    RawPostgres(env, rows, pipelined=False),
                    RawPostgres(env, rows, pipelined=True),
                    BareLibrary(env, sizes, append_only=True),
                ]
                print(f"\n== PostgreSQL: {server_facts(db_url)}, scratch database")
            else:

                def sqlite_env(name: str) -> dict[str, str]:
                    return {
                        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": str(folder / f"{name}.sqlite3"),
                        "SQLITE_LOCK_TIMEOUT": "5",
                    }

                variants += [
                    BareLibrary(sqlite_env("bare"), sizes),
                    RawSQLite(sqlite_env("raw"), rows),
                    BareLibrary(sqlite_env("append"), sizes, append_only=True),
                ]
                print(f"\n== SQLite {sqlite3.sqlite_version}: files in a temporary folder (WAL)")
            print(
                f"{requests} requests × {len(LIFECYCLE)} commands per variant, {rounds} "
                f"interleaved rounds; event sizes {min(sizes)}–{max(sizes)} B "
                f"(mean {statistics.mean(sizes):.0f})"
            )
            ours.per_command.clear()
            ours.counts.clear()
            tallies = interleaved(variants, requests, rounds)
        finally:
            for v in variants:
                v.close()
    return report(tallies, variants, ours)


@contextmanager
def _store(backend: str) -> Iterator[str | None]:
    if backend == "postgres":
        with scratch_database() as url:
            yield url
    else:
        yield None


def report(tallies: list[Tally], variants: Sequence[Any], ours: Ours) -> dict[str, float]:
    print(f"  {'path':<54} {'commands/s':>10} {'rounds min–max':>16}  {'ours / this':>11}")
    mine = tallies[0].rate
    for t in tallies:
        spread = f"{min(t.round_rates):.0f}–{max(t.round_rates):.0f}"
        ratio = "" if t is tallies[0] else f"{mine / t.rate:.2f}"
        print(f"  {t.name:<54} {t.rate:>10.0f} {spread:>16}  {ratio:>11}")
    per = "  ".join(
        f"{name} {1000 * ours.per_command[name] / ours.counts[name]:.2f}" for name in LIFECYCLE
    )
    print(f"  ours, mean ms per command: {per}")
    for variant, t in zip(variants[1:], tallies[1:], strict=True):
        print(
            f"  ours / {variant.label} = {mine / t.rate:.2f} "
            f"(median of per-round ratios {median_ratio(tallies[0], t):.2f})"
        )
    return {t.name: t.rate for t in tallies}


def median_ratio(ours: Tally, other: Tally) -> float:
    """The median over rounds of ours / other, each round's pair measured back to back."""
    pairs = zip(ours.round_rates, other.round_rates, strict=True)
    return statistics.median(a / b for a, b in pairs)


# ------------------------------------------------------------ core module vs SQLAlchemy module


class ModuleUnderTest:
    def __init__(self, label: str, env: dict[str, str], name: str, sizes: Sequence[int]):
        self.label = label
        self.app = make_app(env, name)
        self.payloads = ["x" * n for n in payload_sizes(self.app, sizes)]

    def append(self, requests: int) -> int:
        """One transaction per event, no reads: the write path alone."""
        for _ in range(requests):
            item = Item(self.payloads[0])
            self.app.save(item)
            for payload in self.payloads[1:]:
                item.change(payload)
                self.app.save(item)
        return requests * len(self.payloads)

    def get_then_save(self, requests: int) -> int:
        for _ in range(requests):
            item = Item(self.payloads[0])
            self.app.save(item)
            for payload in self.payloads[1:]:
                loaded: Item = self.app.repository.get(item.id)
                loaded.change(payload)
                self.app.save(loaded)
        return requests * len(self.payloads)

    def read_log(self) -> int:
        recorder: Any = self.app.recorder
        start, read = 1, 0
        while True:
            page = recorder.select_notifications(start=start, limit=LOG_PAGE)
            read += len(page)
            if len(page) < LOG_PAGE:
                return read
            start = page[-1].id + 1


class _Phase:
    def __init__(self, module: ModuleUnderTest, method: str) -> None:
        self.module, self.method = module, method
        self.name = module.label

    def run(self, requests: int) -> int:
        result: int = getattr(self.module, self.method)(requests)
        return result

    def close(self) -> None:
        pass


class _Reader(_Phase):
    def run(self, requests: int) -> int:
        return sum(self.module.read_log() for _ in range(requests))


def compare_sqlalchemy(requests: int, rounds: int) -> None:
    with scratch_database() as url:
        parts = urlparse(url)
        env = postgres_env(url)
        sa_env = {
            "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
            "SQLALCHEMY_URL": "postgresql+psycopg2://" + url.split("://", 1)[1],
        }
        sizes = [len(state) for _, state in sample_rows()]  # the sizes of our events
        modules = [
            ModuleUnderTest("core eventsourcing.postgres (psycopg 3)", env, "cmpcore", sizes),
            ModuleUnderTest("eventsourcing_sqlalchemy (psycopg2)", sa_env, "cmpsa", sizes),
        ]
        print(
            "\n== core PostgreSQL module vs eventsourcing-sqlalchemy "
            f"{version('eventsourcing-sqlalchemy')} (scratch database on "
            f"{parts.hostname}:{parts.port})"
        )
        print(
            f"{requests} aggregates × {len(sizes)} events per module and measure "
            f"(sizes as ours), {rounds} interleaved rounds; the log read {rounds} times"
        )
        try:
            results = {}
            for method, unit in (("append", "events/s"), ("get_then_save", "commands/s")):
                phases = [_Phase(m, method) for m in modules]
                results[method] = (interleaved(phases, requests, rounds), unit)
            readers = [_Reader(m, "read_log") for m in modules]
            results["read_log"] = (interleaved(readers, rounds, rounds), "events/s")
            print(f"  {'measure':<26} {'core':>12} {'sqlalchemy':>12} {'core / sa':>10}")
            for method, (tallies, unit) in results.items():
                core, sa = tallies[0].rate, tallies[1].rate
                print(f"  {method + ' ' + unit:<26} {core:>12.0f} {sa:>12.0f} {core / sa:>10.2f}")
        finally:
            for m in modules:
                m.app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.commands_bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--requests", type=int, default=400, help="requests per variant, 7 commands each"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds")
    parser.add_argument(
        "--compare-sqlalchemy",
        action="store_true",
        help="also measure the core PostgreSQL module against eventsourcing-sqlalchemy",
    )
    args = parser.parse_args(argv)
    print(
        f"eventsourcing {version('eventsourcing')}, psycopg {version('psycopg')}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; single-threaded"
    )
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        bench_backend(backend, args.requests, args.rounds)
    if args.compare_sqlalchemy:
        compare_sqlalchemy(args.requests, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
