"""Documents for people: a title, facts, tables and notes, rendered as text, CSV or HTML (and
PDF by `infra.pdf`). The timeline and the record exports are built as a `Document` once, so
every format shows the same figures."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    widths: tuple[float, ...] = ()  # relative widths on paper (default: equal)


@dataclass(frozen=True, kw_only=True)
class Document:
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def as_text(doc: Document) -> str:
    """Plain text: the facts as `label: value` lines, each table aligned, then the notes."""
    out = [doc.title, "=" * len(doc.title)]
    width = max((len(label) for label, _ in doc.facts), default=0)
    out += [f"{label.ljust(width)}  {value}" for label, value in doc.facts]
    for table in doc.tables:
        out += ["", table.title, "-" * len(table.title)]
        if not table.rows:
            out.append("(none)")
            continue
        widths = [
            max(len(c), *(len(r[i]) for r in table.rows)) for i, c in enumerate(table.columns)
        ]
        out.append(
            "  ".join(
                c.upper().ljust(w) for c, w in zip(table.columns, widths, strict=True)
            ).rstrip()
        )
        out += [
            "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            for row in table.rows
        ]
    if doc.notes:
        out += ["", *doc.notes]
    return "\n".join(out) + "\n"


def as_csv(doc: Document) -> str:
    """CSV: the facts as two-column rows, then each table after a blank row, under a row
    naming it; then the notes, one a row."""
    buffer = io.StringIO()
    w = csv.writer(buffer, lineterminator="\n")
    w.writerow(["document", doc.title])
    w.writerows(doc.facts)
    for table in doc.tables:
        w.writerow([])
        w.writerow(["table", table.title])
        w.writerow(table.columns)
        w.writerows(table.rows)
    if doc.notes:
        w.writerow([])
        w.writerows([["note", note] for note in doc.notes])
    return buffer.getvalue()


def as_html(doc: Document) -> str:
    """A self-contained HTML page (no script, no external resource)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)}</title>",
        (
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
            "margin-bottom:1.5em}th,td{border:1px solid #777;padding:.25em .5em;text-align:left;"
            "vertical-align:top}td.hash{font-family:monospace;font-size:.8em}</style></head><body>"
        ),
        f"<h1>{e(doc.title)}</h1>",
        "<dl>",
        *(f"<dt>{e(label)}</dt><dd>{e(value)}</dd>" for label, value in doc.facts),
        "</dl>",
    ]
    for table in doc.tables:
        parts += [
            f"<h2>{e(table.title)}</h2>",
            "<table><thead><tr>",
            *(f'<th scope="col">{e(c)}</th>' for c in table.columns),
            "</tr></thead><tbody>",
        ]
        for row in table.rows:
            cells = "".join(
                f'<td class="hash">{e(v)}</td>' if c == "chain hash" else f"<td>{e(v)}</td>"
                for c, v in zip(table.columns, row, strict=True)
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
    parts += [f"<p>{e(note)}</p>" for note in doc.notes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
