"""`crm sla …` (breached, at risk, escalated; the watchdog's sweep and watch) and `crm notices`."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from consumers.watchdog import SweepReport
from domain.values import ContactMethod
from infra import views
from infra.alerts import AlertMailer
from infra.cli.common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_instant,
    parse_seconds,
    runtime,
)
from infra.local_time import local_minute
from infra.notify import (
    BY_HAND,
    OutboxSender,
    mark_done,
    smtp_from_env,
)
from infra.operations import make_watchdog
from infra.runtime import Runtime
from infra.store import system_clock
from projections import sla_queries
from projections.envelope import to_plain

QUERIES = {
    "breached": sla_queries.breached,
    "at-risk": sla_queries.at_risk,
    "escalated": sla_queries.escalated,
}
COLUMNS = ["reference", "state", "remaining", "urgent", "level", "team", "category", "due"]


def _now(args: argparse.Namespace, zone: str | None) -> datetime:
    return parse_instant(args.now, zone, "--now") if args.now else system_clock()


def run_query(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    authorized(args, c, "sla")
    if args.as_at and args.now:
        raise ValueError("give --as-at (the view as it stood then) or --now, not both")
    zone = c.calendar.timezone
    at = parse_instant(args.as_at, zone, "--as-at") if args.as_at else _now(args, zone)
    rows = views.sla(
        rt,
        c,
        args.query,
        at,
        team=args.team,
        level=args.level,
        category=args.category,
        as_at=bool(args.as_at),
    )
    if args.json:
        emit_json(rows)
    else:
        emit_table(rows, COLUMNS, c.calendar.timezone)


def _print_report(report: SweepReport, rt: Runtime, zone: str | None = None) -> None:
    """One line per action, stamped with the sweep's instant: the council's local time to the
    minute when the sweep is one council's, else ISO 8601 in UTC."""
    stamp = local_minute(report.now, zone) if zone else report.now.isoformat()
    lines = report.lines() or ["nothing due"]
    for line in lines:
        print(f"{stamp} {line}")
    smtp = smtp_from_env(vault=rt.vault)
    if smtp is not None:
        drained = OutboxSender(rt.write_engine, {ContactMethod.EMAIL: smtp}).send_pending(
            report.now
        )
        print(
            f"{stamp} emailed {drained.sent} notice(s), "
            f"{drained.failed} failed, {drained.retrying} to retry"
        )
        alerts = AlertMailer(rt.write_engine, smtp).send_open(report.now)
        print(f"{stamp} emailed {alerts} staff alert(s)")


def run_sweep(args: argparse.Namespace) -> int:
    """One sweep of the acting user's council, recorded as theirs."""
    c, rt = council(args), runtime(args)
    who = authorized(args, c, "sla-sweep")
    report = make_watchdog(rt, [c.id], who.actor).sweep(_now(args, c.calendar.timezone))
    _print_report(report, rt, c.calendar.timezone)
    return 1 if report.stale_view else 0


def run_watch(args: argparse.Namespace) -> None:
    rt = runtime(args)
    one = council(args) if args.council else None
    zone = one.calendar.timezone if one else None
    make_watchdog(rt, [one.id] if one else None).watch(
        system_clock, args.interval, on_sweep=lambda r: _print_report(r, rt, zone)
    )


def run_notices(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "notices")
    rows = views.notices(rt, c, viewer, "crm notices", args.ref, pending=args.pending)
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            rows,
            ["id", "reference", "notice", "method", "recipient", "status", "issued_at", "sent_at"],
            c.calendar.timezone,
        )


def run_notice_done(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    who = authorized(args, c, "notices")
    row = mark_done(
        rt.write_engine, c.id, args.id, by=who.actor, how=args.how, note=args.note, at=rt.clock()
    )
    if args.json:
        emit_json(to_plain({k: v for k, v in row.items() if k != "recipient"}))
    else:
        print(
            f"notice {row['id']} ({row['notice']}) for {row['reference']}: {args.how} "
            f"by {who.actor.id}"
        )


def register(sub: Any) -> None:
    p = sub.add_parser("sla", help="service-level views and the SLA watchdog")
    ops = p.add_subparsers(dest="sla_command", metavar="SLA_COMMAND", required=True)
    for name, help_ in (
        ("breached", "open requests past a due instant, most overdue first"),
        ("at-risk", "open requests past their at-risk threshold"),
        ("escalated", "open requests escalated above the first level"),
    ):
        q = ops.add_parser(name, help=help_)
        q.add_argument("--team")
        # not `dest="role"`: the global --role is the acting officer's
        q.add_argument("--role", dest="level", help="the current escalation level")
        q.add_argument("--category")
        q.add_argument("--now", help="the instant to judge at (ISO 8601; default: now)")
        q.add_argument(
            "--as-at",
            metavar="INSTANT",
            help="the view as it stood then: what had been recorded by that instant, "
            "judged at it (ISO 8601; without an offset, the council's local time)",
        )
        q.add_argument("--json", action="store_true")
        q.set_defaults(run=run_query, query=name)
    q = ops.add_parser("sweep", help="one watchdog sweep: escalate and notify what is due")
    q.add_argument("--now", help="the instant to sweep at (ISO 8601; default: now)")
    q.set_defaults(run=run_sweep)
    q = ops.add_parser("watch", help="sweep every --interval seconds until SIGTERM")
    q.add_argument("--interval", type=parse_seconds, default=60.0)
    q.set_defaults(run=run_watch)
    p = sub.add_parser("notices", help="customer notices in the outbox")
    p.add_argument("--ref")
    p.add_argument(
        "--pending",
        action="store_true",
        help="the work list: letters to post and calls to make (and unsent e-mail)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_notices)
    ops = p.add_subparsers(dest="notices_command", metavar="NOTICES_COMMAND")
    q = ops.add_parser("done", help="record a pending letter posted or call made")
    q.add_argument("id", type=int)
    q.add_argument("--by", required=True, choices=sorted(BY_HAND), dest="how")
    q.add_argument("--note")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_notice_done)
