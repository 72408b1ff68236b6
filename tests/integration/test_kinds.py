"""Kinds handled as each council says, on the real embedded store, moved by a fake clock.

Canterbury (seed 001 §4) distinguishes requests, complaints and compliments; its configuration
gives complaints their own targets (acknowledge in 1 business day, resolve in 20), outcomes and
an outcome letter, and compliments no completion target, progress notice or escalation. Seed
002 (Upper Lachlan) says complaints and compliments are not service requests. Kalamunda (seed
003, Measures 1.1) tracks satisfaction: the customer is invited to rate the service at closure.

Canterbury works 09:00–17:00 Mon–Fri (Australia/Sydney, AEDT in March 2026).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands import complaints as complaint_cmds
from commands import requests as cmds
from commands import users
from commands.notices import SendNotice, send_notice
from consumers import operations
from consumers.store_reader import StoreReader
from domain.errors import (
    EscalationRefused,
    InvalidCommand,
    NoticeRefused,
    SubjectOfficerRefused,
)
from domain.lodgement import Intake
from domain.permissions import Viewer
from domain.values import Actor, Channel, ContactMethod, Customer, NoticeKind, RequestKind
from infra import views
from infra.cli.sla import make_watchdog
from infra.config import load_council
from infra.notify import OutboxNotifier, list_outbox
from infra.runtime import Runtime
from projections import registry
from tests.conftest import TEST_ADMIN, add_staff_to
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")
PERTH = ZoneInfo("Australia/Perth")
DESK = Actor(id="cs.desk", role="customer-service")
COMPLAINTS = Actor(id="c.officer", role="complaints-officer")
PAT = Customer(name="Pat Doe", email="pat@example.org", preferred_contact=ContactMethod.EMAIL)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, zone: ZoneInfo = SYDNEY
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


LODGED = at(2026, 3, 2, 10, 0)  # Monday


def lodge(
    rt: Runtime, kind: RequestKind, council: str = "canterbury", category: str = "pothole"
) -> cmds.Result:
    intake = Intake(
        category=category,
        channel=Channel.EMAIL,
        description=f"A {kind.value}",
        kind=kind,
        customer=PAT,
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=council, intake=intake, actor=DESK), rt.ports
    )


def on(result: cmds.Result, actor: Actor = DESK, council: str = "canterbury") -> dict[str, Any]:
    return {"council": council, "reference": result.reference, "actor": actor}


def types(rt: Runtime, result: cmds.Result) -> list[str]:
    return [type(e).__name__ for e in rt.app.repository.event_store.get(result.request_id)]


@pytest.fixture
def rt(any_runtime: Runtime, clock: FakeClock) -> Runtime:
    """On the embedded store and on the real PostgreSQL, at Monday 2 March 2026 10:00 AEDT,
    with Canterbury's officers `jsmith` and `kwong`."""
    clock.set(LODGED)
    add_staff_to(
        any_runtime,
        "canterbury",
        {"jsmith": ["officer"], "kwong": ["officer"]},
        {"jsmith": ["roads"], "kwong": ["roads"]},
    )
    return any_runtime


def test_a_compliment_never_escalates_nor_gets_a_progress_notice(
    rt: Runtime,
    clock: FakeClock,
) -> None:
    """Seed 001 §4 (a compliment is "a statement of satisfaction"), Canterbury's
    [kinds.compliment]: recorded, acknowledged, passed to the team and closed. Left untouched
    for a year beside a pothole request lodged with it, the watchdog escalates the request and
    sends its progress notice, and does neither to the compliment."""
    compliment = lodge(rt, RequestKind.COMPLIMENT)
    pothole = lodge(rt, RequestKind.SERVICE_REQUEST)
    request = rt.ports.get(compliment.request_id, compliment.reference)
    assert request.standard is not None
    assert (request.standard.complete_days, request.standard.progress_notice_days) == (None, None)
    assert request.complete_by is None and not request.standard.escalates

    dog = make_watchdog(rt)
    for day in range(0, 370, 7):
        dog.sweep(LODGED + timedelta(days=day))

    assert "Escalated" in types(rt, pothole)
    assert any(
        n["notice"] == "progress"
        for n in list_outbox(rt.write_engine, "canterbury", pothole.reference)
    )
    assert "Escalated" not in types(rt, compliment)
    assert [
        n["notice"] for n in list_outbox(rt.write_engine, "canterbury", compliment.reference)
    ] == []
    with pytest.raises(EscalationRefused, match="compliment is never escalated"):
        cmds.escalate_request(cmds.EscalateRequest(**on(compliment), reason="asked"), rt.ports)
    with pytest.raises(NoticeRefused, match="no progress notice"):
        send_notice(
            SendNotice(**on(compliment), notice=NoticeKind.PROGRESS),
            rt.ports,
            OutboxNotifier(rt.write_engine),
        )
    with pytest.raises(InvalidCommand, match="unknown outcome 'completed'"):
        cmds.close_request(
            cmds.CloseRequest(**on(compliment), outcome="completed", text="x"), rt.ports
        )
    cmds.close_request(
        cmds.CloseRequest(
            **on(compliment), outcome="passed-to-team", text="Passed to the roads crew"
        ),
        rt.ports,
    )


