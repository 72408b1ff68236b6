"""`crm contact log` (an enquiry that is not a service request, seed 002) and `crm stats` (the
daily statistics of enquiries and requests, seed 004)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from commands import contacts as cmds
from domain.values import Channel
from infra import views
from infra.cli.common import authorized, council, emit_json, emit_table, parse_date, runtime
from infra.cli.requests import _enum
from projections.envelope import to_plain


def run_log(args: argparse.Namespace) -> None:
    c = council(args)
    cmd = cmds.LogContact(
        council=c.id,
        contact_type=args.type,
        channel=args.channel,
        actor=authorized(args, c, "contact").actor,
        customer=args.customer,
        note=args.note,
    )
    logged = cmds.log_contact(cmd, runtime(args).ports)
    for restriction in logged.restrictions:
        print(
            f"crm: note: customer {logged.customer} is restricted — {restriction.describe()}",
            file=sys.stderr,
        )
    emit_json(to_plain(logged)) if args.json else print(logged.reference)


BY = {"day,type": "type", "day,channel": "channel"}


def run_stats(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    authorized(args, c, "stats")
    if args.by not in BY:
        raise ValueError(f"--by must be {' or '.join(BY)}, not {args.by!r}")
    rows = views.enquiry_stats(rt, c, BY[args.by], args.date_from, args.date_to)
    if args.json:
        emit_json(rows)
    else:
        emit_table(rows, ["day", BY[args.by], "enquiries", "requests", "total"])


def register(sub: Any) -> None:
    p = sub.add_parser("contact", help="enquiries that are not service requests")
    group = p.add_subparsers(dest="contact_command", metavar="ACTION", required=True)
    q = group.add_parser(
        "log", help="record an enquiry without opening a request; prints its reference"
    )
    q.add_argument(
        "--type",
        required=True,
        help="an enquiry type of the council's [enquiry_types] (e.g. rates, certificate)",
    )
    q.add_argument("--channel", required=True, type=_enum(Channel, "channel"))
    q.add_argument("--customer", metavar="NUMBER", help="the customer's record, if known")
    q.add_argument("--note", help="what was asked or answered (sealed: it may hold personal data)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_log)

    p = sub.add_parser("stats", help="daily statistics of enquiries and requests")
    p.add_argument("--by", default="day,type", help="day,type (default) or day,channel")
    p.add_argument(
        "--from",
        dest="date_from",
        type=parse_date,
        help="first day (default: six days before --to)",
    )
    p.add_argument("--to", dest="date_to", type=parse_date, help="last day (default: today)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_stats)
