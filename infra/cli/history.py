"""`crm` subcommands about the past: `import` (another system's history) and `kpi` (figures for a
period, beside the council's expected compliance levels)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from infra import views
from infra.cli.common import (
    authorized,
    council,
    emit_json,
    emit_table,
    parse_date,
    parse_instant,
    runtime,
)
from infra.importer import (
    MAX_LISTED_ERRORS,
    ImportRefused,
    ImportReport,
    import_file,
    load_mapping,
)
from infra.progress import ProgressBar
from projections import kpi


def _report_lines(r: ImportReport) -> list[str]:
    ts = r.timestamps
    reading = "shifted by the zone's UTC offset" if ts["applied"] == "zone-offset" else "as written"
    if r.dry_run:
        done = (
            f"dry run: {r.closed + r.open} requests of {Path(r.file).name} are valid for "
            f"{r.council} ({r.closed} closed, {r.open} open); nothing written"
        )
    else:
        done = (
            f"imported {r.written} requests from {Path(r.file).name} into {r.council} "
            f"({r.closed} closed, {r.open} open in the file); "
            f"{r.skipped} already there, skipped"
        )
    lines = [
        done,
        f"timestamps ({ts['zone']}, rule {ts['declared']}): {reading} — {ts['reason']}",
    ]
    lines += [f"note: {n}" for n in r.notes]
    lines.append(f"{r.rows} rows in {r.seconds:.2f} s ({r.rows_per_s:,.0f} rows/s)")
    return lines


def run_import(args: argparse.Namespace) -> int:
    c, rt = council(args), runtime(args)
    authorized(args, c, "import")
    path = Path(args.file)
    if not path.is_file():
        raise ValueError(f"no file at {path}")
    mapping = load_mapping(Path(args.mapping))
    try:
        report = import_file(
            rt.app,
            c,
            mapping,
            path,
            vault=rt.vault,
            chunk=args.chunk,
            dry_run=args.dry_run,
            progress=lambda what: ProgressBar(what),
        )
    except ImportRefused as refused:
        print(f"crm: {refused}", file=sys.stderr)
        for error in refused.errors[:MAX_LISTED_ERRORS]:
            print(f"  {error}", file=sys.stderr)
        if len(refused.errors) > MAX_LISTED_ERRORS:
            print(f"  … and {len(refused.errors) - MAX_LISTED_ERRORS} more rows", file=sys.stderr)
        return 2
    if args.json:
        emit_json({**vars(report), "rows_per_s": round(report.rows_per_s)})
    else:
        print("\n".join(_report_lines(report)))
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


TABLE_COLUMNS = [
    "lodged",
    "closed",
    "completed_within_target",
    "completed_within_target_pct",
    "acknowledged_within_standard_pct",
    "median_business_days_to_complete",
    "p90_business_days_to_complete",
    "breaches",
    "escalations",
    "first_contact_resolution_pct",
    "customer_satisfaction_pct",
    "distinct_hazards",
]
SHORT = {
    "completed_within_target": "within",
    "completed_within_target_pct": "within%",
    "acknowledged_within_standard_pct": "ack%",
    "median_business_days_to_complete": "median_d",
    "p90_business_days_to_complete": "p90_d",
    "first_contact_resolution_pct": "fcr%",
    "customer_satisfaction_pct": "sat%",
    "distinct_hazards": "hazards",
}


def _table(
    rows: list[dict[str, Any]], total: dict[str, Any], by: str, targets: dict[str, float]
) -> None:
    label = by
    shown = []
    for row in [*rows, {**total, label: "TOTAL"}] if rows else []:
        cells = {label: row.get(label)}
        for col in TABLE_COLUMNS:
            value = row.get(col)
            cells[SHORT.get(col, col)] = "-" if value is None else value
        shown.append(cells)
    emit_table(shown, [label] + [SHORT.get(c, c) for c in TABLE_COLUMNS])
    levels = [
        f"{SHORT.get(k, k)} ≥ {v:g}" if k.endswith("_pct") else f"{SHORT.get(k, k)} ≤ {v:g}"
        for k, v in targets.items()
        if k in kpi.METRICS
    ]
    unmeasured = [k for k in targets if k not in kpi.METRICS]
    if levels:
        verdicts = [
            f"{SHORT.get(k, k)} {'met' if total.get(f'{k}_met') else 'NOT met'}"
            for k in targets
            if k in kpi.METRICS and total.get(f"{k}_met") is not None
        ]
        print(
            f"expected: {', '.join(levels)}"
            + (f" — overall: {', '.join(verdicts)}" if verdicts else "")
        )
    if unmeasured:
        print(f"not measured here: {', '.join(unmeasured)}")


def run_kpi(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    authorized(args, c, "kpi")
    now = parse_instant(args.now, c.calendar.timezone, "--now") if args.now else rt.clock()
    result = views.kpis(rt, c, args.by, args.date_from, args.date_to, now)
    if args.json:
        emit_json(result.groups)
    elif args.csv:
        columns = list(result.groups[0]) if result.groups else [args.by, *kpi.METRICS]
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in result.groups:
            writer.writerow(
                {
                    k: ("" if v is None else json.dumps(v) if isinstance(v, bool) else v)
                    for k, v in row.items()
                }
            )
    else:
        _table(
            result.groups,
            result.total,
            "category" if args.by == "category" else args.by,
            dict(c.kpi_targets),
        )


def register(sub: Any) -> None:
    p = sub.add_parser("import", help="import another system's history from a CSV export")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--mapping",
        required=True,
        metavar="M",
        help="the mapping file, e.g. config/mappings/boston311.toml",
    )
    p.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    p.add_argument("--chunk", type=_positive, default=500, help="requests per transaction")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_import)
    p = sub.add_parser("kpi", help="KPIs for a period, beside the expected compliance levels")
    p.add_argument("--by", required=True, choices=kpi.GROUPINGS)
    p.add_argument(
        "--from",
        dest="date_from",
        required=True,
        type=parse_date,
        help="first day (inclusive, in the council's timezone)",
    )
    p.add_argument(
        "--to", dest="date_to", required=True, type=parse_date, help="last day (inclusive)"
    )
    p.add_argument(
        "--now",
        help="the instant pending due dates are judged at, ISO 8601; without an offset, "
        "in the council's local time (default: the clock)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.set_defaults(run=run_kpi)
