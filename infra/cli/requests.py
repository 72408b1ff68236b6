"""`crm` subcommands that act on one request, and the council's catalogue."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from typing import Any

from commands import requests as cmds
from domain.calendar import CalendarSpec
from domain.council import Council
from domain.lodgement import make_intake
from domain.standards import deadline_of
from domain.values import (
    Channel,
    ContactMethod,
    NoteKind,
    RequestKind,
    parse_enum,
)
from infra import views
from infra.cli.common import (
    authorized,
    council,
    emit_json,
    emit_result,
    emit_table,
    parse_date,
    parse_instant,
    run_request_command,
    runtime,
)
from infra.local_time import local_minute


def _enum(kind: Any, what: str) -> Any:
    def parse(text: str) -> Any:
        try:
            return parse_enum(kind, text, what)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def run_lodge(args: argparse.Namespace) -> None:
    c = council(args)
    intake = make_intake(
        category=args.category,
        channel=args.channel,
        description=args.description,
        kind=args.kind,
        name=args.name,
        customer_address=args.customer_address,
        phone=args.phone,
        email=args.email,
        contact=args.contact,
        address=args.address,
        lat=args.lat,
        long=args.long,
        urgent=args.urgent,
        agreed_completion=args.agreed_completion,
        customer_number=args.customer,
        received_at=(
            parse_instant(args.received_at, c.calendar.timezone, "--received-at")
            if args.received_at
            else None
        ),
    )
    cmd = cmds.LodgeRequest(council=c.id, intake=intake, actor=authorized(args, c, "lodge").actor)
    lodged = cmds.lodge_request(cmd, runtime(args).ports)
    for restriction in lodged.restrictions:
        print(
            f"crm: note: customer {lodged.customer} is restricted — {restriction.describe()}",
            file=sys.stderr,
        )
    if lodged.likely_same:
        print(
            f"crm: note: customer {lodged.customer} shares a phone number or e-mail address "
            f"with {', '.join(lodged.likely_same)}: likely the same person (`crm customer "
            f"show NUMBER`; lodge with --customer NUMBER next time)",
            file=sys.stderr,
        )
    if args.agreed_completion is not None:
        _say_if_rolled(c.calendar, args.agreed_completion, "the agreed completion date")
    emit_result(args, lodged)


def _say_if_rolled(spec: CalendarSpec, day: date, what: str) -> None:
    """A date-only deadline that is not a business day moves to the next one: say so."""
    closing, business_day = deadline_of(spec, day)
    if business_day != day:
        local = local_minute(closing, spec.timezone)
        print(
            f"crm: note: {what} {day:%A %-d %B %Y} is not a business day: "
            f"it falls due at the close of {business_day:%A %-d %B %Y} ({local})",
            file=sys.stderr,
        )


def run_delay(args: argparse.Namespace) -> None:
    _request_command(
        args,
        cmds.DelayRequest,
        reason=args.reason,
        until=args.until,
        awaiting_customer=args.awaiting_customer,
    )
    r = views.load_request(runtime(args), council(args), args.ref)
    if r.standard is not None:
        _say_if_rolled(r.standard.calendar, args.until, "the new expected date")


def _request_command(args: argparse.Namespace, kind: type[Any], **fields: Any) -> None:
    run_request_command(args, cmds.handle, kind, **fields)


def _instant(args: argparse.Namespace, c: Council) -> datetime | None:
    """`--as-at`, if given: an instant, read in the council's local time without an offset."""
    return parse_instant(args.as_at, c.calendar.timezone, "--as-at") if args.as_at else None


def run_show(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "show")
    state = views.request_state(
        runtime(args), c, viewer, args.ref, "crm show", as_at=_instant(args, c)
    )
    if args.json:
        emit_json(state)
        return
    zone = c.calendar.timezone
    for key, value in state.items():
        if key == "attributes":  # the answers to the category's questions, one a line
            for answer in value or ():
                shown = answer["label"] or answer["value"]
                print(f"{answer['code']:16} {shown}")
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
        elif key in _INSTANTS and value is not None:
            value = local_minute(value, zone)
        print(f"{key:16} {'' if value is None else value}")


_INSTANTS = (
    "lodged_at",
    "received_at",
    "acknowledged_at",
    "acknowledge_by",
    "complete_by",
    "closed_at",
)


def run_history(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "history")
    rows = views.request_history(
        runtime(args), c, viewer, args.ref, "crm history", as_at=_instant(args, c)
    )
    if args.json:
        emit_json(rows)
    else:
        zone = c.calendar.timezone
        flat = [
            {
                **row,
                "actor": f"{row['actor']['id']} ({row['actor']['role']})",
                "occurred_at": local_minute(row["occurred_at"], zone),
            }
            for row in rows
        ]
        emit_table(flat, ["version", "type", "occurred_at", "actor"])


