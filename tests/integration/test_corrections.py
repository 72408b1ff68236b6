"""Corrections on real stores: reopen, recategorise, link duplicates, refer (issue 13).

Upper Lachlan (seed 002; Mon–Fri 08:00–16:30 Sydney): a pothole lodged Monday 2 March 2026
10:00 AEDT is due Monday 30 March 16:30 (20 business days). Its `[corrections]` reopen a
request with 5 business days to complete it and keep a recategorised request's targets; its
`[agencies.*]` are the external contacts "matters outside Council's jurisdiction" are referred
to (seed 002, scope).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from commands import corrections as fix
from commands import requests as cmds
from commands.errors import ConcurrencyConflict
from consumers import operations
from consumers.store_reader import StoreReader
from domain.aggregates.service_request import ServiceRequest
from domain.errors import InvalidCommand
from domain.lodgement import Intake
from domain.values import (
    Actor,
    Channel,
    ContactMethod,
    Customer,
    NoticeKind,
    RequestKind,
    Status,
)
from infra import views
from infra.cli.sla import make_watchdog
from infra.notify import list_outbox
from infra.runtime import Runtime
from infra.views import read_models_ready
from projections import audit_record, registry, request_summary
from projections.sla import Sla
from tests.conftest import add_staff_to
from tests.fakes import FakeClock
from tests.integration.kafka_support import Pipeline

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")
LEADER = Actor(id="tlead", role="team-leader")


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SYDNEY)


def lodge(
    rt: Runtime, category: str = "pothole", who: str = "Ann Lee", email: str = "ann@example.org"
) -> cmds.Result:
    customer = Customer(name=who, email=email, preferred_contact=ContactMethod.EMAIL)
    intake = Intake(
        category=category, channel=Channel.PHONE, description=f"A {category}", customer=customer
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    )


def on(ref: str, actor: Actor = LEADER) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": ref, "actor": actor}


def close(rt: Runtime, ref: str, text: str = "Patched") -> None:
    cmds.close_request(
        cmds.CloseRequest(**on(ref, OFFICER), outcome="completed", text=text), rt.ports
    )


def load(rt: Runtime, result: cmds.Result) -> ServiceRequest:
    return rt.ports.get(result.request_id, result.reference)


def council(rt: Runtime) -> Any:
    return rt.ports.council(COUNCIL)


def queued(rt: Runtime, team: str | None = None) -> dict[str, dict[str, Any]]:
    return {r["reference"]: r for r in views.queue(rt, council(rt), team, None)}


def sla_row(rt: Runtime, ref: str) -> dict[str, Any]:
    read_models_ready(rt)
    t = Sla().table
    with rt.read_engine.connect() as conn:
        return dict(conn.execute(sa.select(t).where(t.c.reference == ref)).one()._mapping)


def summary_of(rt: Runtime, ref: str) -> dict[str, Any]:
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        row = request_summary.by_reference(conn, request_summary.RequestSummary(), COUNCIL, ref)
    assert row is not None
    return row


def audit_of(rt: Runtime, ref: str) -> list[dict[str, Any]]:
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        return audit_record.query(
            conn,
            audit_record.AuditRecord(),
            audit_record.AuditFilter(council=COUNCIL, reference=ref),
        )


def no_drift(rt: Runtime) -> None:
    read_models_ready(rt)
    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, list(registry.READ_MODELS))
    assert [d for d in drifts if not d.ok] == []
    envelopes_decode_as_events_do(rt)


def envelopes_decode_as_events_do(rt: Runtime) -> None:
    """Every stored event's envelope, decoded straight from its stored state (what the relay
    and rebuilds read), equals the one made from the library's domain event."""
    fast, slow = StoreReader(rt.app), StoreReader(rt.app)
    notifications = rt.app.recorder.select_notifications(start=0, limit=100_000)
    assert notifications
    for n in notifications:
        assert fast.envelope(n) == slow.envelope_of_event(n)


# -- reopen ----------------------------------------------------------------------------------


