"""A team's work queue as it stood at a past instant: the temporal history's one indexed query
beside a full replay of the log, measured in the same run on the same data.

Run: ``python -m bench.as_at_bench [--events N] [--repeat R] [--backend postgres|sqlite]``
(default: 1,000,000 events on PostgreSQL, 5 repeats).

The data is generated, bench-only, bypassing the command path: N events of N/5 requests lodged
over a year (lodged, acknowledged, assigned — a quarter to another team — noted, and closed for
97% of them, hours to days apart), as the envelopes the read models consume. They are stored
twice, in bulk: as JSON envelopes in an `events` table (the log a replay reads), and as the rows
`work_queue_history` holds for them, computed with the model's own `apply` rule (the live
queue's `evolve`, each row valid from its event's recording instant to the next one's).

- **as-at query**: `work_queue_history.query_as_at` for one team at an instant mid-way through
  the year, rows fetched (the query plan is printed: an index, not a scan);
- **full replay**: every envelope read back from the `events` table and decoded, those recorded
  by the instant fed to a fresh in-memory live queue (`WorkQueue.evolve`), then that team's
  open requests sorted as the queue sorts them. This is a lower bound on a replay through the
  event store (no aggregate objects, no per-request reads) — the fairest baseline for the
  query, not a straw man.

Both answers are compared (they must be equal) before any figure is printed. PostgreSQL runs in
a scratch database created for the run and dropped after it (server: ``$CRM_TEST_DATABASE_URL``,
else the project's own, started if needed); SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.sweep_bench import scratch_database
from infra.runtime import make_engine
from projections.base import Row
from projections.envelope import SCHEMA_VERSION, Envelope
from projections.temporal import TEMPORAL
from projections.work_queue import QueueFilter, WorkQueue
from projections.work_queue_history import WorkQueueHistory, as_at_select, query_as_at

COUNCIL = "upper-lachlan"
TEAMS = ("roads", "water", "waste", "parks")
START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
AT = START + timedelta(days=182, hours=3)  # mid-way through the year
ROLES = ["officer", "team-leader", "manager", "director", "general-manager"]
ACTOR = {"id": "bench.officer", "role": "officer"}


def envelopes_of(n: int, rnd: random.Random) -> Iterator[Envelope]:
    """One request's events, in version order: lodged, acknowledged, assigned, noted, closed."""
    lodged = START + timedelta(seconds=rnd.uniform(0, 365 * 86400))
    team = TEAMS[n % len(TEAMS)]
    reference = f"UL-2025-{n + 1:07d}"
    request = f"00000000-0000-4000-8000-{n:012d}"
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "Lodged",
            {
                "team": team,
                "category": "pothole",
                "urgent": n % 50 == 0,
                "standard": {"escalation_roles": ROLES},
                "acknowledge_by": (lodged + timedelta(days=7)).isoformat(),
                "complete_by": (lodged + timedelta(days=28)).isoformat(),
            },
        ),
        ("Acknowledged", {}),
        (
            "Assigned",
            {
                "team": TEAMS[(n + 1) % 4] if n % 4 == 0 else team,
                "officer": f"{team}.officer{n % 7}",
                "previous_team": team,
            },
        ),
        ("NoteAdded", {"text": "Inspected", "note_kind": "outgoing"}),
    ]
    if rnd.random() < 0.97:
        steps.append(("Closed", {"outcome": "completed", "text": "Done"}))
    at = lodged
    for version, (kind, data) in enumerate(steps, 1):
        if version > 1:
            at += timedelta(hours=rnd.uniform(1, 200))
        yield Envelope(
            schema_version=SCHEMA_VERSION,
            council=COUNCIL,
            position=0,
            event_type=kind,
            request_id=request,
            reference=reference,
            version=version,
            occurred_at=at.isoformat(),
            recorded_at=at.isoformat(),
            actor=ACTOR,
            data=data,
        )


def history_rows(live: WorkQueue, events: list[Envelope]) -> Iterator[Row]:
    """`work_queue_history`'s rows for one request's events: the model's own rule."""
    row: Row | None = None
    for env in events:
        at = datetime.fromisoformat(env.recorded_at)
        if row is not None:
            row["valid_to"] = at
            yield row
        state = None if row is None else {k: v for k, v in row.items() if k not in TEMPORAL}
        new = live.evolve(state, env) or dict(state or {})
        row = dict(new, version=env.version, valid_from=at, valid_to=None)
    if row is not None:
        yield row


def cell(value: Any) -> Any:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, str) and len(value) > 18 and value[10:11] == "T" and value[4] == "-":
        return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return value


EVENTS = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)