def run_categories(args: argparse.Namespace) -> None:
    c = council(args)
    rows = [
        {
            "code": k.code,
            "name": k.name,
            "team": k.team,
            "complete_days": k.complete_days,
            "acknowledge_days": k.acknowledge_days,
            "urgent": k.urgent,
        }
        for k in c.categories.values()
    ]
    emit_json(rows) if args.json else emit_table(rows, ["code", "name", "team", "complete_days"])


def run_teams(args: argparse.Namespace) -> None:
    rows = [{"code": t.code, "name": t.name} for t in council(args).teams.values()]
    emit_json(rows) if args.json else emit_table(rows, ["code", "name"])


def register(sub: Any) -> None:
    p = sub.add_parser("lodge", help="lodge a new request; prints its reference")
    p.add_argument("--category", required=True)
    p.add_argument("--channel", required=True, type=_enum(Channel, "channel"))
    p.add_argument("--description", required=True)
    p.add_argument("--name")
    p.add_argument("--phone")
    p.add_argument("--email")
    p.add_argument("--address", help="where the problem is (never taken as the customer's)")
    p.add_argument("--customer-address", help="the customer's postal address")
    p.add_argument(
        "--customer",
        metavar="NUMBER",
        help="the customer's record (e.g. UL-C000042), for a repeat caller",
    )
    p.add_argument("--contact", type=_enum(ContactMethod, "contact method"))
    p.add_argument("--lat", type=float)
    p.add_argument("--long", type=float)
    p.add_argument("--urgent", action="store_true")
    p.add_argument("--kind", type=_enum(RequestKind, "kind"), default=RequestKind.SERVICE_REQUEST)
    p.add_argument(
        "--agreed-completion",
        type=parse_date,
        help="discretionary: agreed date (a non-business day rolls to the next)",
    )
    p.add_argument(
        "--received-at",
        metavar="INSTANT",
        help="when the council received it (ISO 8601; local time without an "
        "offset); the standards count from it. Default: now",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_lodge)

    def ref_parser(name: str, help_: str) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        q.add_argument("ref")
        q.add_argument("--json", action="store_true")
        return q

    ref_parser("acknowledge", "acknowledge receipt").set_defaults(
        run=lambda a: _request_command(a, cmds.AcknowledgeRequest)
    )
    q = ref_parser("assign", "assign to a team and optionally an officer")
    q.add_argument("--team", required=True)
    q.add_argument("--officer")
    q.set_defaults(
        run=lambda a: _request_command(a, cmds.AssignRequest, team=a.team, officer=a.officer)
    )
    q = ref_parser("note", "record an action, a response or a contact")
    q.add_argument("text")
    q.add_argument("--kind", type=_enum(NoteKind, "note kind"), default=NoteKind.ACTION)
    q.add_argument("--channel", type=_enum(Channel, "channel"))
    q.set_defaults(
        run=lambda a: _request_command(
            a, cmds.AddNote, text=a.text, note_kind=a.kind, channel=a.channel
        )
    )
    q = ref_parser("delay", "record a delay and the new expected completion date")
    q.add_argument("--reason", required=True)
    q.add_argument("--until", required=True, type=parse_date)
    q.add_argument("--awaiting-customer", action="store_true")
    q.set_defaults(run=run_delay)
    q = ref_parser("escalate", "escalate (default: the next level up)")
    q.add_argument("--reason", required=True)
    q.add_argument("--level")
    q.set_defaults(
        run=lambda a: _request_command(a, cmds.EscalateRequest, reason=a.reason, level=a.level)
    )
    q = ref_parser("close", "close with an outcome")
    q.add_argument("--outcome", required=True)
    q.add_argument("--text", required=True)
    q.set_defaults(
        run=lambda a: _request_command(a, cmds.CloseRequest, outcome=a.outcome, text=a.text)
    )
    q = ref_parser("publish", "approve the description the public sees (Open311, the portal)")
    q.add_argument("--text", required=True)
    q.set_defaults(run=lambda a: _request_command(a, cmds.ApprovePublicDescription, text=a.text))
    for name, what, run in (
        ("show", "the request as it stands", run_show),
        ("history", "every event of the request, in order", run_history),
    ):
        q = ref_parser(name, what)
        q.add_argument(
            "--as-at",
            metavar="INSTANT",
            help="as the council had recorded it by then: ISO 8601; without an "
            "offset, in the council's local time",
        )
        q.set_defaults(run=run)
    for name, fn in (("categories", run_categories), ("teams", run_teams)):
        q = sub.add_parser(name, help=f"the council's {name}")
        q.add_argument("--json", action="store_true")
        q.set_defaults(run=fn)
