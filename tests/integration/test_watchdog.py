"""The SLA watchdog on real stores, moved by a fake clock (never a sleep).

Hand-computed instants, Upper Lachlan (NSW, Mon–Fri 08:00–16:30, chain officer → team-leader at
the breach → manager +5 business days → director +10 → general manager +20). A pothole (20
business days) lodged Monday 2 March 2026 10:00 AEDT is due Monday 30 March 16:30 AEDT. Then:
Good Friday 3 April and Easter Monday 6 April are holidays and daylight saving ends on Sunday
5 April (AEDT +11 → AEST +10), so the manager is due Wednesday 8 April 16:30 AEST, the
director Wednesday 15 April 16:30 AEST, and — Anzac Day falling on Saturday 25 April, NSW
observes it on Monday 27 April — the general manager Thursday 30 April 16:30 AEST. Not
acknowledged within 5 business days (Monday 9 March 16:30), it goes to the team leader at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from commands import requests as cmds
from commands import users
from commands.alerts import AlertRefused, TakeAlert, take_alert
from commands.notices import Notice
from consumers import operations
from consumers.store_reader import StoreReader
from consumers.watchdog import SYSTEM_ACTOR, SweepReport, Watchdog
from domain.aggregates.service_request import ServiceRequest
from domain.errors import InvalidCommand
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, ContactMethod, Customer, NoteKind
from infra.alerts import STAFF_ALERTS
from infra.cli.sla import make_watchdog
from infra.config import load_council
from infra.notify import list_outbox
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT, Settings
from infra.views import read_models_ready
from projections import audit_record, registry, sla_queries
from projections.sla import Sla
from tests.fakes import FakeClock, sealed

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")
ANN = Customer(name="Ann Lee", email="ann@example.org", preferred_contact=ContactMethod.EMAIL)
US = timedelta(microseconds=1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SYDNEY)


LODGED = at(2026, 3, 2, 10, 0)
COMPLETE_BY = at(2026, 3, 30, 16, 30)  # AEDT
CHAIN_DUE = [
    ("team-leader", COMPLETE_BY),
    ("manager", at(2026, 4, 8, 16, 30)),  # AEST, after Easter
    ("director", at(2026, 4, 15, 16, 30)),
    ("general-manager", at(2026, 4, 30, 16, 30)),  # after the Anzac Day Monday
]
# The close of the 15th business day after Monday 2 March (the targets' rule); then every 15
# business days after the previous notice: sent at 16:30 on 23 March (day 0 is Tuesday 24), the
# next closes Thursday 16 April (Easter skipped).
PROGRESS_DUE = at(2026, 3, 23, 16, 30)
NEXT_PROGRESS_DUE = at(2026, 4, 16, 16, 30)


# -- givens ----------------------------------------------------------------------------------


def lodge(
    rt: Runtime, category: str = "pothole", council: str = COUNCIL, **intake: Any
) -> cmds.Result:
    fields: dict[str, Any] = {"customer": ANN, "channel": Channel.PHONE}
    fields.update(intake)
    cmd = cmds.LodgeRequest(
        council=council,
        actor=OFFICER,
        intake=Intake(category=category, description=f"A {category}", **fields),
    )
    return cmds.lodge_request(cmd, rt.ports)


def acknowledged(rt: Runtime, result: cmds.Result, council: str = COUNCIL) -> cmds.Result:
    """The request acknowledged now (in time): only its completion target can escalate it."""
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(result.reference, council)), rt.ports)
    return result


def on(ref: str, council: str = COUNCIL) -> dict[str, Any]:
    return {"council": council, "reference": ref, "actor": OFFICER}


def events(rt: Runtime, result: cmds.Result, kind: str) -> list[Any]:
    return [
        e for e in rt.app.repository.event_store.get(result.request_id) if type(e).__name__ == kind
    ]


def levels(rt: Runtime, result: cmds.Result) -> list[str]:
    return [e.level for e in events(rt, result, "Escalated")]


def sla_row(rt: Runtime, result: cmds.Result) -> dict[str, Any]:
    read_models_ready(rt)
    t = Sla().table
    with rt.read_engine.connect() as conn:
        return dict(
            conn.execute(sa.select(t).where(t.c.request_id == str(result.request_id)))
            .one()
            ._mapping
        )


def escalated(report: SweepReport) -> list[str]:
    return [f"{ref} {level}" for _, ref, level in report.escalated]


# -- escalation ------------------------------------------------------------------------------


def test_a_breached_request_climbs_the_chain_each_level_at_its_business_instant(
    any_runtime: Runtime,
) -> None:
    rt = any_runtime
    pothole = acknowledged(rt, lodge(rt))
    dog = make_watchdog(rt)
    row = sla_row(rt, pothole)
    assert row["complete_by"] == COMPLETE_BY
    assert row["at_risk_from"] == at(2026, 3, 24, 15, 12)  # 80% of 176.5 business hours
    assert row["acknowledge_by"] == at(2026, 3, 9, 16, 30)
    assert (row["next_level"], row["next_level_due"]) == ("team-leader", COMPLETE_BY)

    for level, due in CHAIN_DUE:
        assert escalated(dog.sweep(due - US)) == []
        assert escalated(dog.sweep(due)) == [f"{pothole.reference} {level}"]
    assert escalated(dog.sweep(at(2027, 6, 1, 12, 0))) == []

    recorded = events(rt, pothole, "Escalated")
    assert [(e.level, e.occurred_at) for e in recorded] == CHAIN_DUE
    assert {e.actor for e in recorded} == {SYSTEM_ACTOR}
    assert "completion target" in recorded[0].reason
    assert [(e.standard, e.due) for e in recorded] == [("completion", COMPLETE_BY)] + [
        ("completion", due) for _, due in CHAIN_DUE[1:]
    ]
    assert sla_row(rt, pothole)["next_level"] is None


def test_a_request_never_acknowledged_escalates_for_that_then_for_its_completion_once_each(
    any_runtime: Runtime,
    clock: FakeClock,
) -> None:
    """Seed 002 (Upper Lachlan): "proactive escalations will be enforced when service standards
    are not met". Lodged Friday 6 March 2026 at 17:00 (after hours: day 0 is Monday 9 March),
    never acknowledged: the 5th business day closes Monday 16 March 16:30 AEDT — the team leader
    then, one level. The 20th closes Wednesday 8 April 16:30 AEST (Good Friday and Easter Monday
    skipped, the clocks gone back); the completion ladder goes on from the team leader: the
    manager 5 business days later, Wednesday 15 April 16:30 AEST."""
    rt = any_runtime
    clock.set(at(2026, 3, 6, 17, 0))
    pothole = lodge(rt)
    dog = make_watchdog(rt)
    ack_due, complete_due = at(2026, 3, 16, 16, 30), at(2026, 4, 8, 16, 30)
    manager_due = at(2026, 4, 15, 16, 30)

    assert escalated(dog.sweep(ack_due - US)) == []
    assert escalated(dog.sweep(ack_due)) == [f"{pothole.reference} team-leader"]
    assert escalated(dog.sweep(ack_due + timedelta(hours=1))) == []
    assert sla_row(rt, pothole)["complete_by"] == complete_due
    assert escalated(dog.sweep(manager_due - US)) == []
    assert escalated(dog.sweep(manager_due)) == [f"{pothole.reference} manager"]
    assert escalated(dog.sweep(manager_due)) == []

    recorded = events(rt, pothole, "Escalated")
    assert [(e.level, e.standard, e.due, e.occurred_at) for e in recorded] == [
        ("team-leader", "acknowledgement", ack_due, ack_due),
        ("manager", "completion", manager_due, manager_due),
    ]
    assert "acknowledgement standard missed" in recorded[0].reason


def test_sweeping_twice_and_with_a_second_watchdog_escalates_once(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    pothole = lodge(rt)
    first, second = make_watchdog(rt), make_watchdog(rt)

    reports = [first.sweep(COMPLETE_BY), first.sweep(COMPLETE_BY), second.sweep(COMPLETE_BY)]

    assert [len(r.escalated) for r in reports] == [1, 0, 0]
    assert levels(rt, pothole) == ["team-leader"]


def staff(rt: Runtime, people: dict[str, tuple[str, ...]]) -> None:
    """Given these staff users of Upper Lachlan (id → roles), each with a work e-mail."""
    c = load_council(PROJECT_ROOT / "config", COUNCIL)
    users.bootstrap_administrator(
        users.BootstrapAdministrator(council=COUNCIL, user_id="admin", name="Ada Admin"),
        rt.directory_ports,
        c,
    )
    admin = Actor(id="admin", role="administrator")
    for user_id, roles in people.items():
        users.add_user(
            users.AddUser(
                council=COUNCIL,
                user_id=user_id,
                name=user_id.title(),
                roles=roles,
                teams=(),
                email=f"{user_id}@council.example",
                actor=admin,
            ),
            rt.directory_ports,
            c,
        )


def test_an_urgent_request_is_escalated_and_its_role_alerted_at_lodgement_before_any_sweep(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    """Seed 002 step 7: a tree over a road needs immediate contact with the supervisor (Upper
    Lachlan's urgent role: the team leader)."""
    rt = sqlite_runtime
    staff(rt, {"tlee": ("team-leader",), "kwong": ("team-leader",), "jsmith": ("officer",)})

    tree = lodge(rt, "tree-over-road")

    [event] = events(rt, tree, "Escalated")
    assert (event.level, event.standard, event.occurred_at) == ("team-leader", "urgent", LODGED)
    [alert] = rt.alerts.listed(COUNCIL)
    assert (alert["reference"], alert["role"], alert["status"]) == (
        tree.reference,
        "team-leader",
        "open",
    )
    assert alert["recipients"] == ["tlee", "kwong"]
    assert alert["emails"] == ["tlee@council.example", "kwong@council.example"]
    assert alert["take_by"] == LODGED + timedelta(minutes=30)  # Upper Lachlan's time to take it
    # the sweep has nothing more to do for it; the ordinary chain continues: the manager
    # 5 business days after Tuesday's breach
    clock.advance(minutes=3)
    report = make_watchdog(rt).sweep(clock())
    assert escalated(report) == [] and report.alerted == []
    assert len(rt.alerts.listed(COUNCIL, open_only=False)) == 1
    row = sla_row(rt, tree)
    assert (row["next_level"], row["next_level_due"]) == ("manager", at(2026, 3, 10, 16, 30))


def test_an_urgent_alert_not_taken_in_time_goes_to_the_next_role_and_a_taken_one_stays(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    staff(rt, {"tlee": ("team-leader",), "mgray": ("manager",)})
    tree = lodge(rt, "tree-over-road")
    main = lodge(rt, "water-main-break")
    [tree_alert, main_alert] = rt.alerts.listed(COUNCIL)
    rt.alerts.take(
        COUNCIL,
        main_alert["id"],
        Actor(id="tlee", role="team-leader"),
        LODGED + timedelta(minutes=5),
    )
    dog = make_watchdog(rt)

    assert dog.sweep(LODGED + timedelta(minutes=29)).alerted == []
    report = dog.sweep(LODGED + timedelta(minutes=30))
    assert report.alerted == [(COUNCIL, tree.reference, "manager")]
    assert dog.sweep(LODGED + timedelta(minutes=31)).alerted == []

    by_status = {
        (a["reference"], a["role"]): a["status"] for a in rt.alerts.listed(COUNCIL, open_only=False)
    }
    assert by_status == {
        (tree.reference, "team-leader"): "passed-on",
        (tree.reference, "manager"): "open",
        (main.reference, "team-leader"): "taken",
    }
    [manager] = rt.alerts.listed(COUNCIL, "manager")
    assert manager["recipients"] == ["mgray"]
    with pytest.raises(AlertRefused, match="passed-on already"):
        rt.alerts.take(
            COUNCIL,
            tree_alert["id"],
            Actor(id="tlee", role="team-leader"),
            LODGED + timedelta(minutes=40),
        )


def test_taking_an_alert_is_recorded_on_its_request_once_and_shows_in_the_audit_record(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    staff(rt, {"tlee": ("team-leader",)})
    tree = lodge(rt, "tree-over-road")
    [escalation] = events(rt, tree, "Escalated")
    [alert] = rt.alerts.listed(COUNCIL)
    clock.advance(minutes=7)
    tlee = Actor(id="tlee", role="team-leader")

    row = take_alert(
        TakeAlert(council=COUNCIL, alert_id=alert["id"], actor=tlee), rt.ports, rt.alerts
    )

    assert (row["status"], row["taken_by"], row["taken_at"]) == ("taken", "tlee", clock())
    [taken] = events(rt, tree, "AlertTaken")
    assert (taken.alert, taken.role, taken.about_version) == (
        alert["id"],
        "team-leader",
        escalation.originator_version,
    )
    assert (taken.actor, taken.occurred_at) == (tlee, clock())
    with pytest.raises(AlertRefused, match="taken already"):
        take_alert(
            TakeAlert(council=COUNCIL, alert_id=alert["id"], actor=tlee), rt.ports, rt.alerts
        )
    assert len(events(rt, tree, "AlertTaken")) == 1
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        entries = audit_record.query(
            conn,
            audit_record.AuditRecord(),
            audit_record.AuditFilter(council=COUNCIL, reference=tree.reference),
        )
    assert (entries[-1]["event_type"], entries[-1]["actor_id"], entries[-1]["summary"]) == (
        "AlertTaken",
        "tlee",
        (
            f"Took staff alert {alert['id']} to team-leader about the urgent escalation "
            f"(version {escalation.originator_version})"
        ),
    )
    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, list(registry.READ_MODELS))
    assert [d for d in drifts if not d.ok] == []


def test_an_alert_taken_on_the_board_whose_event_was_lost_is_recorded_when_its_taker_acks_again(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    staff(rt, {"tlee": ("team-leader",), "kwong": ("team-leader",)})
    tree = lodge(rt, "tree-over-road")
    [alert] = rt.alerts.listed(COUNCIL)
    tlee = Actor(id="tlee", role="team-leader")
    took_at = clock() + timedelta(minutes=4)
    rt.alerts.take(COUNCIL, alert["id"], tlee, took_at)  # the process stopped here
    assert events(rt, tree, "AlertTaken") == []
    clock.advance(minutes=9)

    with pytest.raises(AlertRefused, match="taken already \\(by tlee\\)"):
        take_alert(
            TakeAlert(
                council=COUNCIL, alert_id=alert["id"], actor=Actor(id="kwong", role="team-leader")
            ),
            rt.ports,
            rt.alerts,
        )
    take_alert(TakeAlert(council=COUNCIL, alert_id=alert["id"], actor=tlee), rt.ports, rt.alerts)

    [taken] = events(rt, tree, "AlertTaken")
    assert (taken.actor, taken.occurred_at) == (tlee, took_at)  # as the board had it


def test_an_alert_is_taken_only_about_an_urgent_escalation_of_its_request(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    pothole = lodge(rt)
    request = rt.ports.get(pothole.request_id, pothole.reference)
    with pytest.raises(InvalidCommand, match="no urgent escalation at version 1"):
        request.take_alert(
            alert=1,
            role="team-leader",
            about_version=1,
            occurred_at=LODGED,
            actor=Actor(id="tlee", role="team-leader"),
        )


def test_an_alert_lost_between_the_save_and_the_board_is_raised_by_the_next_sweep(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    staff(rt, {"tlee": ("team-leader",)})
    tree = lodge(rt, "tree-over-road")
    with rt.write_engine.begin() as conn:  # as if the process died before raising it
        conn.execute(sa.delete(STAFF_ALERTS))

    make_watchdog(rt).sweep(LODGED + timedelta(minutes=1))

    [alert] = rt.alerts.listed(COUNCIL)
    assert (alert["reference"], alert["role"], alert["raised_at"]) == (
        tree.reference,
        "team-leader",
        LODGED,
    )


def test_a_discretionary_request_goes_to_the_director_when_its_agreed_date_is_missed(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    agreed = acknowledged(rt, lodge(rt, agreed_completion=date(2026, 3, 13)))
    breach = at(2026, 3, 13, 16, 30)

    assert escalated(make_watchdog(rt).sweep(breach)) == [f"{agreed.reference} director"]
    assert "agreed completion date" in events(rt, agreed, "Escalated")[0].reason


@pytest.mark.postgres
def test_two_watchdogs_at_once_escalate_each_level_once(
    pg_runtime: Runtime,
    clock: FakeClock,
) -> None:
    potholes = [lodge(pg_runtime) for _ in range(6)]
    other = Runtime(pg_runtime.settings, clock=clock)
    try:
        dogs = [make_watchdog(pg_runtime), make_watchdog(other)]
        dogs[0].sweep(LODGED)  # tables, checkpoint: nothing is due yet
        barrier = threading.Barrier(2)
        reports: list[SweepReport] = []
        failures: list[BaseException] = []

        def run(dog: Watchdog) -> None:
            try:
                barrier.wait(timeout=30)
                reports.append(dog.sweep(at(2026, 4, 16, 12, 0)))  # director due, GM not yet
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=run, args=(d,)) for d in dogs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        other.close()

    assert failures == []
    for p in potholes:
        assert levels(pg_runtime, p) == ["team-leader", "manager", "director"]
        assert len(events(pg_runtime, p, "NoticeSent")) == 1  # the progress notice
    assert sum(len(r.escalated) for r in reports) == 3 * len(potholes)


# -- the progress notice ---------------------------------------------------------------------


def test_the_progress_notice_is_sent_once_every_fifteen_working_days(
    any_runtime: Runtime,
) -> None:
    rt = any_runtime
    pothole = lodge(rt)
    silent = lodge(rt, customer=Customer(name="Bo", phone="0400 000 000"))  # no contact method
    dog = make_watchdog(rt)

    assert dog.sweep(PROGRESS_DUE - US).notices == []
    assert dog.sweep(PROGRESS_DUE).notices == [(COUNCIL, pothole.reference, "progress")]
    assert dog.sweep(PROGRESS_DUE + timedelta(days=3)).notices == []
    assert dog.sweep(NEXT_PROGRESS_DUE - US).notices == []
    assert dog.sweep(NEXT_PROGRESS_DUE).notices == [(COUNCIL, pothole.reference, "progress")]
    assert dog.sweep(NEXT_PROGRESS_DUE).notices == []

    sent, again = events(rt, pothole, "NoticeSent")
    assert again.occurred_at == NEXT_PROGRESS_DUE
    assert sent.occurred_at == PROGRESS_DUE and sent.text.count(pothole.reference) >= 1
    assert events(rt, silent, "NoticeSent") == []
    assert sla_row(rt, silent)["progress_notice_due"] is None  # never due: nobody to tell
    outbox = list_outbox(rt.write_engine, COUNCIL)
    opener = rt.vault.opener()
    assert [(r["reference"], r["notice"], opener.open(r["recipient"])) for r in outbox] == [
        (pothole.reference, "progress", "ann@example.org")
    ] * 2
    assert "ann@example.org" not in str(outbox)  # the outbox keeps it sealed


# -- the paused clock ------------------------------------------------------------------------


def test_a_paused_clock_does_not_breach_and_resumes_with_the_time_that_was_left(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    pothole = acknowledged(rt, lodge(rt))
    clock.set(at(2026, 3, 4, 10, 0))
    cmds.delay_request(
        cmds.DelayRequest(
            **on(pothole.reference),
            reason="Need photos",
            until=date(2026, 3, 20),
            awaiting_customer=True,
        ),
        rt.ports,
    )
    dog = make_watchdog(rt)

    report = dog.sweep(at(2026, 4, 20, 12, 0))  # far past the delay's date

    assert report.escalated == []
    assert (COUNCIL, pothole.reference, "delay") in report.notices  # a notice does not resume
    with rt.read_engine.connect() as conn:
        f = sla_queries.SlaFilter(council=COUNCIL)
        assert sla_queries.breached(conn, Sla(), f, at(2026, 4, 20, 12, 0)) == []
        state = sla_queries.state_at(sla_row(rt, pothole), at(2026, 4, 20, 12, 0))
    assert state.state == "paused"
    # left when paused: Wed 4 March 10:00 → Fri 20 March 16:30 = 12 days and 6.5 hours
    assert state.remaining == timedelta(hours=12 * 8.5 + 6.5)

    clock.set(at(2026, 4, 22, 10, 0))
    cmds.add_note(
        cmds.AddNote(**on(pothole.reference), text="Photos received", note_kind=NoteKind.INCOMING),
        rt.ports,
    )

    # 12 whole business days were left (day 0 Wednesday 4 March: 5, 6, 9-13, 16-20); from
    # Wednesday 22 April (day 0), the 12th closes Monday 11 May (Anzac Monday 27 April skipped)
    resumed = at(2026, 5, 11, 16, 30)
    row = sla_row(rt, pothole)
    assert (row["paused_at"], row["complete_by"]) == (None, resumed)
    assert dog.sweep(resumed - US).escalated == []
    assert escalated(dog.sweep(resumed)) == [f"{pothole.reference} team-leader"]


def test_a_plain_delay_after_a_customer_pause_restarts_the_clock(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    pothole = acknowledged(rt, lodge(rt))
    clock.set(at(2026, 3, 4, 10, 0))
    cmds.delay_request(
        cmds.DelayRequest(
            **on(pothole.reference),
            reason="Need photos",
            until=date(2026, 3, 20),
            awaiting_customer=True,
        ),
        rt.ports,
    )
    clock.set(at(2026, 4, 22, 10, 0))
    cmds.delay_request(
        cmds.DelayRequest(**on(pothole.reference), reason="Crew booked", until=date(2026, 5, 29)),
        rt.ports,
    )

    row = sla_row(rt, pothole)
    assert (row["paused_at"], row["complete_by"]) == (None, at(2026, 5, 29, 16, 30))
    assert escalated(make_watchdog(rt).sweep(at(2026, 5, 29, 16, 30))) == [
        f"{pothole.reference} team-leader"
    ]


def test_where_a_delay_does_not_move_the_due_date_the_pause_still_counts(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    """Canterbury (09:00–17:00): delays keep the due instant, customer pauses stop the clock.
    A pothole (10 business days) lodged Monday 2 March 10:00 is due Monday 16 March 17:00;
    paused Wednesday 4 March 10:00 with 7 h + 8 days left, resumed Wednesday 11 March 10:00,
    it is due Monday 23 March 17:00 — and a later delay keeps that, not the lodged due."""
    rt, council = sqlite_runtime, "canterbury"
    pothole = lodge(rt, council=council)
    clock.set(at(2026, 3, 4, 10, 0))
    cmds.delay_request(
        cmds.DelayRequest(
            **on(pothole.reference, council),
            reason="Photos?",
            until=date(2026, 3, 31),
            awaiting_customer=True,
        ),
        rt.ports,
    )
    clock.set(at(2026, 3, 11, 10, 0))
    cmds.add_note(
        cmds.AddNote(
            **on(pothole.reference, council), text="Photos received", note_kind=NoteKind.INCOMING
        ),
        rt.ports,
    )
    assert sla_row(rt, pothole)["complete_by"] == at(2026, 3, 23, 17, 0)
    clock.set(at(2026, 3, 12, 10, 0))
    cmds.delay_request(
        cmds.DelayRequest(**on(pothole.reference, council), reason="Crew", until=date(2026, 4, 30)),
        rt.ports,
    )

    assert sla_row(rt, pothole)["complete_by"] == at(2026, 3, 23, 17, 0)


# -- customer notices through the policy -----------------------------------------------------


def test_acknowledging_delaying_and_closing_notify_the_customer_once_each(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    ref = lodge(rt).reference
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(ref)), rt.ports)
    cmds.delay_request(
        cmds.DelayRequest(**on(ref), reason="Asphalt supply delayed", until=date(2026, 4, 17)),
        rt.ports,
    )
    dog = make_watchdog(rt)
    dog.sweep(clock())
    cmds.close_request(cmds.CloseRequest(**on(ref), outcome="completed", text="Patched"), rt.ports)
    dog.sweep(clock())
    dog.sweep(clock())

    rows = list_outbox(rt.write_engine, COUNCIL, ref)
    assert [r["notice"] for r in rows] == ["acknowledgement", "delay", "closure"]
    assert "Your reference number is " + ref in rows[0]["text"]
    assert "Asphalt supply delayed" in rows[1]["text"] and "17 April 2026" in rows[1]["text"]
    assert "Outcome: Completed" in rows[2]["text"]


class Crashing:
    def deliver(self, notice: Notice) -> None:
        raise ConnectionError("the process died before writing the outbox row")


def test_a_notice_recorded_but_never_handed_over_still_reaches_the_outbox(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    pothole = lodge(rt)
    crashing = make_watchdog(rt)
    crashing.notifier = Crashing()
    with pytest.raises(ConnectionError):
        crashing.sweep(PROGRESS_DUE)
    assert len(events(rt, pothole, "NoticeSent")) == 1
    assert list_outbox(rt.write_engine, COUNCIL) == []

    make_watchdog(rt).sweep(PROGRESS_DUE + timedelta(minutes=1))

    [row] = list_outbox(rt.write_engine, COUNCIL)
    [recorded] = events(rt, pothole, "NoticeSent")
    assert (row["notice"], row["version"]) == ("progress", recorded.originator_version)
    assert len(events(rt, pothole, "NoticeSent")) == 1


def test_imported_history_is_never_notified_nor_escalated(sqlite_runtime: Runtime) -> None:
    rt = sqlite_runtime
    council = load_council(PROJECT_ROOT / "config", COUNCIL)
    fields = lodgement_fields(
        council,
        Intake(category="pothole", channel=Channel.PHONE, description="Old pothole", customer=ANN),
        "IMP-1",
        at(2025, 1, 6, 9, 0),
    )
    fields["imported"] = True
    old = ServiceRequest.lodge(occurred_at=at(2025, 1, 6, 9, 0), actor=OFFICER, **sealed(fields))
    old.acknowledge(occurred_at=at(2025, 1, 7, 9, 0), actor=OFFICER)
    rt.ports.save(old)

    report = make_watchdog(rt).sweep(at(2026, 6, 1, 12, 0))

    assert (report.escalated, report.notices) == ([], [])
    assert list_outbox(rt.write_engine, COUNCIL) == []


# -- the view must be current ----------------------------------------------------------------


def test_a_watchdog_never_acts_on_a_view_that_does_not_show_its_own_commands(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    pothole = lodge(rt)
    read_models_ready(rt)
    lagging = make_watchdog(rt)
    lagging.refresh = lambda: None  # as when Kafka consumers lag behind

    first = lagging.sweep(at(2026, 4, 20, 12, 0))  # team-leader and manager are due
    second = lagging.sweep(at(2026, 4, 20, 12, 0))

    assert escalated(first) == [f"{pothole.reference} team-leader"] and first.stale_view
    assert escalated(second) == [] and second.stale_view
    read_models_ready(rt)
    assert escalated(lagging.sweep(at(2026, 4, 20, 12, 0))) == [f"{pothole.reference} manager"]


# -- the loop --------------------------------------------------------------------------------


class Ticks(threading.Event):
    """A stop event whose wait moves the fake clock by the interval instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if self.is_set():
            return True
        self.clock.advance(seconds=timeout or 0)
        return False


def test_watch_sweeps_every_interval_on_the_clock_until_sigterm(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    rt = sqlite_runtime
    pothole = acknowledged(rt, lodge(rt))
    clock.set(COMPLETE_BY - timedelta(minutes=30))
    seen: list[tuple[datetime, list[str]]] = []

    def after_sweep(report: SweepReport) -> None:
        seen.append((report.now, escalated(report)))
        if len(seen) == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    sweeps = make_watchdog(rt).watch(clock, 900, stop=Ticks(clock), on_sweep=after_sweep)

    assert sweeps == 4
    assert [now for now, _ in seen] == [
        COMPLETE_BY + timedelta(minutes=m) for m in (-30, -15, 0, 15)
    ]
    assert [e for _, e in seen] == [[], [], [f"{pothole.reference} team-leader"], []]


# -- replay determinism ----------------------------------------------------------------------


def _changed_config(tmp: Path) -> Path:
    """A copy of the configuration where every figure the SLA depends on is different."""
    root = tmp / "config-changed"
    shutil.copytree(PROJECT_ROOT / "config", root)
    path = root / "councils" / f"{COUNCIL}.toml"
    text = path.read_text()
    for old, new in (
        ('timezone = "Australia/Sydney"', 'timezone = "Australia/Perth"'),
        ('opens = "08:00"', 'opens = "09:00"'),
        ("extra_holidays = []", 'extra_holidays = [{ date = 2026-03-30, name = "Test Day" }]'),
        ("progress_notice_days = 15", "progress_notice_days = 3"),
        ("at_risk_share = 0.8", "at_risk_share = 0.5"),
        ("after_breach_days = 5", "after_breach_days = 1"),
        ("complete_days = 20", "complete_days = 4"),
        ('urgent_role = "team-leader"', 'urgent_role = "manager"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return root


def _answers(rt: Runtime, now: datetime) -> dict[str, Any]:
    f = sla_queries.SlaFilter(council=COUNCIL)
    model = Sla()
    with rt.read_engine.connect() as conn:
        rows = conn.execute(sa.select(model.table).order_by(model.table.c.request_id)).all()
        return {
            "rows": [tuple(r) for r in rows],
            **{
                name: q(conn, model, f, now)
                for name, q in (
                    ("breached", sla_queries.breached),
                    ("at_risk", sla_queries.at_risk),
                    ("escalated", sla_queries.escalated),
                )
            },
            "due": (
                sla_queries.due_escalations(conn, model, now),
                sla_queries.due_progress_notices(conn, model, now),
            ),
        }


def test_rebuilding_the_view_after_the_configuration_changed_gives_the_same_answers(
    sqlite_runtime: Runtime,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    rt = sqlite_runtime
    pothole = lodge(rt)
    lodge(rt, "tree-over-road")
    lodge(rt, agreed_completion=date(2026, 3, 13))
    waiting = lodge(rt, "barking-dog")
    done = lodge(rt, "missed-bin")
    clock.set(at(2026, 3, 5, 11, 0))
    cmds.delay_request(
        cmds.DelayRequest(
            **on(waiting.reference),
            reason="Need the address",
            until=date(2026, 3, 27),
            awaiting_customer=True,
        ),
        rt.ports,
    )
    cmds.close_request(
        cmds.CloseRequest(**on(done.reference), outcome="completed", text="Collected"), rt.ports
    )
    make_watchdog(rt).sweep(at(2026, 4, 1, 9, 0))
    now = at(2026, 4, 9, 12, 0)
    before = _answers(rt, now)
    assert before["breached"] and before["escalated"] and before["due"][0]

    settings = Settings(
        data_dir=rt.settings.data_dir,
        database_url=None,
        kafka_bootstrap=None,
        config_dir=_changed_config(tmp_path),
    )
    changed = Runtime(settings, clock=clock)
    try:
        operations.rebuild(StoreReader(changed.app), changed.read_engine, "sla")
        after = _answers(changed, now)
        fresh = lodge(changed)  # today's configuration does apply to a new request
        assert sla_row(changed, fresh)["complete_by"] != sla_row(changed, pothole)["complete_by"]
    finally:
        changed.close()

    assert after == before