def test_a_council_that_says_nothing_of_kinds_still_never_escalates_a_compliment(
    rt: Runtime,
) -> None:
    """Seed 002 (Upper Lachlan): compliments are not service requests. Its configuration has
    no [kinds] table: the defaults give a compliment no completion target and no escalation,
    and a service request its category's target."""
    compliment = lodge(rt, RequestKind.COMPLIMENT, council="upper-lachlan")
    pothole = lodge(rt, RequestKind.SERVICE_REQUEST, council="upper-lachlan")
    first = rt.ports.get(compliment.request_id, compliment.reference).standard
    second = rt.ports.get(pothole.request_id, pothole.reference).standard
    assert first is not None and second is not None
    assert (first.complete_days, first.escalates, first.progress_notice_days) == (None, False, None)
    assert (second.complete_days, second.escalates) == (20, True)


def test_a_complaint_has_its_own_targets_and_priority(rt: Runtime) -> None:
    """Canterbury [kinds.complaint]: acknowledged within 1 business day (7.1.3), resolved within
    20 (the 28-day response target), whatever the category's own target (a pothole: 10).
    Lodged Monday 2 March 10:00 AEDT: acknowledge by Tuesday 3 March 17:00, resolve by the close
    of the 20th business day, Monday 30 March 17:00."""
    complaint = lodge(rt, RequestKind.COMPLAINT)
    pothole = lodge(rt, RequestKind.SERVICE_REQUEST)
    c = rt.ports.get(complaint.request_id, complaint.reference)
    p = rt.ports.get(pothole.request_id, pothole.reference)
    assert c.acknowledge_by == at(2026, 3, 3, 17, 0)
    assert c.complete_by == at(2026, 3, 30, 17, 0)
    assert p.complete_by == at(2026, 3, 16, 17, 0)  # the pothole's own 10 business days
    assert c.standard is not None and c.standard.priority and c.standard.kind == "complaint"


def test_a_complaint_about_an_officer_cannot_be_assigned_to_them(rt: Runtime) -> None:
    """Seed 002: a complaint is "an expression of dissatisfaction … with a council officer";
    the officer complained about never investigates it. Recording the subject while it is
    assigned to them is refused (reassign first); once recorded, assigning it to them is
    refused and nothing is written."""
    complaint = lodge(rt, RequestKind.COMPLAINT)
    cmds.assign_request(
        cmds.AssignRequest(**on(complaint), team="roads", officer="jsmith"), rt.ports
    )
    subject = complaint_cmds.RecordComplaintSubject(
        **on(complaint, COMPLAINTS), officer="jsmith", reason="Rude on the phone"
    )
    with pytest.raises(SubjectOfficerRefused, match="assign it to another officer first"):
        complaint_cmds.handle(subject, rt.ports)
    cmds.assign_request(
        cmds.AssignRequest(**on(complaint), team="roads", officer="kwong"), rt.ports
    )
    complaint_cmds.handle(subject, rt.ports)
    before = rt.ports.get(complaint.request_id, complaint.reference).version

    with pytest.raises(SubjectOfficerRefused, match="is about jsmith: it cannot be assigned"):
        cmds.assign_request(
            cmds.AssignRequest(**on(complaint), team="roads", officer="jsmith"), rt.ports
        )

    after = rt.ports.get(complaint.request_id, complaint.reference)
    assert after.version == before and after.officer == "kwong"
    assert after.subject_officer == "jsmith"
    pothole = lodge(rt, RequestKind.SERVICE_REQUEST)
    with pytest.raises(InvalidCommand, match="not a complaint"):
        complaint_cmds.handle(
            complaint_cmds.RecordComplaintSubject(
                **on(pothole, COMPLAINTS), officer="jsmith", reason="x"
            ),
            rt.ports,
        )