def fill(engine: sa.Engine, n_events: int) -> int:
    """Stores the log and the history; returns how many events were written."""
    model = WorkQueueHistory()
    model.create(engine)
    EVENTS.create(engine)
    live, rnd = WorkQueue(), random.Random(20261201)
    columns = [c.name for c in model.table.columns]
    postgres = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    written, request = 0, 0
    try:
        cur = raw.cursor()
        if not postgres:
            cur.execute("PRAGMA journal_mode=WAL")
        ev_rows: list[tuple[int, str]] = []
        hist_rows: list[tuple[Any, ...]] = []

        def flush() -> None:
            if postgres:
                for table, cols, rows in (
                    ("events", ["position", "body"], ev_rows),
                    ("work_queue_history", columns, hist_rows),
                ):
                    buffer = io.StringIO()
                    csv.writer(buffer).writerows(rows)
                    buffer.seek(0)
                    cur.copy_expert(
                        f"COPY {table} ({', '.join(cols)}) FROM STDIN "
                        "WITH (FORMAT csv, NULL '\\N')",
                        buffer,
                    )
            else:
                cur.executemany("INSERT INTO events VALUES (?, ?)", ev_rows)
                cur.executemany(
                    f"INSERT INTO work_queue_history ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})",
                    [tuple(None if v == "\\N" else v for v in r) for r in hist_rows],
                )
            ev_rows.clear()
            hist_rows.clear()

        while written < n_events:
            events = list(envelopes_of(request, rnd))
            request += 1
            for env in events:
                written += 1
                ev_rows.append((written, env.to_json().decode()))
            for row in history_rows(live, events):
                hist_rows.append(tuple(cell(row[c]) for c in columns))
            if len(ev_rows) >= 50_000:
                flush()
        flush()
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if postgres else "ANALYZE")
    return written


def as_at_query(engine: sa.Engine, team: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return query_as_at(conn, WorkQueueHistory(), QueueFilter(council=COUNCIL, team=team), AT)


def full_replay(engine: sa.Engine, team: str) -> list[dict[str, Any]]:
    """Every event read and decoded; those recorded by AT evolve a fresh live queue."""
    live = WorkQueue()
    rows: dict[str, Row] = {}
    with engine.connect().execution_options(stream_results=True, yield_per=20_000) as conn:
        for (body,) in conn.execute(sa.select(EVENTS.c.body).order_by(EVENTS.c.position)):
            env = Envelope.from_json(body.encode())
            if datetime.fromisoformat(env.recorded_at) > AT:
                continue
            new = live.evolve(rows.get(env.request_id), env)
            if new is not None:
                rows[env.request_id] = dict(new, version=env.version)
    found = [r for r in rows.values() if r["status"] != "closed" and r["team"] == team]
    for r in found:  # as the table gives them back: instants, tz-aware
        for k in ("acknowledge_by", "complete_by", "lodged_at", "last_action_at"):
            r[k] = None if r[k] is None else datetime.fromisoformat(r[k])
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(
        key=lambda r: (
            not r["urgent"],
            r["complete_by"] is None,
            r["complete_by"] or far,
            r["lodged_at"],
            r["reference"],
        )
    )
    return found


def timed(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plan(engine: sa.Engine, team: str) -> str:
    q = as_at_select(
        WorkQueueHistory(), QueueFilter(council=COUNCIL, team=team), AT, engine.dialect.name
    )
    with engine.connect() as conn:
        sql = str(q.compile(engine, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN" if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
        return "\n".join(
            " ".join(str(c) for c in r) for r in conn.exec_driver_sql(f"{prefix} {sql}")
        )


def measure(name: str, engine: sa.Engine, n_events: int, repeat: int, team: str) -> None:
    start = time.perf_counter()
    written = fill(engine, n_events)
    print(
        f"{name}: stored {written:,} events and their history in "
        f"{time.perf_counter() - start:.1f} s"
    )
    queried, replayed = as_at_query(engine, team), full_replay(engine, team)
    expected = [{k: r[k] for k in queried[0]} for r in replayed] if queried else []
    if queried != expected:
        raise SystemExit(f"{name}: the as-at query and the replay disagree")
    print(plan(engine, team))
    query_s = timed(lambda: as_at_query(engine, team), repeat)
    replay_s = timed(lambda: full_replay(engine, team), max(1, repeat // 2))
    print(f"{name}: team {team!r} as at {AT.isoformat()}: {len(queried):,} open requests")
    print(
        f"{name}: as-at query {query_s * 1000:.1f} ms (median of {repeat}); full replay "
        f"{replay_s:.2f} s; replay / query = {replay_s / query_s:,.0f}x; aim: query < 1 s "
        f"({'met' if query_s < 1 else 'MISSED'})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--team", default="roads", choices=TEAMS)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args(argv)
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'as_at.sqlite3'}")
            try:
                measure("sqlite", engine, args.events, args.repeat, args.team)
            finally:
                engine.dispose()
        return 0
    with scratch_database() as url:
        engine = make_engine("postgresql+psycopg2://" + url.split("://", 1)[1])
        try:
            measure("postgres", engine, args.events, args.repeat, args.team)
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