def test_a_reopened_request_re_enters_the_work_queue_and_its_sla(
    sqlite_runtime: Runtime, clock: FakeClock
) -> None:
    """Closed too early on Tuesday 3 March, reopened Wednesday 4 March 11:00: Upper Lachlan
    gives it 5 business days from then — the close of Wednesday 11 March, 16:30 AEDT. It is
    back in the roads queue and, once that passes, breached and escalated by the watchdog."""
    rt = sqlite_runtime
    pothole = lodge(rt)
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(pothole.reference)), rt.ports)
    clock.set(at(3, 3, 9))
    close(rt, pothole.reference)
    make_watchdog(rt).sweep(at(3, 3, 9))  # the customer is told of the closure
    assert pothole.reference not in queued(rt, "roads")
    assert sla_row(rt, pothole.reference)["open"] is False
    closed_then = rt.app.repository.event_store.get(pothole.request_id)  # recorded instants
    closed_recorded = max(e.timestamp for e in closed_then)

    clock.set(at(3, 4, 11))
    fix.handle(
        fix.ReopenRequest(**on(pothole.reference), reason="Pothole opened up again"), rt.ports
    )
    reopened_recorded = max(
        e.timestamp for e in rt.app.repository.event_store.get(pothole.request_id)
    )
    as_at = {  # the queues as they stood: closed, then reopened
        t: [r["reference"] for r in views.queue(rt, council(rt), "roads", None, as_at=t)]
        for t in (closed_recorded, reopened_recorded)
    }
    assert as_at == {closed_recorded: [], reopened_recorded: [pothole.reference]}

    due = at(3, 11, 16, 30)
    row = queued(rt, "roads")[pothole.reference]
    assert (row["status"], datetime.fromisoformat(row["complete_by"])) == ("reopened", due)
    sla = sla_row(rt, pothole.reference)
    assert (sla["open"], sla["closed_at"], sla["outcome"], sla["complete_by"]) == (
        True,
        None,
        None,
        due,
    )
    assert (sla["next_level"], sla["next_level_due"]) == ("team-leader", due)
    breached = views.sla(rt, council(rt), "breached", due + timedelta(minutes=1))
    assert [r["reference"] for r in breached] == [pothole.reference]
    report = make_watchdog(rt).sweep(due)
    assert (COUNCIL, pothole.reference, "team-leader") in report.escalated

    request = load(rt, pothole)
    assert (request.status, request.reopen_count, request.complete_by) == (Status.OPEN, 1, due)
    assert summary_of(rt, pothole.reference)["reopens"] == 1
    entry = [e for e in audit_of(rt, pothole.reference) if e["event_type"] == "Reopened"]
    assert entry[0]["summary"] == "Reopened (was completed): Pothole opened up again"
    assert (entry[0]["actor_id"], entry[0]["actor_role"]) == ("tlead", "team-leader")

    clock.set(at(3, 12, 9))
    close(rt, pothole.reference, "Patched properly")  # closes again, told again
    make_watchdog(rt).sweep(at(3, 12, 9))
    closures = [
        n
        for n in list_outbox(rt.write_engine, COUNCIL, pothole.reference)
        if n["notice"] == "closure"
    ]
    assert len(closures) == 2


def test_only_a_closed_request_reopens_and_never_a_duplicate(sqlite_runtime: Runtime) -> None:
    rt = sqlite_runtime
    first, second = lodge(rt), lodge(rt)
    with pytest.raises(InvalidCommand, match="is open: nothing to reopen"):
        fix.handle(fix.ReopenRequest(**on(first.reference), reason="Why not"), rt.ports)
    fix.handle(fix.LinkDuplicate(**on(second.reference), original=first.reference), rt.ports)
    with pytest.raises(InvalidCommand, match=f"reopen {first.reference} instead"):
        fix.handle(fix.ReopenRequest(**on(second.reference), reason="Again"), rt.ports)
    close(rt, first.reference)
    with pytest.raises(InvalidCommand, match="reason for reopening must not be empty"):
        fix.handle(fix.ReopenRequest(**on(first.reference), reason="  "), rt.ports)
    assert load(rt, first).status is Status.CLOSED


# -- recategorise ----------------------------------------------------------------------------


