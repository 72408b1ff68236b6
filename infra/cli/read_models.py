"""`crm` subcommands over the read models: queues, the audit record, and their operations."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from consumers import dead_letters, follower, lag, operations
from consumers.kafka_consumer import retry_parked
from consumers.lag import PipelineStatus
from consumers.store_reader import StoreReader
from infra import views
from infra.cli.common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_date,
    parse_instant,
    parse_seconds,
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
    as_at = parse_instant(args.as_at, c.calendar.timezone, "--as-at") if args.as_at else None
    rows = views.queue(rt, c, args.team, args.officer, as_at=as_at)
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            rows,
            ["reference", "urgent", "status", "team", "officer", "complete_by", "last_action"],
            c.calendar.timezone,
        )


def run_audit(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "audit")
    if not (args.ref or args.officer or args.date_from or args.date_to):
        raise ValueError("say what to list: --ref REF, --officer ID, or --from D --to D")
    as_at = parse_instant(args.as_at, c.calendar.timezone, "--as-at") if args.as_at else None
    rows = views.audit(
        rt,
        c,
        viewer,
        "crm audit",
        reference=args.ref,
        officer=args.officer,
        date_from=args.date_from,
        date_to=args.date_to,
        payloads=args.json,
        as_at=as_at,
    )
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            rows,
            ["position", "reference", "occurred_at", "actor_id", "actor_role", "summary"],
            c.calendar.timezone,
        )


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
        print(
            f"relay checkpoint: {status.relay_checkpoint} ({status.relay_behind} behind), "
            f"topic {status.topic}"
        )
    for m in status.models:
        print(
            f"{m.name:16} lag {m.lag_events} events, {m.lag_seconds:.1f} s; positions {m.positions}"
        )
        if m.parked_messages:
            print(
                f"{'':16}   parked: {m.parked_messages} messages holding "
                f"{m.parked_requests} requests (crm projections dead-letters)"
            )
        for p in m.partitions:
            print(f"{'':16}   partition {p.partition}: offset {p.offset} of {p.end}, lag {p.lag}")


def run_rebuild(args: argparse.Namespace) -> None:
    """Builds the read model anew from the store into new tables while the live one keeps
    serving, then switches them in one transaction (`operations.rebuild`); on the Kafka path it
    also joins the topic as it now is — the repair after the topic changed. Its consumer may
    keep running."""
    authorized(args, council(args), "projections")
    rt = runtime(args)
    reader = StoreReader(rt.app)
    config = None if rt.settings.kafka_bootstrap is None else kafka_config(rt.settings)
    n = operations.rebuild(
        reader,
        rt.read_engine,
        args.name,
        progress=ProgressBar(f"rebuild {args.name}"),
        config=config,
    )
    print(f"rebuilt {args.name} from {n} events")


def run_verify(args: argparse.Namespace) -> int:
    """Embedded path: catch up, then compare. Kafka path: wait (bounded by --timeout) until
    every event stored when verify began has been applied (nothing lost), then compare each
    live model with a rebuild of exactly what it has applied (a consistent cut: it holds while
    traffic flows); a model without a recorded cut waits for the pipeline to drain and compares
    at the store's head. Exit 1 on any drift, on a stored request held by parked messages, or
    if the models did not catch up in time."""
    authorized(args, council(args), "projections")
    rt = runtime(args)
    read_models_ready(rt)
    names = [args.name] if args.name else list(registry.READ_MODELS)
    reader = StoreReader(rt.app)
    drifts = None
    if rt.settings.kafka_bootstrap is not None:
        caught_up, status = lag.wait_caught_up(
            lambda: pipeline_status(rt, names, ages=False), args.timeout
        )
        if not caught_up:
            print(
                f"not drained after {args.timeout:g} s (of what was stored when verify "
                f"began): relay at {status.relay_checkpoint} of head {status.store_head}; "
                + ", ".join(f"{m.name} {m.lag_events} behind" for m in status.models)
            )
            return 1
        drifts = operations.verify_at_cut(reader, rt.read_engine, names, kafka_config(rt.settings))
        if drifts is None:
            status = lag.wait_drained(lambda: pipeline_status(rt, names, ages=False), args.timeout)
            if not status.drained():
                print(
                    f"not drained after {args.timeout:g} s: relay at {status.relay_checkpoint} "
                    f"of head {status.store_head}; "
                    + ", ".join(f"{m.name} {m.lag_events} behind" for m in status.models)
                )
                return 1
            drifts = operations.verify(reader, rt.read_engine, names, until=status.store_head)
    else:
        drifts = operations.verify(reader, rt.read_engine, names)
    with rt.read_engine.connect() as conn:
        parked = {n: dead_letters.parked_request_ids(conn, n) for n in names}
    # A parked message naming a request the store does not hold is not one of its events: it
    # is reported by `status` and `dead-letters`, and makes no difference to the comparison.
    held = {n: {r for r in ids if reader.has_aggregate(r)} for n, ids in parked.items()}
    for d in drifts:
        verdict = "ok" if d.ok and not held[d.name] else ("PARKED" if held[d.name] else "DRIFT")
        print(f"{d.name}: {verdict}")
        if held[d.name]:
            print(
                f"  {len(held[d.name])} requests held by parked messages: see "
                f"`crm projections dead-letters`, fix, then "
                f"`crm projections retry-dead-letters {d.name}`"
            )
        for line in d.differences:
            print(f"  {line}")
    return 0 if all(d.ok and not held[d.name] for d in drifts) else 1


def run_dead_letters(args: argparse.Namespace) -> None:
    """Every parked message, in log order per read model, with the reason it was parked."""
    authorized(args, council(args), "projections")
    rt = runtime(args)
    with rt.read_engine.connect() as conn:
        rows = dead_letters.listing(conn, [args.name] if args.name else list(registry.READ_MODELS))
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            rows,
            ["read_model", "partition", "offset", "reference", "version", "event_type", "reason"],
        )


def run_retry_dead_letters(args: argparse.Namespace) -> int:
    """Re-applies parked messages in order; exit 1 if any is still parked."""
    authorized(args, council(args), "projections")
    rt = runtime(args)
    remaining = 0
    for name in [args.name] if args.name else list(registry.READ_MODELS):
        result = retry_parked(rt.read_engine, registry.build(name))
        remaining += result.still_parked
        print(f"{name}: {result.applied} re-applied, {result.still_parked} still parked")
    return 1 if remaining else 0


def register(sub: Any) -> None:
    p = sub.add_parser("queue", help="a team's or officer's work queue")
    p.add_argument("--team")
    p.add_argument("--officer")
    p.add_argument(
        "--as-at",
        metavar="INSTANT",
        help="the queue as it stood then (everything recorded by that instant): "
        "ISO 8601; without an offset, in the council's local time",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_queue)
    p = sub.add_parser("audit", help="the audit record, by request, officer or date range")
    p.add_argument("--ref")
    p.add_argument("--officer")
    p.add_argument("--from", dest="date_from", type=parse_date)
    p.add_argument("--to", dest="date_to", type=parse_date)
    p.add_argument(
        "--as-at",
        metavar="INSTANT",
        help="the record as it stood then (the entries recorded by that instant): "
        "ISO 8601; without an offset, in the council's local time",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_audit)
    p = sub.add_parser("projections", help="read-model operations: status, rebuild, verify")
    ops = p.add_subparsers(dest="operation", required=True)
    q = ops.add_parser("status", help="store head, positions and lag")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_status)
    q = ops.add_parser(
        "rebuild",
        help="build a read model anew from the store and switch it "
        "in (the live one serves meanwhile)",
    )
    q.add_argument("name", choices=list(registry.READ_MODELS))
    q.set_defaults(run=run_rebuild)
    q = ops.add_parser("verify", help="compare read models with a rebuild from the store")
    q.add_argument("name", nargs="?", choices=list(registry.READ_MODELS))
    q.add_argument(
        "--timeout",
        type=parse_seconds,
        default=120.0,
        help="Kafka path: seconds to wait for the relay and consumers to apply what "
        "was stored when verify began (120)",
    )
    q.set_defaults(run=run_verify)
    q = ops.add_parser("dead-letters", help="messages a read model parked, with the reasons")
    q.add_argument("name", nargs="?", choices=list(registry.READ_MODELS))
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_dead_letters)
    q = ops.add_parser("retry-dead-letters", help="re-apply parked messages in order, after a fix")
    q.add_argument("name", nargs="?", choices=list(registry.READ_MODELS))
    q.set_defaults(run=run_retry_dead_letters)
