"""`crm demo`: a guided tour on the embedded default — realistic requests, one walked through
its whole lifecycle, then the work queue, the audit record and the request's history.

The people in it are invented. On a data folder whose council has no staff users, it first
bootstraps its own: an administrator (`demo.admin`) and the officers it acts as; each step is
authorized like any command.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commands import requests as cmds
from commands import users
from commands.access import authorize
from domain.council import Council
from domain.lodgement import Intake
from domain.permissions import ADMINISTRATOR
from domain.values import Actor, Channel, Customer, Location, NoteKind
from infra.cli.common import authorized, council, emit_table, runtime
from infra.runtime import Runtime
from infra.views import read_models_ready
from projections import audit_record, sla_queries, work_queue
from projections.sla import Sla

INTAKES = (
    (
        "pothole",
        Channel.PHONE,
        "Deep pothole in the westbound lane outside the post office",
        Customer(name="Jo Citizen", phone="0400 000 001"),
        "12 Main St, Crookwell NSW",
    ),
    (
        "barking-dog",
        Channel.EMAIL,
        "Dog barking through the night at the rear of number 8",
        Customer(name="Sam Example", email="sam@example.org"),
        "8 Oak Ave, Gunning NSW",
    ),
    (
        "tree-over-road",
        Channel.PHONE,
        "Large tree fallen across both lanes; traffic blocked",
        Customer(name="Alex Sample", phone="0400 000 003"),
        "Goulburn Rd near the bridge",
    ),
    (
        "leaking-water-meter",
        Channel.COUNTER,
        "Water meter leaking at the front boundary",
        Customer(name="Lee Placeholder", address="3 Kiaora St, Taralga NSW"),
        "3 Kiaora St, Taralga NSW",
    ),
    (
        "new-garbage-bin",
        Channel.WEB_PORTAL,
        "New residence needs a red-lid garbage bin",
        Customer(name="Kim Fictional", email="kim@example.org"),
        "44 Hill St, Crookwell NSW",
    ),
)


DEMO_ADMIN = "demo.admin"
DEMO_USERS = (  # id, name, roles, teams
    ("cs.officer", "Casey Service (demo)", ("customer-service",), ()),
    ("o.smith", "Oli Smith (demo)", ("officer",), ("roads",)),
    ("t.lead", "Terry Lead (demo)", ("team-leader",), ("roads",)),
)


def demo_users(args: argparse.Namespace, c: Council, rt: Runtime) -> None:
    """The demo's staff users: bootstrapped on a council with none; otherwise any missing
    are added by the acting user (`--as`), who must be allowed `demo` (administrators)."""
    directory = rt.directory_ports
    known = {u.user_id for u in users.list_users(directory, c.id)}
    missing = [u for u in DEMO_USERS if u[0] not in known]
    if not missing:
        return
    if known:  # a council with staff of its own: only someone allowed the demo adds them
        admin = authorized(args, c, "demo").actor
    else:
        users.bootstrap_administrator(
            users.BootstrapAdministrator(
                council=c.id, user_id=DEMO_ADMIN, name="Demo Administrator"
            ),
            directory,
            c,
        )
        admin = Actor(id=DEMO_ADMIN, role=ADMINISTRATOR)
        _say(f"{c.name}: a demo administrator ({DEMO_ADMIN}) adds the demo's staff users")
    for user_id, name, roles, teams in missing:
        users.add_user(
            users.AddUser(
                council=c.id, user_id=user_id, name=name, roles=roles, teams=teams, actor=admin
            ),
            directory,
            c,
        )
        print(f"  {user_id:11} {', '.join(roles)}" + (f" ({', '.join(teams)})" if teams else ""))


def lodge_demo_requests(c: Council, rt: Runtime, officer: Actor) -> list[str]:
    """Lodges the demo's five requests (invented people) as `officer`; their references."""
    refs = []
    for category, channel, description, customer, address in INTAKES:
        intake = Intake(
            category=category,
            channel=channel,
            description=description,
            customer=customer,
            location=Location(address=address),
        )
        result = cmds.lodge_request(
            cmds.LodgeRequest(council=c.id, intake=intake, actor=officer), rt.ports
        )
        refs.append(result.reference)
        print(f"  {result.reference}  {c.categories[category].name} ({channel.value})")
    return refs


