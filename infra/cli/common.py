"""What every `crm` subcommand shares: the runtime, the council, the acting user, JSON output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from commands.access import authorize
from commands.ports import Ports
from commands.request_store import RequestCommand, Result
from domain.bounds import CALENDAR_SPAN, within_calendar
from domain.council import Council
from domain.permissions import Viewer
from infra.config import list_councils
from infra.local_time import local_minute
from infra.runtime import Runtime
from projections.envelope import to_plain


def runtime(args: argparse.Namespace) -> Runtime:
    rt: Runtime | None = getattr(args, "_runtime", None)
    if rt is None:
        rt = Runtime()
        args._runtime = rt
    return rt


def council(args: argparse.Namespace) -> Council:
    rt = runtime(args)
    if not args.council:
        known = ", ".join(list_councils(rt.settings.config_dir))
        raise ValueError(f"choose a council: --council ID or CRM_COUNCIL (known: {known})")
    return rt.ports.council(args.council)


def authorized(args: argparse.Namespace, c: Council, action: str) -> Viewer:
    """The acting user (`--as`/CRM_ACTOR, in `--role`/CRM_ROLE if given) if they may do
    `action` in council `c`; else `NotPermitted`, before anything is read or written."""
    return authorize(runtime(args).directory_ports, c, args.actor, args.role, action)


def emit_result(args: argparse.Namespace, result: Result) -> None:
    """A command's result: its reference, or the whole result with `--json`."""
    if getattr(args, "json", False):
        emit_json(to_plain(result))
    else:
        print(result.reference)


def run_request_command(
    args: argparse.Namespace,
    handle: Callable[[Any, Ports], Result],
    kind: type[RequestCommand],
    action: str | None = None,
    **fields: Any,
) -> None:
    """Runs one command of `kind` on the request `args.ref` through `handle`, as the acting
    user authorized for `action` (default: the CLI command's name), and emits its result."""
    c = council(args)
    cmd = kind(
        council=c.id,
        reference=args.ref.strip().upper(),
        actor=authorized(args, c, action or args.command).actor,
        **fields,
    )
    emit_result(args, handle(cmd, runtime(args).ports))


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def emit_table(rows: list[dict[str, Any]], columns: list[str], zone: str | None = None) -> None:
    """A plain aligned table for people; scripts use --json. With the council's `zone`, its
    instants (columns named `…_at`, `…_by`, `…_due`, `…_from`, `due`) show in local time."""
    if not rows:
        print("(none)")
        return
    cells = [[_cell(r.get(c), c, zone) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any, column: str, zone: str | None) -> str:
    if value is None:
        return ""
    # a plain date (YYYY-MM-DD, ten characters) is a day, not an instant: left as it is
    is_instant = isinstance(value, datetime) or (isinstance(value, str) and len(value) > 10)
    if zone and _is_instant_column(column) and is_instant:
        try:
            return local_minute(value, zone)
        except ValueError:
            return str(value)
    return str(value)


def _is_instant_column(column: str) -> bool:
    return column in ("due", "at") or column.endswith(("_at", "_by", "_due", "_from"))


def parse_date(text: str) -> date:
    """An argparse type: a calendar date, YYYY-MM-DD, within the calendar's usable span
    (argparse names the flag in its refusal, exit 2)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    if not within_calendar(day):
        raise argparse.ArgumentTypeError(f"must lie {CALENDAR_SPAN}: {text!r}")
    return day


def parse_seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (not NaN, not infinity, at most a
    day), for a wait or an interval."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(seconds) and 0 < seconds <= 86_400):
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400 s: {text!r}")
    return seconds


def parse_instant(text: str, zone: str | None, flag: str) -> datetime:
    """An ISO 8601 instant, in UTC; without an offset, it is read in the council's local time
    (UTC if no council is given). Every `--now` and `--as-at` reads this way; one that is not
    an instant, or lies outside the calendar's usable span, is bad input naming `flag`."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{flag}: not an instant (ISO 8601, e.g. 2026-03-30T16:30+11:00): {text!r}"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
    if not within_calendar(value):
        raise ValueError(f"{flag} must lie {CALENDAR_SPAN}: {text!r}")
    return value.astimezone(UTC)
