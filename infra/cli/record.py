"""`crm record …`: the tamper-evident record — the council's key, signed anchors, verification.

Records officers and administrators (action `record`). `verify` exits 0 with each log's event
count and head hash, or 1 naming, for each source that disagrees with the event store, the
first position where they part and what happened there. `due-for-disposal` lists closed
requests past their retention; `dispose` (records officers only: action `dispose`) erases a
request's personal data and records its disposal certificate, or exits 2 saying why not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from commands import retention
from consumers import record_follower, record_verify
from infra import operations, record_anchor, views
from infra.cli import record_export
from infra.cli.common import authorized, council, emit_json, emit_table, parse_date, runtime
from infra.logs import get
from infra.runtime import Runtime
from projections.record_check import Finding

log = get("cli")
AUDITED_LOG = "requests"  # the log the audit record is fed from


def chain_what_was_written(args: argparse.Namespace) -> None:
    """On the embedded default, after a command that opened an event store, chains what it
    wrote before the process ends (the Kafka path's worker does this on its own). A failure
    here leaves the command's success intact: the next catch-up chains the events."""
    rt: Runtime | None = getattr(args, "_runtime", None)
    if rt is None or rt.settings.kafka_bootstrap is not None:
        return
    if "app" not in vars(rt) and "directory" not in vars(rt):
        return
    try:
        record_follower.catch_up(rt.chain_engine, rt.record_logs())
    except sa.exc.SQLAlchemyError as error:
        log.warning("record_chain_deferred", error=str(error)[:300])


def run_keygen(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "record")
    path = record_anchor.key_path(runtime(args).settings, c.id, args.key)
    print_key = record_anchor.generate(path)
    print(
        f"record key of {c.id}: {path} (0600); public key: "
        f"{record_anchor.public_path(path)}; fingerprint {print_key}"
    )


def run_anchor(args: argparse.Namespace) -> int:
    c, rt = council(args), runtime(args)
    authorized(args, c, "record")
    try:
        anchor = operations.anchor_record(rt, c, args.key)
    except operations.RecordBroken as broken:
        _print_findings(broken.findings)
        print(str(broken), file=sys.stderr)
        return 1
    text = json.dumps(anchor, indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
        print(f"anchored {_summary(anchor)} in {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def _summary(anchor: dict[str, Any]) -> str:
    return "; ".join(f"{log} at position {p}" for log, p in anchor["position"].items())


def run_verify(args: argparse.Namespace) -> int:
    c, rt = council(args), runtime(args)
    authorized(args, c, "record")
    anchors, rejected = _anchors(args, rt, c.id)
    checked = operations.verify_record(rt, anchors, rejected)
    if args.json:
        emit_json(checked.plain())
    elif checked.findings:
        _print_findings(checked.findings)
    else:
        for name, log in checked.logs.items():
            behind = (
                f" ({log['not_yet_chained']} not chained yet)" if log["not_yet_chained"] else ""
            )
            print(
                f"{name}: {log['event_count']} events, head position {log['position']}, "
                f"head hash {log['head_hash']}{behind}"
            )
        print(
            f"verified: the event store agrees with the stored chain, the audit record "
            f"and {len(anchors)} anchor(s)"
        )
    return 0 if checked.ok else 1


def _anchors(
    args: argparse.Namespace, rt: Runtime, council_id: str
) -> tuple[list[record_verify.Anchor], list[Finding]]:
    """The anchors given that are genuine, and a finding for each that is not."""
    if not args.anchor:
        return [], []
    given = args.public_key or record_anchor.key_path(rt.settings, council_id, args.key)
    public = record_anchor.load_public(given)
    good: list[record_verify.Anchor] = []
    bad: list[Finding] = []
    for path in args.anchor:
        try:
            good.append((str(path), record_anchor.read(path.read_text(), public, council_id)))
        except record_anchor.AnchorRejected as why:
            log, position = _claimed(path)
            bad.append(
                Finding(
                    log=log,
                    position=position,
                    kind=why.kind,
                    source=f"anchor {path}",
                    detail=f"rejected: {why}",
                )
            )
    return good, bad


def _claimed(path: Path) -> tuple[str, int]:
    """The log and position an anchor claims to anchor (the request log's if it names it)."""
    try:
        claimed = json.loads(path.read_text())["position"]
        log = AUDITED_LOG if AUDITED_LOG in claimed else next(iter(claimed))
        return log, int(claimed[log])
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return "requests", 0


def _print_findings(findings: list[Finding]) -> None:
    for f in findings:
        print(f.line())


def run_due_for_disposal(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    authorized(args, c, "record")
    on = args.on or views.council_today(rt, c)
    rows = views.due_for_disposal(rt, c, on)
    if args.json:
        emit_json(rows)
        return
    for row in rows:
        row["waits_for"] = ", ".join(row["waits_for"])
    emit_table(
        rows,
        [
            "reference",
            "category",
            "closed_at",
            "retention_class",
            "due_on",
            "customer",
            "waits_for",
        ],
        c.calendar.timezone,
    )


def run_dispose(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "dispose")
    done = retention.dispose_request(
        retention.DisposeRequest(
            council=c.id, reference=args.ref, reason=args.reason, actor=viewer.actor
        ),
        rt.ports,
        lambda council_id, number: views.customer_requests(rt, council_id, number),
    )
    whose = (
        f"customer {done.customer}'s personal data erased"
        if done.customer
        else "its personal data erased"
    )
    print(f"disposed of {', '.join(done.disposed)}: {whose}; certificate recorded")


def register(sub: Any) -> None:
    p = sub.add_parser("record", help="the tamper-evident record: keygen, anchor, verify")
    ops = p.add_subparsers(dest="operation", required=True)
    q = ops.add_parser("keygen", help="create the council's Ed25519 record key (never replaced)")
    q.add_argument(
        "--key",
        type=Path,
        help="where to keep it (default: CRM_RECORD_KEY_DIR or "
        "<data dir>/record-keys, file <council>.ed25519)",
    )
    q.set_defaults(run=run_keygen)
    q = ops.add_parser("anchor", help="sign the record's heads: a manifest to deposit elsewhere")
    q.add_argument("--out", type=Path, help="write the anchor to FILE (default: stdout)")
    q.add_argument("--key", type=Path, help="the council's record key file")
    q.set_defaults(run=run_anchor)
    q = ops.add_parser("verify", help="recompute the chain and check every source against it")
    q.add_argument(
        "--anchor",
        type=Path,
        action="append",
        default=[],
        help="an anchor to check the record against (repeatable)",
    )
    q.add_argument(
        "--public-key",
        type=Path,
        help="the council's public record key (default: beside the key file)",
    )
    q.add_argument("--key", type=Path, help="the council's record key file")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_verify)
    q = ops.add_parser(
        "due-for-disposal", help="closed requests past their retention, not yet disposed of"
    )
    q.add_argument("--on", type=parse_date, help="as on DATE (default: today, local time)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_due_for_disposal)
    q = ops.add_parser(
        "dispose",
        help="erase a request's personal data at the end of its "
        "retention and record the disposal certificate (records officers)",
    )
    q.add_argument("ref")
    q.add_argument("--reason", required=True, help="why (e.g. the disposal run's authority)")
    q.set_defaults(run=run_dispose)
    record_export.register(ops)  # crm record export: infra/cli/record_export.py
