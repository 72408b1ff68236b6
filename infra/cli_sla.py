"""`crm sla …` (breached, at risk, escalated; the watchdog's sweep and watch) and `crm notices`."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from consumers.store_reader import StoreReader
from consumers.watchdog import SYSTEM_ACTOR, SweepReport, Watchdog
from domain.values import Actor, ContactMethod
from infra import views
from infra.cli_common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_instant,
    runtime,
)
from infra.notify import OutboxNotifier, OutboxSender, smtp_from_env
from infra.runtime import Runtime
from infra.store import system_clock
from infra.views import read_models_ready
from projections import sla_queries

QUERIES = {
    "breached": sla_queries.breached,
    "at-risk": sla_queries.at_risk,
    "escalated": sla_queries.escalated,
}
COLUMNS = ["reference", "state", "remaining", "urgent", "level", "team", "category", "due"]
KAFKA_VIEW_WAIT_S = 30.0


def _now(args: argparse.Namespace, zone: str | None) -> datetime:
    return parse_instant(args.now, zone) if args.now else system_clock()


def run_query(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    authorized(args, c, "sla")
    rows = views.sla(rt, c, args.query, _now(args, c.calendar.timezone), team=args.team,
                     level=args.level, category=args.category)
    if args.json:
        emit_json(rows)
    else:
        emit_table(rows, COLUMNS)


def make_watchdog(
    rt: Runtime, councils: list[str] | None = None, actor: Actor = SYSTEM_ACTOR
) -> Watchdog:
    """The watchdog on this runtime, recording `actor` (its own system actor unless a person
    sweeps by hand): the embedded path catches the view up before each look; on Kafka the
    consumers keep it current and the watchdog waits for its own writes."""
    embedded = rt.settings.kafka_bootstrap is None
    return Watchdog(
        ports=rt.ports, reader=StoreReader(rt.app), read_engine=rt.read_engine,
        write_engine=rt.write_engine, notifier=OutboxNotifier(rt.write_engine),
        refresh=lambda: read_models_ready(rt), councils=councils, actor=actor,
        view_wait_s=0.0 if embedded else KAFKA_VIEW_WAIT_S,
    )




def _print_report(report: SweepReport, rt: Runtime) -> None:
    lines = report.lines() or ["nothing due"]
    for line in lines:
        print(f"{report.now.isoformat()} {line}")
    smtp = smtp_from_env(vault=rt.vault)
    if smtp is not None:
        drained = OutboxSender(rt.write_engine, {ContactMethod.EMAIL: smtp}).send_pending(
            report.now)
        print(f"{report.now.isoformat()} emailed {drained.sent} notice(s), "
              f"{drained.failed} failed, {drained.retrying} to retry")


def run_sweep(args: argparse.Namespace) -> int:
    """One sweep of the acting user's council, recorded as theirs."""
    c, rt = council(args), runtime(args)
    who = authorized(args, c, "sla-sweep")
    report = make_watchdog(rt, [c.id], who.actor).sweep(_now(args, c.calendar.timezone))
    _print_report(report, rt)
    return 1 if report.stale_view else 0


def run_watch(args: argparse.Namespace) -> None:
    rt = runtime(args)
    if args.interval <= 0:
        raise ValueError("--interval must be a positive number of seconds")
    councils = [council(args).id] if args.council else None
    make_watchdog(rt, councils).watch(system_clock, args.interval,
                             on_sweep=lambda r: _print_report(r, rt))


def run_notices(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "notices")
    rows = views.notices(rt, c, viewer, "crm notices", args.ref)
    if args.json:
        emit_json(rows)
    else:
        emit_table(rows, ["id", "reference", "notice", "method", "recipient", "status",
                          "issued_at", "sent_at"])


def register(sub: Any) -> None:
    p = sub.add_parser("sla", help="service-level views and the SLA watchdog")
    ops = p.add_subparsers(dest="sla_command", metavar="SLA_COMMAND", required=True)
    for name, help_ in (("breached", "open requests past a due instant, most overdue first"),
                        ("at-risk", "open requests past their at-risk threshold"),
                        ("escalated", "open requests escalated above the first level")):
        q = ops.add_parser(name, help=help_)
        q.add_argument("--team")
        # not `dest="role"`: the global --role is the acting officer's
        q.add_argument("--role", dest="level", help="the current escalation level")
        q.add_argument("--category")
        q.add_argument("--now", help="the instant to judge at (ISO 8601; default: now)")
        q.add_argument("--json", action="store_true")
        q.set_defaults(run=run_query, query=name)
    q = ops.add_parser("sweep", help="one watchdog sweep: escalate and notify what is due")
    q.add_argument("--now", help="the instant to sweep at (ISO 8601; default: now)")
    q.set_defaults(run=run_sweep)
    q = ops.add_parser("watch", help="sweep every --interval seconds until SIGTERM")
    q.add_argument("--interval", type=float, default=60.0)
    q.set_defaults(run=run_watch)
    p = sub.add_parser("notices", help="customer notices in the outbox")
    p.add_argument("--ref")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_notices)
