"""Legacy-import rate beside the raw event append rate of the bare library, in the same run.

Run: ``python -m bench.import_bench [--backend sqlite|postgres|both] [--rounds R] [--chunk N]``
(defaults: both backends, 3 rounds, 500 requests per transaction; about a minute).

- **import**: `crm import` of the 7,872-row Boston 311 file (`boston311_animal_2018.csv`) with
  `config/mappings/boston311.toml` into council `boston`, through `infra.importer.import_file`
  exactly as the CLI calls it: read the CSV, validate every row, decide the timestamp rule, build
  each request's aggregate and save them `--chunk` per transaction. Timed end to end, and its
  write phase alone.
- **raw append**: a bare `eventsourcing` `Application` (default settings, no transcodings of
  ours) and a plain aggregate saving the same number of requests with the same events — one
  created event per request and one more for each closed one, each carrying the same fields
  our events recorded (their JSON-ready form) — in the same chunking: `app.save(*chunk)`.

Each round runs both into fresh, empty stores (SQLite: files in a temporary folder; PostgreSQL:
a scratch database on ``$CRM_DATABASE_URL`` or the project's own server, dropped afterwards);
the order alternates between rounds. Reported: the median round, rows/s (a row is one request)
and events/s, and import ÷ raw.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from commands.import_history import import_key
from infra.importer import import_file, load_mapping, read_csv, validate, write
from infra.runtime import Runtime
from infra.services import scratch
from infra.settings import PROJECT_ROOT, Settings
from projections.envelope import event_data

FILE = PROJECT_ROOT / "data" / "boston311" / "boston311_animal_2018.csv"
MAPPING = PROJECT_ROOT / "config" / "mappings" / "boston311.toml"


class BareRequest(Aggregate):
    """A plain aggregate: one created event and one closing event, payloads as plain dicts."""

    @event("Lodged")
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.closed = False

    @event("Closed")
    def close(self, payload: dict[str, Any]) -> None:
        self.closed = True


@dataclass
class Timing:
    seconds: list[float]
    rows: int
    events: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rows_per_s(self) -> float:
        return self.rows / self.median

    def events_per_s(self) -> float:
        return self.events / self.median


@contextmanager
def sqlite_store() -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        yield Settings(
            data_dir=Path(folder) / "data",
            database_url=None,
            kafka_bootstrap=None,
            config_dir=PROJECT_ROOT / "config",
        )


def _server_url() -> str:
    url = os.environ.get("CRM_DATABASE_URL")
    if url:
        return url
    from infra import services

    return services.postgres_up()


@contextmanager
def postgres_store(server: str) -> Iterator[Settings]:
    with (
        scratch.scratch_database(server, "bench") as url,
        tempfile.TemporaryDirectory(prefix="import-bench-") as folder,
    ):
        yield Settings(
            data_dir=Path(folder),
            database_url=url,
            kafka_bootstrap=None,
            config_dir=PROJECT_ROOT / "config",
        )


def payloads(settings: Settings) -> list[list[dict[str, Any]]]:
    """Our events' fields per request (JSON-ready), as a first import recorded them."""
    rt = Runtime(settings)
    try:
        import_file(rt.app, rt.ports.council("boston"), load_mapping(MAPPING), FILE, vault=rt.vault)
        out: dict[Any, list[dict[str, Any]]] = {}
        for n in rt.app.recorder.select_notifications(start=1, limit=1_000_000):
            e: Any = rt.app.mapper.to_domain_event(n)
            out.setdefault(e.originator_id, []).append(
                {
                    **event_data(e),
                    "occurred_at": e.occurred_at.isoformat(),
                    "actor": {"id": e.actor.id, "role": e.actor.role},
                }
            )
        return list(out.values())
    finally:
        rt.close()


def run_import(store: Callable[[], Any], chunk: int) -> tuple[float, float, int]:
    """(end-to-end seconds, write-phase seconds, events) of imports into empty stores: one
    timed end to end, then the write phase alone into a second one (validation done untimed)."""
    with store() as settings:
        rt = Runtime(settings)
        try:
            council, mapping = rt.ports.council("boston"), load_mapping(MAPPING)
            _ = rt.app  # the store is opened before the clock starts, as the CLI's runtime does
            started = time.perf_counter()
            report = import_file(rt.app, council, mapping, FILE, vault=rt.vault, chunk=chunk)
            total = time.perf_counter() - started
            assert report.written == report.rows, report
        finally:
            rt.close()
    header, rows = read_csv(FILE)
    records = validate(council, mapping, header, rows).records
    with store() as settings:
        rt = Runtime(settings)
        try:
            _ = rt.app
            started = time.perf_counter()
            sealer = rt.vault.sealer(import_key(council.id), council.id, datetime.now(UTC))
            write(rt.app, council, records, sealer, chunk)
            writing = time.perf_counter() - started
            events = rt.app.recorder.max_notification_id() or 0
        finally:
            rt.close()
    return total, writing, events


def run_raw(
    settings: Settings, requests: list[list[dict[str, Any]]], chunk: int
) -> tuple[float, int]:
    env = dict(settings.event_store_env())
    app: Application[Any] = Application(env=env)
    try:
        started = time.perf_counter()
        for start in range(0, len(requests), chunk):
            aggregates = []
            for events in requests[start : start + chunk]:
                agg = BareRequest(payload=events[0])
                for later in events[1:]:
                    agg.close(payload=later)
                aggregates.append(agg)
            app.save(*aggregates)
        seconds = time.perf_counter() - started
        return seconds, app.recorder.max_notification_id() or 0
    finally:
        app.close()


def bench(backend: str, rounds: int, chunk: int) -> None:
    if backend == "postgres":
        server = _server_url()
        store: Callable[[], Any] = lambda: postgres_store(server)
        print(
            f"\n== PostgreSQL ({urlparse(server).hostname}:{urlparse(server).port}), "
            "scratch databases"
        )
    else:
        store = sqlite_store
        import sqlite3

        print(f"\n== SQLite {sqlite3.sqlite_version}, files in a temporary folder")
    with store() as settings:
        requests = payloads(settings)
    rows = len(requests)
    events = sum(len(r) for r in requests)
    imp, wr, raw = Timing([], rows, events), Timing([], rows, events), Timing([], rows, events)
    for i in range(rounds):
        order = ("import", "raw") if i % 2 == 0 else ("raw", "import")
        for what in order:
            if what == "import":
                total, writing, n = run_import(store, chunk)
                assert n == events, (n, events)
                imp.seconds.append(total)
                wr.seconds.append(writing)
            else:
                with store() as settings:
                    seconds, n = run_raw(settings, requests, chunk)
                assert n == events, (n, events)
                raw.seconds.append(seconds)
    print(
        f"{rows} rows → {rows} requests, {events} events; {chunk} requests per transaction; "
        f"median of {rounds} rounds"
    )
    print(f"  {'':42} {'rows/s':>9} {'events/s':>10} {'s':>7}")
    for label, t in (
        ("import, end to end (read+validate+write)", imp),
        ("import, write phase only", wr),
        ("raw append, bare library", raw),
    ):
        print(
            f"  {label:42.42} {t.rows_per_s():>9,.0f} {t.events_per_s():>10,.0f} {t.median:>7.2f}"
        )
    print(
        f"  import ÷ raw append: {imp.rows_per_s() / raw.rows_per_s():.2f} end to end, "
        f"{wr.rows_per_s() / raw.rows_per_s():.2f} write phase"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args(argv)
    if not FILE.is_file():
        print(f"no data file at {FILE}", file=sys.stderr)
        return 1
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        bench(backend, args.rounds, args.chunk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