def test_recategorising_routes_to_the_new_team_and_keeps_the_targets_upper_lachlan_keeps(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    add_staff_to(rt, COUNCIL, {"o.smith": ["officer"]}, {"o.smith": ["roads"]})
    pothole = lodge(rt)
    cmds.assign_request(
        cmds.AssignRequest(**on(pothole.reference), team="roads", officer="o.smith"), rt.ports
    )
    fix.handle(
        fix.RecategoriseRequest(
            **on(pothole.reference),
            category="overhanging-tree",
            reason="A fallen branch, not a pothole",
        ),
        rt.ports,
    )

    request = load(rt, pothole)
    assert (request.category, request.team, request.officer) == ("overhanging-tree", "parks", None)
    assert request.complete_by == at(3, 30, 16, 30)  # the pothole's 20 days, kept
    assert request.standard is not None and request.standard.complete_days == 20
    assert request.standard.category_name == "Overhanging or damaged tree"
    assert pothole.reference in queued(rt, "parks")
    assert pothole.reference not in queued(rt, "roads")
    stats = views.enquiry_stats(rt, council(rt), "type", at(3, 2).date(), at(3, 2).date())
    assert [(r["type"], r["requests"]) for r in stats] == [("overhanging-tree", 1)]
    sla = sla_row(rt, pothole.reference)
    assert (sla["category"], sla["team"], sla["complete_by"]) == (
        "overhanging-tree",
        "parks",
        at(3, 30, 16, 30),
    )
    summary = [
        e["summary"] for e in audit_of(rt, pothole.reference) if e["event_type"] == "Recategorised"
    ]
    assert summary == [
        (
            "Recategorised pothole → overhanging-tree, routed to parks (keep "
            "targets): A fallen branch, not a pothole"
        )
    ]
    with pytest.raises(KeyError, match="unknown category 'volcano'"):
        fix.handle(
            fix.RecategoriseRequest(**on(pothole.reference), category="volcano", reason="?"),
            rt.ports,
        )
    with pytest.raises(InvalidCommand, match="already in category overhanging-tree"):
        fix.handle(
            fix.RecategoriseRequest(
                **on(pothole.reference), category="overhanging-tree", reason="?"
            ),
            rt.ports,
        )


# -- duplicates ------------------------------------------------------------------------------


def test_ten_linked_duplicates_count_as_one_hazard_and_each_customer_is_told_at_closure(
    sqlite_runtime: Runtime, clock: FakeClock
) -> None:
    """Eleven residents report the same fallen tree; ten reports are linked to the first. The
    KPIs count 11 lodged, 10 duplicates, 1 distinct hazard; `closed` still counts every
    request. When the first is closed, each duplicate's customer is told (seed 002: the
    customer is told the outcome)."""
    rt = sqlite_runtime
    original = lodge(rt, "tree-over-road")
    duplicates = [
        lodge(rt, "tree-over-road", who=f"Resident {i}", email=f"resident{i}@example.org")
        for i in range(10)
    ]
    for d in duplicates:
        fix.handle(fix.LinkDuplicate(**on(d.reference), original=original.reference), rt.ports)

    assert load(rt, original).duplicates == tuple(d.reference for d in duplicates)
    assert list(queued(rt)) == [original.reference]
    figures = views.kpis(
        rt, council(rt), "category", at(3, 1).date(), at(3, 31).date(), at(3, 2, 12)
    ).total
    assert (
        figures["lodged"],
        figures["duplicates"],
        figures["distinct_hazards"],
        figures["closed"],
    ) == (11, 10, 1, 10)
    make_watchdog(rt).sweep(at(3, 2, 11))  # the duplicates' own closure notices
    assert summary_of(rt, original.reference)["duplicates"] == 10

    clock.set(at(3, 2, 15))
    close(rt, original.reference, "Tree removed")
    report = make_watchdog(rt).sweep(at(3, 2, 15))

    told = [(ref, kind) for _, ref, kind in report.notices if kind == "original-closed"]
    assert sorted(told) == sorted((d.reference, "original-closed") for d in duplicates)
    for i, d in enumerate(duplicates):
        rows = [
            n
            for n in list_outbox(rt.write_engine, COUNCIL, d.reference)
            if n["notice"] == "original-closed"
        ]
        assert len(rows) == 1
        assert original.reference in rows[0]["text"] and "Outcome: Completed" in rows[0]["text"]
        sent = [
            e
            for e in rt.app.repository.event_store.get(d.request_id)
            if type(e).__name__ == "NoticeSent" and e.notice is NoticeKind.ORIGINAL_CLOSED
        ]
        assert len(sent) == 1
    assert make_watchdog(rt).sweep(at(3, 2, 16)).notices == []  # told once
    figures = views.kpis(
        rt, council(rt), "day", at(3, 1).date(), at(3, 31).date(), at(3, 3, 12)
    ).total
    assert (figures["closed"], figures["completed_within_target"], figures["distinct_hazards"]) == (
        11,
        11,
        1,
    )
    linked = [
        e["summary"]
        for e in audit_of(rt, duplicates[0].reference)
        if e["event_type"] == "LinkedAsDuplicate"
    ]
    assert linked == [
        (f"Closed as a duplicate of {original.reference}: the same problem as an earlier request")
    ]
    attached = [
        e["summary"]
        for e in audit_of(rt, original.reference)
        if e["event_type"] == "DuplicateAttached"
    ]
    assert attached[0] == f"Linked {duplicates[0].reference} as a duplicate of this request"


def test_a_duplicate_linked_to_a_closed_request_is_told_at_once(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    original, late = lodge(rt), lodge(rt, who="Bo Chen", email="bo@example.org")
    close(rt, original.reference)
    fix.handle(fix.LinkDuplicate(**on(late.reference), original=original.reference), rt.ports)
    make_watchdog(rt).sweep(at(3, 2, 12))
    kinds = sorted(n["notice"] for n in list_outbox(rt.write_engine, COUNCIL, late.reference))
    assert kinds == ["closure", "original-closed"]


def test_links_that_make_no_sense_are_refused_and_change_nothing(sqlite_runtime: Runtime) -> None:
    rt = sqlite_runtime
    a, b, c = lodge(rt), lodge(rt), lodge(rt)
    with pytest.raises(InvalidCommand, match="cannot duplicate itself"):
        fix.handle(fix.LinkDuplicate(**on(a.reference), original=a.reference), rt.ports)
    fix.handle(fix.LinkDuplicate(**on(b.reference), original=a.reference), rt.ports)
    with pytest.raises(InvalidCommand, match=f"itself a duplicate of {a.reference}"):
        fix.handle(fix.LinkDuplicate(**on(c.reference), original=b.reference), rt.ports)
    with pytest.raises(InvalidCommand, match="has duplicates of its own"):
        fix.handle(fix.LinkDuplicate(**on(a.reference), original=c.reference), rt.ports)
    assert (load(rt, a).version, load(rt, c).version) == (2, 1)


def test_a_link_saves_both_requests_or_neither(sqlite_runtime: Runtime) -> None:
    """The duplicate's closure and the original's record of it are one commit: when the
    original changed meanwhile, the duplicate is not closed either."""
    rt = sqlite_runtime
    original, duplicate = lodge(rt), lodge(rt)
    stale_original = load(rt, original)
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(original.reference)), rt.ports)
    dup = load(rt, duplicate)
    dup.link_duplicate_of(
        stale_original, reason="same", outcome="duplicate", occurred_at=at(3, 2, 11), actor=LEADER
    )
    with pytest.raises(ConcurrencyConflict):
        rt.ports.save(dup, stale_original)
    assert load(rt, duplicate).status is Status.OPEN
    assert load(rt, original).duplicates == ()


