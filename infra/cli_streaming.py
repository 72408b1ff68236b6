"""`crm` subcommands over the read models: queues, the audit record, and their operations."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from consumers import follower, lag, operations
from consumers.kafka_common import end_offsets
from consumers.lag import PipelineStatus
from consumers.store_reader import StoreReader
from infra import views
from infra.cli_common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_date,
    parse_instant,
    runtime,
)
from infra.kafka_settings import kafka_config
from infra.progress import ProgressBar
from infra.runtime import Runtime
from infra.views import read_models_ready
from projections import registry


def run_queue(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    authorized(args, c, "queue")
    rows = views.queue(rt, c, args.team, args.officer,
                       as_at=parse_instant(args.as_at, c.calendar.timezone) if args.as_at else None)
    if args.json:
        emit_json(rows)
    else:
        emit_table(rows, ["reference", "urgent", "status", "team", "officer", "complete_by",
                          "last_action"], c.calendar.timezone)


def run_audit(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "audit")
    if not (args.ref or args.officer or args.date_from or args.date_to):
        raise ValueError("say what to list: --ref REF, --officer ID, or --from D --to D")
    rows = views.audit(rt, c, viewer, "crm audit", reference=args.ref, officer=args.officer,
                       date_from=args.date_from, date_to=args.date_to, payloads=args.json)
    if args.json:
        emit_json(rows)
    else:
        emit_table(rows, ["position", "reference", "occurred_at", "actor_id", "actor_role",
                          "summary"], c.calendar.timezone)


def pipeline_status(rt: Runtime, names: Sequence[str], ages: bool = True) -> PipelineStatus:
    """Head, relay checkpoint, positions and lag of the named read models, on the path in use."""
    models = [registry.build(n) for n in names]
    follower.ensure_tables(rt.read_engine, models)
    reader = StoreReader(rt.app)
    if rt.settings.kafka_bootstrap is None:
        return lag.embedded_status(reader, rt.read_engine, models, ages=ages)
    config = kafka_config(rt.settings)
    return lag.kafka_status(reader, rt.write_engine, rt.read_engine, config, models, ages=ages)


def run_status(args: argparse.Namespace) -> None:
    authorized(args, council(args), "projections")
    status = pipeline_status(runtime(args), list(registry.READ_MODELS))
    emit_json(status.to_dict()) if args.json else _print_status(status)


def _print_status(status: PipelineStatus) -> None:
    print(f"event store head: {status.store_head}")
    if status.topic is not None:
        print(f"relay checkpoint: {status.relay_checkpoint} ({status.relay_behind} behind), "
              f"topic {status.topic}")
    for m in status.models:
        print(f"{m.name:16} lag {m.lag_events} events, {m.lag_seconds:.1f} s; "
              f"positions {m.positions}")
        for p in m.partitions:
            print(f"{'':16}   partition {p.partition}: offset {p.offset} of {p.end}, lag {p.lag}")


def run_rebuild(args: argparse.Namespace) -> None:
    """Drops the read model and replays the store into it. On the Kafka path it also stores,
    per partition, the end offset read before the store's head: every message below it is in the
    rebuild, and a message at or after it is applied (or skipped as a duplicate) by the consumer.
    Stop the model's consumer while rebuilding."""
    authorized(args, council(args), "projections")
    rt = runtime(args)
    reader = StoreReader(rt.app)
    config = None if rt.settings.kafka_bootstrap is None else kafka_config(rt.settings)
    ends = end_offsets(config) if config else {}
    n = operations.rebuild(
        reader, rt.read_engine, args.name, progress=ProgressBar(f"rebuild {args.name}"),
        until=reader.head(),
    )
    if config is not None:
        model = registry.build(args.name)
        with rt.read_engine.begin() as conn:
            for partition, offset in ends.items():
                model.set_position(conn, config.source(partition), offset)
    print(f"rebuilt {args.name} from {n} events")


def run_verify(args: argparse.Namespace) -> int:
    """Embedded path: catch up, then compare. Kafka path: wait (bounded by --timeout) until the
    relay and the named models' consumers have drained, then compare. Exit 1 on any drift or if
    the pipeline did not drain in time."""
    authorized(args, council(args), "projections")
    rt = runtime(args)
    read_models_ready(rt)
    names = [args.name] if args.name else list(registry.READ_MODELS)
    until = None
    if rt.settings.kafka_bootstrap is not None:
        status = lag.wait_drained(lambda: pipeline_status(rt, names, ages=False), args.timeout)
        if not status.drained():
            print(f"not drained after {args.timeout:g} s: relay at {status.relay_checkpoint} "
                  f"of head {status.store_head}; " + ", ".join(
                      f"{m.name} {m.lag_events} behind" for m in status.models))
            return 1
        until = status.store_head
    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, names, until=until)
    for d in drifts:
        print(f"{d.name}: {'ok' if d.ok else 'DRIFT'}")
        for line in d.differences:
            print(f"  {line}")
    return 0 if all(d.ok for d in drifts) else 1


def register(sub: Any) -> None:
    p = sub.add_parser("queue", help="a team's or officer's work queue")
    p.add_argument("--team")
    p.add_argument("--officer")
    p.add_argument("--as-at", metavar="INSTANT",
                   help="the queue as it stood then (everything recorded by that instant): "
                   "ISO 8601; without an offset, in the council's local time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_queue)
    p = sub.add_parser("audit", help="the audit record, by request, officer or date range")
    p.add_argument("--ref")
    p.add_argument("--officer")
    p.add_argument("--from", dest="date_from", type=parse_date)
    p.add_argument("--to", dest="date_to", type=parse_date)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_audit)
    p = sub.add_parser("projections", help="read-model operations: status, rebuild, verify")
    ops = p.add_subparsers(dest="operation", required=True)
    q = ops.add_parser("status", help="store head, positions and lag")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_status)
    q = ops.add_parser("rebuild", help="drop a read model and replay it from the store "
                       "(Kafka path: stop that model's consumer first)")
    q.add_argument("name", choices=list(registry.READ_MODELS))
    q.set_defaults(run=run_rebuild)
    q = ops.add_parser("verify", help="compare read models with a rebuild from the store")
    q.add_argument("name", nargs="?", choices=list(registry.READ_MODELS))
    q.add_argument("--timeout", type=float, default=120.0,
                   help="Kafka path: seconds to wait for the relay and consumers to drain (120)")
    q.set_defaults(run=run_verify)
