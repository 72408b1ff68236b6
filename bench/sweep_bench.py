"""The watchdog's due-set query beside an indexed ``count(*)`` with the same predicate.

Run: ``python -m bench.sweep_bench [--rows N] [--backend sqlite|postgres|both] [--repeat R]``
(default: 1,000,000 open requests, both backends).

The `sla` table (exactly as the projection defines it, indexes included) is filled by bulk insert
— bench-only, bypassing the projection — with N open requests of which 1% are past due: their
next escalation level and their progress notice fell due before `NOW`; 0.5% are paused
(no level due). Then, in the same run and on the same table, alternately:

- **due set**: what one sweep pass asks — `sla_queries.due_escalations` and
  `sla_queries.due_progress_notices`, rows fetched and turned into objects (issuing the
  commands excluded);
- **count**: ``SELECT count(*)`` with the very same predicates (`escalation_due`, `notice_due`),
  answered from the same indexes.

The ratio says what fetching the rows costs beyond finding them; the aim is within 5×. The
query plans are printed, to show both use the (open, next_level_due) and (open,
progress_notice_due) indexes rather than a scan. PostgreSQL runs in a scratch database created
for the run and dropped after it (server: ``$CRM_TEST_DATABASE_URL``, else the project's own,
started if needed); SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from infra.runtime import make_engine
from infra.services import scratch
from projections import sla_queries
from projections.sla import Sla

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
DUE_SHARE, PAUSED_SHARE = 0.01, 0.005
STANDARD = json.dumps(
    {
        "category": "pothole",
        "category_name": "Pothole in a road",
        "team": "roads",
        "acknowledge_days": 5,
        "complete_days": 20,
        "progress_notice_days": 15,
        "at_risk_share": 0.8,
        "urgent": False,
        "escalation_roles": ["officer", "team-leader", "manager", "director", "general-manager"],
        "escalation_after_days": [0, 0, 5, 10, 20],
        "discretionary_role": "director",
        "urgent_role": "team-leader",
        "delay_moves_due": True,
        "awaiting_customer_pauses": True,
        "calendar": {
            "timezone": "Australia/Sydney",
            "opens": "08:00:00",
            "closes": "16:30:00",
            "workdays": [0, 1, 2, 3, 4],
            "country": "AU",
            "subdivision": "NSW",
            "extra_holidays": [],
            "removed_holidays": [],
        },
    },
    sort_keys=True,
)


# -- the rows --------------------------------------------------------------------------------


def rows(n: int) -> Iterator[tuple[Any, ...]]:
    """N open requests, in the table's column order; every 100th is past due, every 200th
    (offset) paused. Instants are naive UTC, as `UtcDateTime` stores them."""
    columns = [c.name for c in Sla().table.columns]
    now = NOW.replace(tzinfo=None)
    for i in range(n):
        due = i % 100 == 0
        paused = i % 200 == 7
        lodged = now - timedelta(days=40 if due else 3, minutes=i % 997)
        row = {
            "request_id": str(uuid.UUID(int=i + 1)),
            "council": "upper-lachlan",
            "reference": f"UL-2026-{i:07d}",
            "category": "pothole",
            "category_name": "Pothole in a road",
            "team": "roads",
            "officer": None,
            "channel": "phone",
            "kind": "service-request",
            "urgent": False,
            "discretionary": False,
            "imported": False,
            "open": True,
            "level": "officer",
            "escalations": 0,
            "lodged_by": "jsmith",
            "lodged_at": lodged,
            "received_at": lodged,
            "next_level_standard": None if paused else "completion",
            "acknowledgement_escalated": False,
            "progress_notice_at": None,
            "acknowledge_by": lodged + timedelta(days=7),
            "acknowledged_at": lodged,
            "complete_by": lodged + timedelta(days=28),
            "at_risk_from": lodged + timedelta(days=22),
            "paused_at": lodged + timedelta(days=1) if paused else None,
            "next_level": None if paused else "team-leader",
            "next_level_due": None if paused else lodged + timedelta(days=28),
            "progress_notice_due": lodged + timedelta(days=21),
            "progress_notice_sent": False,
            "contact": "email",
            "touched": False,
            "closed_at": None,
            "outcome": None,
            "business_days_to_complete": None,
            "standard": STANDARD,
            "duplicate_of": None,
            "version": 1,
        }
        yield tuple(row[c] for c in columns)


def fill_sqlite(engine: sa.Engine, n: int) -> None:
    model = Sla()
    model.create(engine)
    columns = [c.name for c in model.table.columns]
    sql = f"INSERT INTO sla ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        batch: list[tuple[Any, ...]] = []
        for row in rows(n):
            batch.append(tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in row))
            if len(batch) == 50_000:
                cur.executemany(sql, batch)
                batch.clear()
        cur.executemany(sql, batch)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def fill_postgres(engine: sa.Engine, n: int) -> None:
    model = Sla()
    model.create(engine)
    columns = [c.name for c in model.table.columns]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for i, row in enumerate(rows(n), 1):
            writer.writerow(["\\N" if v is None else v for v in row])
            if i % 100_000 == 0 or i == n:
                buffer.seek(0)
                cur.copy_expert(
                    f"COPY sla ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                    buffer,
                )
                buffer.seek(0)
                buffer.truncate()
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE sla")


# -- the measurements ------------------------------------------------------------------------


def due_set(conn: sa.Connection, model: Sla) -> int:
    escalations = sla_queries.due_escalations(conn, model, NOW)
    notices = sla_queries.due_progress_notices(conn, model, NOW)
    return len(escalations) + len(notices)


def counted(conn: sa.Connection, model: Sla) -> int:
    t = model.table
    total = 0
    for where in (sla_queries.escalation_due(t, NOW, None), sla_queries.notice_due(t, NOW, None)):
        total += conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one()
    return total


def interleaved(
    first: Callable[[], int], second: Callable[[], int], repeat: int
) -> tuple[float, int, float, int]:
    """Median seconds and result of each, measured alternately so that a neighbour's load on
    the machine lands on both alike; one warm-up round first (a warm buffer pool for both)."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    results = [0, 0]
    for _ in range(repeat):
        for i, fn in enumerate((first, second)):
            start = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - start)
    return (statistics.median(times[0]), results[0], statistics.median(times[1]), results[1])


