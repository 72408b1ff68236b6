"""`crm demo`: a guided tour on the embedded default — realistic requests, one walked through
its whole lifecycle, then the work queue, the audit record and the request's history.

The people in it are invented.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commands import requests as cmds
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, Location, NoteKind
from infra.cli_common import council, emit_table, runtime
from infra.cli_streaming import read_models_ready
from projections import audit_record, sla_queries, work_queue
from projections.sla import Sla

INTAKES = (
    ("pothole", Channel.PHONE, "Deep pothole in the westbound lane outside the post office",
     Customer(name="Jo Citizen", phone="0400 000 001"), "12 Main St, Crookwell NSW"),
    ("barking-dog", Channel.EMAIL, "Dog barking through the night at the rear of number 8",
     Customer(name="Sam Example", email="sam@example.org"), "8 Oak Ave, Gunning NSW"),
    ("tree-over-road", Channel.PHONE, "Large tree fallen across both lanes; traffic blocked",
     Customer(name="Alex Sample", phone="0400 000 003"), "Goulburn Rd near the bridge"),
    ("leaking-water-meter", Channel.COUNTER, "Water meter leaking at the front boundary",
     Customer(name="Lee Placeholder", address="3 Kiaora St, Taralga NSW"), "3 Kiaora St, Taralga NSW"),
    ("new-garbage-bin", Channel.WEB_PORTAL, "New residence needs a red-lid garbage bin",
     Customer(name="Kim Fictional", email="kim@example.org"), "44 Hill St, Crookwell NSW"),
)


def _say(text: str) -> None:
    print(f"\n== {text}")


def run_demo(args: argparse.Namespace) -> None:
    if not args.council:
        args.council = "upper-lachlan"
    c, rt = council(args), runtime(args)
    officer = Actor(id=args.actor or "cs.officer", role="officer")
    ports = rt.ports
    _say(f"{c.name}: a customer service officer lodges five requests")
    refs = []
    for category, channel, description, customer, address in INTAKES:
        intake = Intake(category=category, channel=channel, description=description,
                        customer=customer, location=Location(address=address))
        result = cmds.lodge_request(cmds.LodgeRequest(council=c.id, intake=intake, actor=officer), ports)
        refs.append(result.reference)
        print(f"  {result.reference}  {c.categories[category].name} ({channel.value})")
    ref = refs[0]
    local = ZoneInfo(c.calendar.timezone)
    until = (rt.clock().astimezone(local) + timedelta(days=21)).date()
    crew = Actor(id="o.smith", role="officer")
    steps: list[tuple[str, Any]] = [
        ("the roads team acknowledges it", cmds.AcknowledgeRequest(council=c.id, reference=ref, actor=crew)),
        ("the team leader assigns it to o.smith", cmds.AssignRequest(
            council=c.id, reference=ref, actor=Actor(id="t.lead", role="team-leader"),
            team="roads", officer="o.smith")),
        ("o.smith records the inspection", cmds.AddNote(
            council=c.id, reference=ref, actor=crew, text="Inspected: 600 mm wide, 80 mm deep; patching crew booked",
            note_kind=NoteKind.ACTION)),
        (f"asphalt is short: delayed until {until}", cmds.DelayRequest(
            council=c.id, reference=ref, actor=crew, reason="Asphalt supply delayed", until=until)),
        ("the customer calls again: escalated to the team leader", cmds.EscalateRequest(
            council=c.id, reference=ref, actor=officer, reason="Customer concerned about the delay")),
        ("the crew patches it and closes the request", cmds.CloseRequest(
            council=c.id, reference=ref, actor=crew, outcome="completed", text="Pothole patched")),
    ]
    _say(f"{ref} walks through its lifecycle")
    for text, cmd in steps:
        cmds.handle(cmd, ports)
        print(f"  {text}")
    try:
        cmds.close_request(steps[-1][1], ports)
    except Exception as refused:  # noqa: BLE001 - the demo shows the refusal's message
        print(f"  a second close is refused: {refused}")
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        queue = work_queue.query(conn, work_queue.WorkQueue(), work_queue.QueueFilter(council=c.id))
        record = audit_record.query(conn, audit_record.AuditRecord(),
                                    audit_record.AuditFilter(council=c.id, reference=ref))
    _say("open work queues (urgent first, then soonest due)")
    emit_table([_fmt(r, local) for r in queue if r["reference"] in refs],
               ["reference", "team", "urgent", "status", "complete_by"])
    _say(f"the audit record of {ref}")
    emit_table([_fmt(r, local) for r in record], ["version", "occurred_at", "actor_id", "summary"])
    later = rt.clock() + timedelta(days=14)
    with rt.read_engine.connect() as conn:
        f = sla_queries.SlaFilter(council=c.id)
        late = sla_queries.breached(conn, Sla(), f, later) + sla_queries.at_risk(conn, Sla(), f, later)
    _say(f"the SLA view as it will stand on {later.astimezone(local):%A %d %B} if nothing moves")
    emit_table([r for r in late if r["reference"] in refs],
               ["reference", "state", "breaches", "team", "level", "remaining"])
    print(f"\nTry: crm --council {c.id} history {ref}   |   crm --council {c.id} queue --team roads"
          f"   |   crm --council {c.id} sla breached --now {later.isoformat(timespec='seconds')}")


def _fmt(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Instants in the council's own time, as its officers read them."""
    return {k: (f"{v.astimezone(zone):%a %d %b %H:%M}" if isinstance(v, datetime) else v)
            for k, v in row.items()}


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="a guided demo on the embedded store")
    p.set_defaults(run=run_demo)
