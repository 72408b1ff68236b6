"""`crm complaint …` (complaint handling and its report) and `crm satisfaction` (the
customer's rating of the service after closure)."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from commands import complaints as cmds
from domain.council import Council
from infra import views
from infra.cli.common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_date,
    run_request_command,
    runtime,
)


def _today(args: argparse.Namespace, c: Council) -> date:
    return views.council_today(runtime(args), c)


def _run(args: argparse.Namespace, action: str, kind: type[Any], **fields: Any) -> None:
    run_request_command(args, cmds.handle, kind, action, **fields)


def _on(args: argparse.Namespace) -> date:
    given: date | None = args.on
    return given if given is not None else _today(args, council(args))


def run_report(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "complaint-report")
    report = views.complaint_report(runtime(args), c, args.date_from, args.date_to)
    if args.json:
        emit_json(report)
        return
    columns = [
        "received",
        "closed",
        "open",
        "resolved_within_target",
        "mean_business_days",
        "median_business_days",
        "internal_reviews",
        "ombudsman_referrals",
    ]
    print("By category")
    emit_table(report["by_category"], ["category", *columns])
    print("\nBy outcome")
    emit_table(report["by_outcome"], ["outcome_name", *columns])
    print("\nTotal")
    emit_table([report["total"]], columns)


def run_satisfaction(args: argparse.Namespace) -> None:
    _run(args, "satisfaction", cmds.RecordSatisfaction, score=args.score, comment=args.comment)


def _score(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "complaint",
        help="complaint handling: subject officer, internal review, "
        "Ombudsman referral, and the complaints report",
    )
    group = p.add_subparsers(
        dest="complaint_command", metavar="ACTION", required=True, parser_class=type(p)
    )

    def ref_parser(name: str, help_: str) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = group.add_parser(name, help=help_)
        q.add_argument("ref")
        q.add_argument("--json", action="store_true")
        return q

    q = ref_parser("subject", "record the officer the complaint is about (never assigned it)")
    q.add_argument("--officer", required=True)
    q.add_argument("--reason", required=True)
    q.set_defaults(
        run=lambda a: _run(
            a, "complaint", cmds.RecordComplaintSubject, officer=a.officer, reason=a.reason
        )
    )
    q = ref_parser("review", "the customer asked for an internal review of the outcome")
    q.add_argument("--reason", required=True)
    q.add_argument("--on", type=parse_date, help="the date they asked (default: today)")
    q.set_defaults(
        run=lambda a: _run(a, "complaint", cmds.RequestReview, on=_on(a), reason=a.reason)
    )
    q = ref_parser("review-decision", "the internal review's finding (an outcome of complaints)")
    q.add_argument("--decision", required=True)
    q.add_argument("--text", required=True)
    q.add_argument("--on", type=parse_date, help="the date it was decided (default: today)")
    q.set_defaults(
        run=lambda a: _run(
            a, "complaint", cmds.DecideReview, on=_on(a), decision=a.decision, text=a.text
        )
    )
    q = ref_parser("ombudsman", "the complaint was referred to the Ombudsman")
    q.add_argument("--reason", required=True)
    q.add_argument("--on", type=parse_date, help="the date of the referral (default: today)")
    q.add_argument("--their-reference", help="the Ombudsman's own reference")
    q.set_defaults(
        run=lambda a: _run(
            a,
            "complaint",
            cmds.ReferToOmbudsman,
            on=_on(a),
            reason=a.reason,
            ombudsman_reference=a.their_reference,
        )
    )
    q = group.add_parser("report", help="complaints by category, outcome and time taken")
    q.add_argument("--from", dest="date_from", type=parse_date, help="received from (a date)")
    q.add_argument("--to", dest="date_to", type=parse_date, help="received to (inclusive)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_report)

    q = sub.add_parser("satisfaction", help="record the customer's rating of the service")
    q.add_argument("ref")
    q.add_argument("--score", required=True, type=_score, help="1 (poor) to 5 (excellent)")
    q.add_argument("--comment", help="what the customer said (kept sealed)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_satisfaction)