def test_a_complaint_is_about_a_known_staff_user_who_may_have_left_since(rt: Runtime) -> None:
    """The subject is named by user id: a mistyped or unknown id is refused with nothing written
    (the never-assign rule could not match it), while an officer whose account was disabled since
    the contact can still be complained about."""
    complaint = lodge(rt, RequestKind.COMPLAINT)
    before = rt.ports.get(complaint.request_id, complaint.reference).version
    for unknown in ("jsmiht", "JSMITH"):
        with pytest.raises(
            InvalidCommand, match=f"no staff user '{unknown}' in council canterbury"
        ):
            complaint_cmds.handle(
                complaint_cmds.RecordComplaintSubject(
                    **on(complaint, COMPLAINTS), officer=unknown, reason="Rude on the phone"
                ),
                rt.ports,
            )
    assert rt.ports.get(complaint.request_id, complaint.reference).version == before

    c = load_council(rt.settings.config_dir, "canterbury")
    users.disable_user(
        users.DisableUser(
            council="canterbury",
            user_id="kwong",
            reason="Left the council",
            actor=Actor(id=TEST_ADMIN, role="administrator"),
        ),
        rt.directory_ports,
        c,
    )
    complaint_cmds.handle(
        complaint_cmds.RecordComplaintSubject(
            **on(complaint, COMPLAINTS), officer=" kwong ", reason="Rude on the phone"
        ),
        rt.ports,
    )
    assert rt.ports.get(complaint.request_id, complaint.reference).subject_officer == "kwong"


def test_internal_review_and_ombudsman_referral_are_recorded_with_their_dates(
    rt: Runtime,
    clock: FakeClock,
) -> None:
    """A complaint closes with an outcome of complaints (upheld, partly upheld, not upheld …);
    the customer may then ask for an internal review, decided once, and go to the Ombudsman
    (seed 002 cites the Ombudsman's guidelines). Each is refused out of order."""
    complaint = lodge(rt, RequestKind.COMPLAINT)
    review = complaint_cmds.RequestReview(
        **on(complaint, COMPLAINTS), on=date(2026, 3, 10), reason="Disagrees with the finding"
    )
    with pytest.raises(InvalidCommand, match="still open"):
        complaint_cmds.handle(review, rt.ports)
    with pytest.raises(InvalidCommand, match="unknown outcome 'completed'"):
        cmds.close_request(
            cmds.CloseRequest(**on(complaint), outcome="completed", text="x"), rt.ports
        )
    clock.set(at(2026, 3, 4, 13, 0))
    cmds.close_request(
        cmds.CloseRequest(
            **on(complaint), outcome="not-upheld", text="Crew acted within procedure"
        ),
        rt.ports,
    )
    clock.set(at(2026, 3, 12, 9, 30))
    with pytest.raises(InvalidCommand, match="in the future"):
        complaint_cmds.handle(
            complaint_cmds.RequestReview(
                **on(complaint, COMPLAINTS), on=date(2026, 3, 13), reason="x"
            ),
            rt.ports,
        )
    complaint_cmds.handle(review, rt.ports)
    with pytest.raises(InvalidCommand, match="was requested on 2026-03-10"):
        complaint_cmds.handle(review, rt.ports)
    decide = complaint_cmds.DecideReview(
        **on(complaint, COMPLAINTS),
        on=date(2026, 3, 12),
        decision="partly-upheld",
        text="Apology owed",
    )
    complaint_cmds.handle(decide, rt.ports)
    with pytest.raises(InvalidCommand, match="was decided on 2026-03-12"):
        complaint_cmds.handle(decide, rt.ports)
    complaint_cmds.handle(
        complaint_cmds.ReferToOmbudsman(
            **on(complaint, COMPLAINTS),
            on=date(2026, 3, 12),
            reason="Customer went to the NSW Ombudsman",
            ombudsman_reference="OMB-2026-17",
        ),
        rt.ports,
    )

    r = rt.ports.get(complaint.request_id, complaint.reference)
    assert (r.review_requested_on, r.review_decided_on, r.review_decision, r.ombudsman_on) == (
        date(2026, 3, 10),
        date(2026, 3, 12),
        "partly-upheld",
        date(2026, 3, 12),
    )
    report = views.complaint_report(
        rt, rt.ports.council("canterbury"), date(2026, 3, 1), date(2026, 3, 31)
    )
    # Monday 10:00–17:00 (7 h), Tuesday (8 h), Wednesday 09:00–13:00 (4 h): 19 h of 8-hour days
    assert report["total"] == {
        "received": 1,
        "closed": 1,
        "open": 0,
        "resolved_within_target": 1,
        "mean_business_days": 2.38,
        "median_business_days": 2.38,
        "max_business_days": 2.38,
        "internal_reviews": 1,
        "ombudsman_referrals": 1,
    }
    assert [(g["category_code"], g["received"]) for g in report["by_category"]] == [("pothole", 1)]
    assert [(g["outcome"], g["outcome_name"]) for g in report["by_outcome"]] == [
        ("not-upheld", "Complaint not upheld")
    ]
    [row] = report["complaints"]
    assert (row["reference"], row["review_decision"], row["ombudsman_on"]) == (
        complaint.reference,
        "partly-upheld",
        "2026-03-12",
    )
    assert (
        views.complaint_report(
            rt, rt.ports.council("canterbury"), date(2026, 4, 1), date(2026, 4, 30)
        )["total"]["received"]
        == 0
    )