def _say(text: str) -> None:
    print(f"\n== {text}")


def run_demo(args: argparse.Namespace) -> None:
    if not args.council:
        args.council = "upper-lachlan"
    c, rt = council(args), runtime(args)
    demo_users(args, c, rt)

    def act(user_id: str, action: str) -> Actor:
        return authorize(rt.directory_ports, c, user_id, None, action).actor

    ports = rt.ports
    _say(f"{c.name}: a customer service officer lodges five requests")
    refs = lodge_demo_requests(c, rt, act("cs.officer", "lodge"))
    ref = refs[0]
    local = ZoneInfo(c.calendar.timezone)
    until = (rt.clock().astimezone(local) + timedelta(days=21)).date()
    crew = act("o.smith", "acknowledge")
    steps: list[tuple[str, Any]] = [
        (
            "the roads team acknowledges it",
            cmds.AcknowledgeRequest(council=c.id, reference=ref, actor=crew),
        ),
        (
            "the team leader assigns it to o.smith",
            cmds.AssignRequest(
                council=c.id,
                reference=ref,
                actor=act("t.lead", "assign"),
                team="roads",
                officer="o.smith",
            ),
        ),
        (
            "o.smith records the inspection",
            cmds.AddNote(
                council=c.id,
                reference=ref,
                actor=crew,
                text="Inspected: 600 mm wide, 80 mm deep; patching crew booked",
                note_kind=NoteKind.ACTION,
            ),
        ),
        (
            f"asphalt is short: delayed until {until}",
            cmds.DelayRequest(
                council=c.id,
                reference=ref,
                actor=crew,
                reason="Asphalt supply delayed",
                until=until,
            ),
        ),
        (
            "the customer calls again: escalated to the team leader",
            cmds.EscalateRequest(
                council=c.id,
                reference=ref,
                actor=act("cs.officer", "escalate"),
                reason="Customer concerned about the delay",
            ),
        ),
        (
            "the crew patches it and closes the request",
            cmds.CloseRequest(
                council=c.id, reference=ref, actor=crew, outcome="completed", text="Pothole patched"
            ),
        ),
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
        record = audit_record.query(
            conn, audit_record.AuditRecord(), audit_record.AuditFilter(council=c.id, reference=ref)
        )
    _say("open work queues (urgent first, then soonest due)")
    emit_table(
        [_fmt(r, local) for r in queue if r["reference"] in refs],
        ["reference", "team", "urgent", "status", "complete_by"],
    )
    _say(f"the audit record of {ref}")
    emit_table([_fmt(r, local) for r in record], ["version", "occurred_at", "actor_id", "summary"])
    later = rt.clock() + timedelta(days=14)
    with rt.read_engine.connect() as conn:
        f = sla_queries.SlaFilter(council=c.id)
        late = sla_queries.breached(conn, Sla(), f, later) + sla_queries.at_risk(
            conn, Sla(), f, later
        )
    _say(f"the SLA view as it will stand on {later.astimezone(local):%A %d %B} if nothing moves")
    emit_table(
        [r for r in late if r["reference"] in refs],
        ["reference", "state", "breaches", "team", "level", "remaining"],
    )
    crm = f"crm --council {c.id} --as cs.officer"
    print(
        f"\nTry: {crm} history {ref}   |   {crm} queue --team roads"
        f"   |   {crm} sla breached --now {later.isoformat(timespec='seconds')}"
    )


def _fmt(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Instants in the council's own time, as its officers read them."""
    return {
        k: (f"{v.astimezone(zone):%a %d %b %H:%M}" if isinstance(v, datetime) else v)
        for k, v in row.items()
    }


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="a guided demo on the embedded store")
    p.set_defaults(run=run_demo)