def plans(conn: sa.Connection, model: Sla) -> list[str]:
    """The plans of the two due-set queries and of the two counts."""
    t = model.table
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    statements = [
        sla_queries.due_escalations_query(t, NOW, None),
        sla_queries.due_notices_query(t, NOW, None),
        *(
            sa.select(sa.func.count()).select_from(t).where(*where)
            for where in (
                sla_queries.escalation_due(t, NOW, None),
                sla_queries.notice_due(t, NOW, None),
            )
        ),
    ]
    out = []
    for q in statements:
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        found = conn.exec_driver_sql(explain + sql).all()
        out.append(" | ".join(str(r[-1]).strip() for r in found))
    return out


def measure(name: str, engine: sa.Engine, n: int, repeat: int) -> float:
    model = Sla()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(model.table)).scalar_one() == n
        for plan in plans(conn, model):
            print(f"  plan: {plan}")
        query_s, fetched, count_s, count = interleaved(
            lambda: due_set(conn, model), lambda: counted(conn, model), repeat
        )
    assert fetched == count, (fetched, count)
    ratio = query_s / count_s
    print(
        f"{name:10} {n:>9,} open, {count:>7,} due:  due-set query {query_s * 1000:8.1f} ms"
        f"   indexed count(*) {count_s * 1000:7.1f} ms   ratio {ratio:4.1f}x"
        f"  ({'within' if ratio <= 5 else 'OVER'} the 5x aim)"
    )
    return ratio


# -- the backends ----------------------------------------------------------------------------


def run_sqlite(n: int, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'readmodels.sqlite3'}")
        try:
            start = time.perf_counter()
            fill_sqlite(engine, n)
            print(f"sqlite: filled {n:,} rows in {time.perf_counter() - start:.1f} s")
            return measure("sqlite", engine, n, repeat)
        finally:
            engine.dispose()


@contextmanager
def scratch_database() -> Iterator[str]:
    url = os.environ.get("CRM_TEST_DATABASE_URL")
    if not url:
        from infra import services

        url = services.postgres_up()
    with scratch.scratch_database(url, "bench_sweep") as scratch_url:
        yield scratch_url


def run_postgres(n: int, repeat: int) -> float:
    with scratch_database() as url:
        engine = make_engine("postgresql+psycopg2://" + url.split("://", 1)[1])
        try:
            start = time.perf_counter()
            fill_postgres(engine, n)
            print(f"postgres: filled {n:,} rows in {time.perf_counter() - start:.1f} s")
            return measure("postgres", engine, n, repeat)
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100 (1% of them are due)")
    if args.backend in ("sqlite", "both"):
        run_sqlite(args.rows, args.repeat)
    if args.backend in ("postgres", "both"):
        run_postgres(args.rows, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
