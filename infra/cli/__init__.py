"""`crm`: the command-line entry point. Output on stdout; logs and errors on stderr, always.

Errors exit non-zero with one line: 1 a refusal by a rule, 2 bad input, 3 a concurrent change
(retry), 4 not found, 5 a server or store that cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from commands.customers import CustomerNotFound
from commands.errors import AttachmentNotFound, ConcurrencyConflict, RequestNotFound
from domain.errors import (
    AssigneeRefused,
    DisposalRefused,
    DomainError,
    OutOfBounds,
    RequestDisposed,
)
from infra.cli import (
    alerts,
    attachments,
    complaints,
    contacts,
    corrections,
    customers,
    demo,
    history,
    read_models,
    record,
    requests,
    serve,
    sla,
    streaming,
    timeline,
    users,
)
from infra.config import ConfigError
from infra.logs import configure
from infra.runtime import Runtime
from infra.settings import SettingsError

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConcurrencyConflict, 3),
    (RequestNotFound, 4),
    (CustomerNotFound, 4),
    (AttachmentNotFound, 4),
    (OutOfBounds, 2),
    (DisposalRefused, 2),
    (AssigneeRefused, 2),
    (RequestDisposed, 2),
    (DomainError, 1),
    (ConfigError, 2),
    (SettingsError, 2),
    (KeyError, 2),
    (ValueError, 2),
    (ConnectionError, 5),
    (OSError, 5),
)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, like every other error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"crm: {self.prog.removeprefix('crm ')}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="crm", description="councilcrm: take, work and prove every service request."
    )
    parser.add_argument(
        "--council",
        default=os.environ.get("CRM_COUNCIL"),
        help="council id, e.g. upper-lachlan (env CRM_COUNCIL)",
    )
    parser.add_argument(
        "--as",
        dest="actor",
        default=os.environ.get("CRM_ACTOR"),
        help="the acting staff user's id (env CRM_ACTOR); an active user of the council",
    )
    parser.add_argument(
        "--role",
        default=os.environ.get("CRM_ROLE"),
        help="the role the user acts in, one they hold (env CRM_ROLE; default: the first of "
        "their roles that allows the command)",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )
    for interface in (
        requests,
        read_models,
        sla,
        history,
        streaming,
        demo,
        users,
        customers,
        serve,
        alerts,
        record,
        timeline,
        contacts,
        attachments,
        complaints,
        corrections,
    ):
        interface.register(sub)
    return parser


def _message(error: BaseException) -> str:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(text.split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    configure()
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
        if code == 0:
            record.chain_what_was_written(args)
        return code
    finally:
        opened: Runtime | None = getattr(args, "_runtime", None)
        if opened is not None:
            opened.close()


def _run(args: argparse.Namespace) -> int:
    run: Callable[[argparse.Namespace], int | None] = args.run
    try:
        return run(args) or 0
    except KeyboardInterrupt:
        print("crm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except tuple(kind for kind, _ in EXIT_CODES) as error:
        code = next(code for kind, code in EXIT_CODES if isinstance(error, kind))
        print(f"crm: {_message(error)}", file=sys.stderr)
        return code