# -- refer -----------------------------------------------------------------------------------


def test_a_referred_request_closes_and_its_customer_is_told_who_now_handles_it(
    sqlite_runtime: Runtime,
) -> None:
    """Seed 002: matters outside Council's jurisdiction are referred to the appropriate
    external contact — here a water main of the state's, to WaterNSW."""
    rt = sqlite_runtime
    main = lodge(rt, "water-main-break")
    fix.handle(
        fix.ReferRequest(**on(main.reference), agency="waternsw", reason="A WaterNSW bulk main"),
        rt.ports,
    )
    request = load(rt, main)
    assert (request.status, request.outcome, request.referred_to) == (
        Status.CLOSED,
        "referred",
        "waternsw",
    )
    assert main.reference not in queued(rt)
    assert summary_of(rt, main.reference)["referred_to"] == "waternsw"

    make_watchdog(rt).sweep(at(3, 2, 12))
    notices = list_outbox(rt.write_engine, COUNCIL, main.reference)
    referral = [n for n in notices if n["notice"] == "referral"]
    assert len(referral) == 1
    assert (
        "WaterNSW" in referral[0]["text"] and "https://www.waternsw.com.au" in referral[0]["text"]
    )
    summary = [e["summary"] for e in audit_of(rt, main.reference) if e["event_type"] == "Referred"]
    assert summary == ["Referred to WaterNSW (https://www.waternsw.com.au): A WaterNSW bulk main"]
    with pytest.raises(KeyError, match="unknown agency 'nasa'"):
        fix.handle(fix.ReferRequest(**on(lodge(rt).reference), agency="nasa", reason="?"), rt.ports)


