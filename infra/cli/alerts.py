"""`crm alerts`: the staff alerts of urgent requests, and taking one."""

from __future__ import annotations

import argparse
from typing import Any

from commands.alerts import TakeAlert, take_alert
from infra.cli.common import authorized, council, emit_json, emit_table, runtime
from projections.envelope import to_plain


def run_list(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "alerts")
    rows = runtime(args).alerts.listed(c.id, args.alert_role, open_only=not args.all)
    if args.json:
        emit_json(to_plain(rows))
    else:
        emit_table(
            rows,
            ["id", "reference", "role", "status", "raised_at", "take_by", "taken_by", "reason"],
            c.calendar.timezone,
        )


def run_ack(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    who = authorized(args, c, "alerts")
    row = take_alert(
        TakeAlert(council=c.id, alert_id=args.id, actor=who.actor), rt.ports, rt.alerts
    )
    if args.json:
        emit_json(to_plain(row))
    else:
        print(f"alert {row['id']} about {row['reference']} taken by {row['taken_by']}")


def register(sub: Any) -> None:
    p = sub.add_parser("alerts", help="staff alerts of urgent requests (open ones by default)")
    # not `dest="role"`: the global --role is the acting user's
    p.add_argument("--role", dest="alert_role", help="the alerted role")
    p.add_argument("--all", action="store_true", help="taken and passed-on alerts too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_list)
    ops = p.add_subparsers(dest="alerts_command", metavar="ALERTS_COMMAND")
    q = ops.add_parser("ack", help="take an alert: it is yours, and goes no further")
    q.add_argument("id", type=int)
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_ack)
