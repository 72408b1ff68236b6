"""`crm reopen | recategorise | link | refer`: corrections to a request, each recorded with its
reason and actor; `crm agencies`: the council's directory of external agencies."""

from __future__ import annotations

import argparse
from typing import Any

from commands import corrections as cmds
from infra.cli.common import council, emit_json, emit_table, run_request_command


def _correct(args: argparse.Namespace, kind: type[Any], **fields: Any) -> None:
    run_request_command(args, cmds.handle, kind, **fields)


def run_agencies(args: argparse.Namespace) -> None:
    rows = [
        {
            "code": a.code,
            "name": a.name,
            "handles": a.handles,
            "contact": a.contact,
            "phone": a.phone,
            "email": a.email,
            "web": a.web,
        }
        for a in council(args).agencies.values()
    ]
    emit_json(rows) if args.json else emit_table(rows, ["code", "name", "contact"])


def register(sub: Any) -> None:
    def ref_parser(name: str, help_: str) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        q.add_argument("ref")
        q.add_argument("--json", action="store_true")
        return q

    q = ref_parser("reopen", "reopen a closed request, due again per council policy")
    q.add_argument("--reason", required=True)
    q.set_defaults(run=lambda a: _correct(a, cmds.ReopenRequest, reason=a.reason))
    q = ref_parser("recategorise", "change the category: its team, and targets per policy")
    q.add_argument("--category", required=True)
    q.add_argument("--reason", required=True)
    q.set_defaults(
        run=lambda a: _correct(a, cmds.RecategoriseRequest, category=a.category, reason=a.reason)
    )
    q = ref_parser("link", "close the request as a duplicate of another")
    q.add_argument("--duplicate-of", required=True, metavar="REF")
    q.add_argument("--reason", default="the same problem as an earlier request")
    q.set_defaults(
        run=lambda a: _correct(a, cmds.LinkDuplicate, original=a.duplicate_of, reason=a.reason)
    )
    q = ref_parser("refer", "refer to an external agency (see `crm agencies`) and close")
    q.add_argument("--agency", required=True)
    q.add_argument("--reason", required=True)
    q.set_defaults(run=lambda a: _correct(a, cmds.ReferRequest, agency=a.agency, reason=a.reason))
    q = sub.add_parser("agencies", help="the council's directory of external agencies")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_agencies)