# -- every read model equals its rebuild -----------------------------------------------------


def test_every_read_model_equals_its_rebuild_after_every_correction(
    any_runtime: Runtime, clock: FakeClock
) -> None:
    rt = any_runtime
    a, b, c, d = lodge(rt), lodge(rt), lodge(rt), lodge(rt, "water-main-break")
    fix.handle(fix.LinkDuplicate(**on(b.reference), original=a.reference), rt.ports)
    complaint = cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            actor=OFFICER,
            intake=Intake(
                category="pothole",
                channel=Channel.PHONE,
                description="Nobody came",
                kind=RequestKind.COMPLAINT,
                customer=Customer(
                    name="Cy Dale", email="cy@example.org", preferred_contact=ContactMethod.EMAIL
                ),
            ),
        ),
        rt.ports,
    )
    fix.handle(
        fix.RecategoriseRequest(
            **on(complaint.reference), category="road-damage", reason="About the shoulder works"
        ),
        rt.ports,
    )
    fix.handle(
        fix.ReferRequest(
            **on(complaint.reference), agency="transport-nsw", reason="Their contractor"
        ),
        rt.ports,
    )
    fix.handle(
        fix.RecategoriseRequest(**on(c.reference), category="road-damage", reason="The shoulder"),
        rt.ports,
    )
    fix.handle(
        fix.ReferRequest(**on(d.reference), agency="transport-nsw", reason="State road"), rt.ports
    )
    clock.advance(hours=2)
    close(rt, a.reference)
    make_watchdog(rt).sweep(clock())
    clock.advance(hours=1)
    fix.handle(fix.ReopenRequest(**on(a.reference), reason="Not fixed"), rt.ports)
    fix.handle(fix.ReopenRequest(**on(d.reference), reason="Transport says it is ours"), rt.ports)

    no_drift(rt)
    assert {r for r in queued(rt)} == {a.reference, c.reference, d.reference}
    types = {
        e["event_type"]: e["summary"] for ref in (a, b, c, d) for e in audit_of(rt, ref.reference)
    }
    for kind in ("Reopened", "Recategorised", "LinkedAsDuplicate", "DuplicateAttached", "Referred"):
        assert types[kind] and types[kind] != kind


def test_the_corrections_reach_every_read_model_on_the_kafka_path(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    a, b, c, d = lodge(rt), lodge(rt), lodge(rt), lodge(rt, "water-main-break")
    fix.handle(fix.LinkDuplicate(**on(b.reference), original=a.reference), rt.ports)
    fix.handle(
        fix.RecategoriseRequest(**on(c.reference), category="road-damage", reason="Shoulder"),
        rt.ports,
    )
    fix.handle(fix.ReferRequest(**on(d.reference), agency="waternsw", reason="Bulk main"), rt.ports)
    clock.advance(hours=1)
    close(rt, a.reference)
    clock.advance(hours=1)
    fix.handle(fix.ReopenRequest(**on(a.reference), reason="Not fixed"), rt.ports)
    with pipeline.worker(rt):
        pipeline.verify()
        with rt.read_engine.connect() as conn:
            row = request_summary.by_reference(
                conn, request_summary.RequestSummary(), COUNCIL, b.reference
            )
    assert row is not None and (row["status"], row["duplicate_of"]) == ("closed", a.reference)
