"""`crm timeline REF`: the investigation timeline of one request — every step with its local
instant, actor, role and channel, the business time since lodgement and since the previous
step, each standard and whether and when it was met or missed, the notices sent and the record
chain's hash of each entry — as text, JSON, CSV, HTML or PDF."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infra import reports
from infra.cli.common import authorized, council, parse_instant, runtime
from infra.timeline import request_timeline


def write_out(data: bytes, out: Path | None, what: str) -> None:
    """`data` to `out` (saying where on stdout), or to stdout itself."""
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(data)
    print(f"wrote {what} to {out} ({len(data):,} bytes)")


def run_timeline(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    viewer = authorized(args, c, "timeline")
    as_at = parse_instant(args.as_at, c.calendar.timezone, "--as-at") if args.as_at else None
    tl = request_timeline(rt, c, viewer, args.reference, "crm timeline", as_at)
    if args.format == "json":
        data = (json.dumps(tl, indent=2, ensure_ascii=False) + "\n").encode()
    else:
        data = reports.rendered(reports.timeline_document(tl), args.format)
    if args.format == "pdf" and args.out is None and sys.stdout.isatty():
        raise ValueError("a PDF is not for a terminal: give --out FILE (or redirect stdout)")
    write_out(data, args.out, f"the timeline of {tl['reference']}")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "timeline",
        help="the investigation timeline of a request: steps, "
        "business time, standards met or missed, notices, chain hashes",
    )
    p.add_argument("reference", metavar="REF")
    p.add_argument("--format", choices=reports.FORMATS, default="text")
    p.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: stdout)")
    p.add_argument(
        "--as-at",
        metavar="INSTANT",
        help="as recorded by then, standards judged then: ISO 8601; without an "
        "offset, in the council's local time",
    )
    p.set_defaults(run=run_timeline)
