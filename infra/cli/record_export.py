"""`crm record export`: the audit record of a request, an officer or a period as CSV or PDF,
with the record's verification printed on it, personal fields as the reader's role may see
them. Exits 1 (after writing the export) when the record does not verify."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra import reports
from infra.cli.common import authorized, council, parse_date, runtime
from infra.cli.timeline import write_out
from infra.record_export import FORMATS, record_export


def run_export(args: argparse.Namespace) -> int:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "export")
    if not (args.request or args.officer or args.date_from or args.date_to):
        raise ValueError("say what to export: --request REF, --officer ID, or --from D --to D")
    ex = record_export(
        rt,
        c,
        viewer,
        "crm record export",
        reference=args.request,
        officer=args.officer,
        date_from=args.date_from,
        date_to=args.date_to,
    )
    write_out(
        reports.rendered(reports.export_document(ex), args.format),
        args.out,
        f"{len(ex['entries'])} entries ({ex['scope']})",
    )
    if not ex["verification"]["ok"]:
        print(
            "crm: the record does not verify: see the export, or run crm record verify",
            file=sys.stderr,
        )
        return 1
    return 0


def register(ops: Any) -> None:
    q = ops.add_parser(
        "export",
        help="the audit record of a request, an officer or a period, "
        "as CSV or PDF, with the record's verification",
    )
    q.add_argument("--request", metavar="REF")
    q.add_argument("--officer", metavar="ID")
    q.add_argument(
        "--from",
        dest="date_from",
        type=parse_date,
        metavar="D",
        help="first day (inclusive, the council's days)",
    )
    q.add_argument(
        "--to", dest="date_to", type=parse_date, metavar="D", help="last day (inclusive)"
    )
    q.add_argument("--format", choices=FORMATS, required=True)
    q.add_argument("--out", type=Path, metavar="FILE", required=True)
    q.set_defaults(run=run_export)