def test_closure_notices_are_an_outcome_letter_and_invite_a_rating_where_policy_says(
    rt: Runtime,
    clock: FakeClock,
) -> None:
    """Canterbury's complaint closes with an outcome letter and invites no rating (its policy
    sets none); Kalamunda (seed 003, Measures 1.1) invites the customer to rate the service
    through their preferred method when a request closes."""
    complaint = lodge(rt, RequestKind.COMPLAINT)
    bin_request = lodge(rt, RequestKind.SERVICE_REQUEST, council="kalamunda", category="missed-bin")
    cmds.close_request(cmds.CloseRequest(**on(complaint), outcome="upheld", text="Sorry"), rt.ports)
    cmds.close_request(
        cmds.CloseRequest(
            **on(bin_request, council="kalamunda"), outcome="completed", text="Collected"
        ),
        rt.ports,
    )
    make_watchdog(rt).sweep(clock())

    [letter] = [
        n
        for n in list_outbox(rt.write_engine, "canterbury", complaint.reference)
        if n["notice"] == "closure"
    ]
    [closure] = [
        n
        for n in list_outbox(rt.write_engine, "kalamunda", bin_request.reference)
        if n["notice"] == "closure"
    ]
    assert (
        "the outcome of your complaint" in letter["text"] and "Complaint upheld" in letter["text"]
    )
    assert "rate our service" not in letter["text"]
    assert "rate our service from 1 (poor) to 5 (excellent)" in closure["text"]
    assert closure["method"] == "email"


def test_satisfaction_ratings_give_the_kpi_beside_the_councils_target(
    rt: Runtime,
    clock: FakeClock,
) -> None:
    """Kalamunda's [kpi_targets] customer_satisfaction_pct = 80 and [satisfaction]
    satisfied_from = 4: ratings of 5 and 2 make 50%, not met. A rating is refused while the
    request is open, twice, or off the 1–5 scale (bad input, nothing written)."""
    first = lodge(rt, RequestKind.SERVICE_REQUEST, council="kalamunda", category="missed-bin")
    second = lodge(rt, RequestKind.SERVICE_REQUEST, council="kalamunda", category="missed-bin")
    rate = complaint_cmds.RecordSatisfaction
    with pytest.raises(InvalidCommand, match="still open"):
        complaint_cmds.handle(rate(**on(first, council="kalamunda"), score=5), rt.ports)
    for r in (first, second):
        cmds.close_request(
            cmds.CloseRequest(**on(r, council="kalamunda"), outcome="completed", text="Collected"),
            rt.ports,
        )
    with pytest.raises(ValueError, match="a score is 1 to 5, not 6"):
        complaint_cmds.handle(rate(**on(first, council="kalamunda"), score=6), rt.ports)
    complaint_cmds.handle(
        rate(**on(first, council="kalamunda"), score=5, comment="Quick and friendly"), rt.ports
    )
    complaint_cmds.handle(rate(**on(second, council="kalamunda"), score=2), rt.ports)
    with pytest.raises(InvalidCommand, match="rated already"):
        complaint_cmds.handle(rate(**on(second, council="kalamunda"), score=4), rt.ports)

    stored = rt.ports.get(first.request_id, first.reference)
    assert stored.satisfaction_score == 5
    kalamunda = rt.ports.council("kalamunda")
    total = views.kpis(rt, kalamunda, "kind", date(2026, 3, 1), date(2026, 3, 31), clock()).total
    assert (total["rated"], total["satisfied"], total["customer_satisfaction_pct"]) == (2, 1, 50.0)
    assert total["customer_satisfaction_pct_expected"] == 80
    assert total["customer_satisfaction_pct_met"] is False


