"""The investigation timeline and the record exports as documents for people (`Document`):
the same figures in text, CSV, HTML and PDF. Instants show in the council's local time, to the
minute, with the zone's abbreviation; business time as '1d 2h 30m' of the council's working
day."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.documents import Document, Table, as_csv, as_html, as_text
from infra.local_time import local_minute
from infra.pdf import as_pdf

FORMATS = ("text", "json", "csv", "html", "pdf")
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "text": "text/plain; charset=utf-8",
}
RENDER: dict[str, Callable[[Document], str | bytes]] = {
    "text": as_text,
    "csv": as_csv,
    "html": as_html,
    "pdf": as_pdf,
}


def rendered(doc: Document, fmt: str) -> bytes:
    """The document in `fmt` (text, csv, html, pdf) as bytes (UTF-8 for the text formats)."""
    out = RENDER[fmt](doc)
    return out if isinstance(out, bytes) else out.encode()


def _when(value: str | None, zone: str) -> str:
    return local_minute(value, zone) if value else ""


def _span(span: dict[str, Any] | None) -> str:
    return span["business"] if span else ""


def _moves(tl: dict[str, Any], zone: str) -> list[tuple[str, ...]]:
    """Each change of the completion due instant (a delay, a customer pause ending)."""
    return [
        (
            f"completion due moved ({m['why']})",
            "",
            _when(m["to"], zone),
            _when(m["at"], zone),
            f"was {_when(m['from'], zone)}" if m["from"] else "had none",
            "",
            str(m["step"]),
        )
        for s in tl["standards"]
        if s["standard"] == "completion"
        for m in s.get("moves", [])
    ]


def timeline_document(tl: dict[str, Any]) -> Document:
    zone = tl["timezone"]
    customer = tl.get("customer") or {}
    chain = tl["chain"]
    facts = [
        ("Reference", tl["reference"]),
        ("Council", tl["council_name"]),
        ("Category", tl["category"]),
        ("Team", tl["team"]),
        ("Status", f"{tl['status']}, at level {tl['level']}"),
        (
            "Customer",
            " — ".join(v for v in (customer.get("name"), tl.get("customer_id")) if v)
            or "(none identified)",
        ),
        ("Received", _when(tl["received_at"], zone)),
        ("Lodged", _when(tl["lodged_at"], zone)),
        ("Closed", _when(tl["closed_at"], zone) or "open"),
        (
            "Standards judged at",
            _when(tl["judged_at"], zone) + (" (as recorded by then)" if tl["as_at"] else ""),
        ),
        (
            "Business time",
            (
                f"working days {tl['working_day']} {zone} "
                f"({tl['day_length_hours']:g} h a day), the council's business days"
            ),
        ),
        (
            "Record chain",
            (
                f"{chain['entries']} of {chain['steps']} steps chained; "
                f"{chain['matching']} match the events as stored"
            ),
        ),
    ]
    steps = Table(
        title="Steps",
        columns=(
            "#",
            "when",
            "what",
            "actor",
            "role",
            "channel",
            "since lodgement",
            "since previous",
            "chain hash",
        ),
        rows=[
            (
                str(s["step"]),
                _when(s["occurred_at"], zone),
                s["summary"],
                s["actor"],
                s["role"],
                s["channel"] or "",
                _span(s["since_lodgement"]),
                _span(s["since_previous"]),
                (s["chain_hash"] or "not chained yet")
                + ("" if s["chain_matches"] or not s["chain_hash"] else " (DIFFERS)"),
            )
            for s in tl["steps"]
        ],
        widths=(2, 9, 24, 8, 7, 6, 7, 7, 20),
    )
    standards = Table(
        title="Standards",
        columns=("standard", "level", "due", "done", "state", "late by", "at step"),
        rows=[
            (
                s["standard"] + (f" ({s['cause']})" if s.get("cause") else ""),
                s.get("level") or "",
                _when(s["due"], zone),
                _when(s["done_at"], zone),
                s["state"],
                _span(s["late_by"]),
                str(s.get("step") or ""),
            )
            for s in tl["standards"]
        ]
        + _moves(tl, zone),
        widths=(14, 8, 10, 10, 6, 7, 4),
    )
    notices = Table(
        title="Notices sent",
        columns=("#", "notice", "by", "to", "when"),
        rows=[
            (
                str(n["step"]),
                n["notice"],
                n["channel"] or "",
                n["recipient"] or "",
                _when(n["occurred_at"], zone),
            )
            for n in tl["notices"]
        ],
        widths=(2, 8, 6, 14, 10),
    )
    return Document(
        title=f"Investigation timeline of {tl['reference']} — {tl['council_name']}",
        facts=facts,
        tables=[steps, standards, notices],
        notes=[
            (
                "Business time counts only the council's working hours on its business days "
                "(weekends and public holidays excluded), from receipt of the request."
            ),
            (
                "A standard is met when done by its due instant, missed when done later or not "
                "done by the instant judged, pending when not yet due."
            ),
        ],
    )


def export_document(ex: dict[str, Any]) -> Document:
    zone = ex["timezone"]
    v = ex["verification"]
    verdict = (
        ["VERIFIED: the event store agrees with the stored chain and the audit record"]
        if v["ok"]
        else ["NOT VERIFIED: the record disagrees with the event store", *v["findings"]]
    )
    facts = [
        ("Council", ex["council_name"]),
        ("Scope", ex["scope"]),
        ("Exported", _when(ex["generated_at"], zone)),
        ("Exported by", f"{ex['reader']['id']} ({ex['reader']['role']})"),
        ("Entries", str(len(ex["entries"]))),
        ("Chain verification", verdict[0]),
        *(("", line) for line in verdict[1:]),
        *(
            (
                f"{name} log",
                f"{log['event_count']} events, head position {log['position']}, "
                f"head hash {log['head_hash']}"
                + (
                    f" ({log['not_yet_chained']} not chained yet)" if log["not_yet_chained"] else ""
                ),
            )
            for name, log in v["logs"].items()
        ),
    ]
    entries = Table(
        title="Entries",
        columns=(
            "position",
            "when",
            "reference",
            "event",
            "actor",
            "role",
            "channel",
            "summary",
            "personal",
            "chain hash",
        ),
        rows=[
            (
                str(e["position"]),
                _when(e["occurred_at"], zone),
                e["reference"],
                e["event_type"],
                e["actor_id"],
                e["actor_role"],
                e["channel"] or "",
                e["summary"],
                e["personal"],
                e["chain_hash"] or "not chained yet",
            )
            for e in ex["entries"]
        ],
        widths=(4, 8, 8, 6, 7, 6, 5, 18, 12, 18),
    )
    return Document(
        title=f"Record export — {ex['council_name']} — {ex['scope']}",
        facts=facts,
        tables=[entries],
        notes=[
            (
                "Personal fields are shown as the exporting user's role may see "
                "them ([redacted] otherwise; [erased] once erased)."
            )
        ],
    )
