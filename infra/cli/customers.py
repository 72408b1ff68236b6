"""`crm customer …`: find, show and correct customer records; conduct and restrictions on
contact (seed 001 §7.4); erasure of personal data; who looked at a record.

What a reader sees of the personal fields is decided by `commands.disclosure` alone.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from commands import customers as cmds
from domain.values import Channel, Conduct, ContactMethod, parse_enum
from domain.values import Customer as Details
from infra import views
from infra.cli.common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_date,
    runtime,
)
from infra.cli.requests import _enum


def run_show(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "customer-show")
    shown = views.customer_state(runtime(args), c, viewer, args.number, "crm customer show")
    if args.json:
        emit_json(shown)
        return
    for key, value in shown.items():
        print(f"{key:22} {'' if value is None else value}")


def run_history(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "customer-history")
    shown = views.customer_history(runtime(args), c, viewer, args.number, "crm customer history")
    if args.json:
        emit_json(shown)
        return
    emit_table(
        [{**e, "actor": f"{e['actor']['id']} ({e['actor']['role']})"} for e in shown["events"]],
        ["version", "type", "occurred_at", "actor"],
        council(args).calendar.timezone,
    )
    print()
    emit_table(
        shown["requests"],
        ["reference", "status", "category", "lodged_at", "outcome"],
        council(args).calendar.timezone,
    )
    print()
    emit_table(
        shown["contacts"],
        ["reference", "type", "channel", "logged_at"],
        council(args).calendar.timezone,
    )


def run_find(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "customer-find")
    field, value = next((f, getattr(args, f)) for f in cmds.FINDABLE if getattr(args, f))
    rows = views.find_customers(
        runtime(args), c, viewer, field, value, f"crm customer find --{field}"
    )
    emit_json(rows) if args.json else emit_table(rows, ["customer_id", "name", "preferred_contact"])


def run_update(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "customer-update")
    details = Details(
        name=args.name,
        address=args.address,
        phone=args.phone,
        email=args.email,
        preferred_contact=args.contact or ContactMethod.NONE,
    )
    rt = runtime(args)
    done = cmds.correct_details(
        cmds.CorrectDetails(
            council=c.id,
            number=args.number,
            actor=viewer.actor,
            details=details,
            reason=args.reason,
        ),
        rt.directory_ports,
        rt.vault,
    )
    print(done.number)


def _conduct_command(args: argparse.Namespace, kind: type[Any], **fields: Any) -> Any:
    c = council(args)
    viewer = authorized(args, c, "customer-conduct")
    return kind(council=c.id, number=args.number, actor=viewer.actor, **fields)


def run_declare(args: argparse.Namespace) -> None:
    cmd = _conduct_command(
        args,
        cmds.DeclareConduct,
        conduct=args.conduct,
        reason=args.reason,
        review_by=args.review_by,
    )
    print(cmds.declare_conduct(cmd, runtime(args).directory_ports))


def run_withdraw(args: argparse.Namespace) -> None:
    cmd = _conduct_command(
        args, cmds.WithdrawDeclaration, declaration_id=args.id, reason=args.reason
    )
    cmds.withdraw_declaration(cmd, runtime(args).directory_ports)


def run_restrict(args: argparse.Namespace) -> None:
    cmd = _conduct_command(
        args,
        cmds.RestrictContact,
        channels=args.channel or (),
        single_point_of_contact=args.only_through,
        until=args.until,
        review_by=args.review_by,
        reason=args.reason,
    )
    print(cmds.restrict_contact(cmd, runtime(args).directory_ports))


def run_review(args: argparse.Namespace) -> None:
    cmd = _conduct_command(
        args,
        cmds.ReviewRestriction,
        restriction_id=args.id,
        note=args.note,
        next_review=args.next_review,
    )
    cmds.review_restriction(cmd, runtime(args).directory_ports)


def run_lift(args: argparse.Namespace) -> None:
    cmd = _conduct_command(args, cmds.LiftRestriction, restriction_id=args.id, reason=args.reason)
    cmds.lift_restriction(cmd, runtime(args).directory_ports)


def run_reviews_due(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "customer-conduct")
    rows = views.reviews_due(runtime(args), c, args.on or views.council_today(runtime(args), c))
    emit_json(rows) if args.json else emit_table(rows, ["customer_id", "what", "id", "review_by"])


def run_erase(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "customer-erase")
    rt = runtime(args)
    done = cmds.erase_customer(
        cmds.EraseCustomer(
            council=c.id, number=args.number, actor=viewer.actor, reason=args.reason
        ),
        rt.directory_ports,
        rt.vault,
        lambda council_id, number: views.open_requests(rt, council_id, number),
    )
    if done is None:
        print(
            f"{args.number.strip().upper()}: no record was saved; the key and index "
            "entries its registration left are destroyed"
        )
    else:
        print(f"{done.number}: personal data erased")


def _minutes(text: str) -> int:
    """`--older-than`: whole minutes, 0 to `UNSAVED_AGE_MAX_MINUTES` (a year)."""
    try:
        minutes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {text!r}") from None
    if not 0 <= minutes <= cmds.UNSAVED_AGE_MAX_MINUTES:
        raise argparse.ArgumentTypeError(
            f"must be 0 to {cmds.UNSAVED_AGE_MAX_MINUTES:,} minutes (a year): {text!r}"
        )
    return minutes


def run_erase_unsaved(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "customer-erase")
    rt = runtime(args)
    before = rt.clock() - timedelta(minutes=args.older_than)
    for number in cmds.erase_unsaved_registrations(rt.directory_ports, rt.vault, c.id, before):
        print(
            f"{number}: no record was saved; the key and index entries its registration "
            "left are destroyed"
        )


def run_access_log(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "customer-access-log")
    rows = views.access_log(runtime(args), c, args.number)
    emit_json(rows) if args.json else emit_table(
        rows, ["at", "user_id", "role", "via"], c.calendar.timezone
    )


def _conduct(text: str) -> Conduct:
    try:
        return parse_enum(Conduct, text, "conduct")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(sub: Any) -> None:
    p = sub.add_parser("customer", help="customer records: find, show, correct, conduct, erase")
    cs = p.add_subparsers(
        dest="customer_command", metavar="ACTION", required=True, parser_class=type(p)
    )

    def with_number(name: str, help_: str, json_flag: bool = False) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = cs.add_parser(name, help=help_)
        q.add_argument("number", help="the customer's number, e.g. UL-C000042")
        if json_flag:
            q.add_argument("--json", action="store_true")
        return q

    q = cs.add_parser("find", help="find customers by phone, e-mail or name (exact)")
    how = q.add_mutually_exclusive_group(required=True)
    for field in cmds.FINDABLE:
        how.add_argument(f"--{field}")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_find)
    with_number("show", "a customer's record", True).set_defaults(run=run_show)
    with_number("history", "the record's events and the customer's requests", True).set_defaults(
        run=run_history
    )
    q = with_number("update", "correct contact details (recorded, never overwritten)")
    for field in ("name", "phone", "email", "address"):
        q.add_argument(f"--{field}")
    q.add_argument("--contact", type=_enum(ContactMethod, "contact method"))
    q.add_argument("--reason", required=True)
    q.set_defaults(run=run_update)
    q = with_number("declare", "declare the customer's conduct (seed 001 §7.4)")
    q.add_argument(
        "--conduct", required=True, type=_conduct, help=", ".join(c.value for c in Conduct)
    )
    q.add_argument("--reason", required=True)
    q.add_argument("--review-by", required=True, type=parse_date)
    q.set_defaults(run=run_declare)
    q = with_number("withdraw", "withdraw a conduct declaration")
    q.add_argument("id", type=int)
    q.add_argument("--reason", required=True)
    q.set_defaults(run=run_withdraw)
    q = with_number("restrict", "restrict how the customer may contact the council")
    q.add_argument(
        "--channel",
        action="append",
        type=_enum(Channel, "channel"),
        help="a channel the customer may no longer use (repeatable)",
    )
    q.add_argument("--only-through", metavar="USER", help="a single point of contact")
    q.add_argument("--until", type=parse_date)
    q.add_argument("--review-by", required=True, type=parse_date)
    q.add_argument("--reason", required=True)
    q.set_defaults(run=run_restrict)
    q = with_number("review", "review a restriction and keep it until the next review")
    q.add_argument("id", type=int)
    q.add_argument("--note", required=True)
    q.add_argument("--next-review", required=True, type=parse_date)
    q.set_defaults(run=run_review)
    q = with_number("lift", "lift a restriction")
    q.add_argument("id", type=int)
    q.add_argument("--reason", required=True)
    q.set_defaults(run=run_lift)
    q = cs.add_parser("reviews-due", help="declarations and restrictions past their review date")
    q.add_argument("--on", type=parse_date)
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_reviews_due)
    q = with_number(
        "erase",
        "erase the customer's personal data (no open request); for a "
        "number whose record was never saved, the key and index entries left",
    )
    q.add_argument("--reason", required=True)
    q.set_defaults(run=run_erase)
    q = cs.add_parser(
        "erase-unsaved",
        help="destroy the key and index entries left by "
        "registrations whose record was never saved (a process that died)",
    )
    q.add_argument(
        "--older-than",
        type=_minutes,
        default=60,
        metavar="MINUTES",
        help="only registrations begun this long ago or more (default 60)",
    )
    q.set_defaults(run=run_erase_unsaved)
    with_number(
        "access-log", "who read the customer's personal data, when, through what", True
    ).set_defaults(run=run_access_log)