def test_every_new_event_is_in_the_audit_record_readably_and_every_model_equals_its_rebuild(
    rt: Runtime,
    clock: FakeClock,
) -> None:
    complaint = lodge(rt, RequestKind.COMPLAINT)
    cmds.assign_request(
        cmds.AssignRequest(**on(complaint), team="roads", officer="kwong"), rt.ports
    )
    complaint_cmds.handle(
        complaint_cmds.RecordComplaintSubject(
            **on(complaint, COMPLAINTS), officer="jsmith", reason="Rude on the phone"
        ),
        rt.ports,
    )
    cmds.close_request(
        cmds.CloseRequest(**on(complaint), outcome="upheld", text="Apology"), rt.ports
    )
    clock.set(at(2026, 3, 5, 10, 0))
    c = dict(on(complaint, COMPLAINTS))
    complaint_cmds.handle(
        complaint_cmds.RequestReview(**c, on=date(2026, 3, 5), reason="More"), rt.ports
    )
    complaint_cmds.handle(
        complaint_cmds.DecideReview(**c, on=date(2026, 3, 5), decision="upheld", text="Stands"),
        rt.ports,
    )
    complaint_cmds.handle(
        complaint_cmds.ReferToOmbudsman(**c, on=date(2026, 3, 5), reason="Customer asked"), rt.ports
    )
    complaint_cmds.handle(
        complaint_cmds.RecordSatisfaction(**on(complaint), score=3, comment="Took long"), rt.ports
    )
    make_watchdog(rt).sweep(clock())

    rows = views.audit(
        rt, rt.ports.council("canterbury"), _viewer(), "test", reference=complaint.reference
    )
    summaries = {r["event_type"]: r["summary"] for r in rows}
    assert summaries["ComplaintSubjectRecorded"] == (
        "Complaint recorded as about jsmith: Rude on the phone"
    )
    assert summaries["ComplaintReviewRequested"] == "Internal review requested on 2026-03-05: More"
    assert summaries["ComplaintReviewDecided"] == (
        "Internal review decided on 2026-03-05 (upheld): Stands"
    )
    assert summaries["ComplaintReferredToOmbudsman"] == (
        "Referred to the Ombudsman on 2026-03-05: Customer asked"
    )
    assert summaries["SatisfactionRecorded"] == (
        "The customer rated the service 3, with a comment kept sealed"
    )
    # the customer's words are sealed: revealed to records officers, never to analysts
    [rating] = [r for r in rows if r["event_type"] == "SatisfactionRecorded"]
    assert rating["payload"]["comment"] == "Took long"
    redacted = views.audit(
        rt,
        rt.ports.council("canterbury"),
        _viewer("analyst"),
        "test",
        reference=complaint.reference,
    )
    assert "Took long" not in str(redacted)
    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, list(registry.READ_MODELS))
    assert [d.name for d in drifts if not d.ok] == []
    assert "complaint_register" in [d.name for d in drifts]


def _viewer(role: str = "records-officer") -> Viewer:
    return Viewer(user_id="reader", role=role, roles=frozenset({role}), teams=frozenset())


def test_complaints_are_handled_with_priority_in_the_work_queue(rt: Runtime) -> None:
    """Seed 003 (Kalamunda): "complex requests and complaints will be handled with priority";
    Canterbury's [kinds.complaint] priority = true. A complaint due in 20 business days comes
    before a pothole due in 10, and after an urgent request."""
    pothole = lodge(rt, RequestKind.SERVICE_REQUEST)
    complaint = lodge(rt, RequestKind.COMPLAINT)
    tree = lodge(rt, RequestKind.SERVICE_REQUEST, category="tree-over-road")
    cmds.assign_request(cmds.AssignRequest(**on(tree), team="roads"), rt.ports)
    rows = views.queue(rt, rt.ports.council("canterbury"), "roads", None)
    assert [r["reference"] for r in rows] == [
        tree.reference,
        complaint.reference,
        pothole.reference,
    ]
