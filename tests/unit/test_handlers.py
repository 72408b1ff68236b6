"""The command handlers (load, decide, save) against a runtime on the embedded SQLite store."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands import requests as cmds
from commands import users
from commands.errors import RequestNotFound
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.errors import (
    AlreadyAcknowledged,
    AssigneeRefused,
    EscalationRefused,
    InvalidCommand,
    LodgementRefused,
    RequestClosed,
)
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind, Status
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, add_staff_to
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")


def an_intake(**overrides: Any) -> Intake:
    fields: dict[str, Any] = {
        "category": "pothole",
        "channel": Channel.PHONE,
        "description": "Deep pothole outside 12 Spring St",
        "customer": Customer(name="Ann Lee", phone="0400 000 000"),
    }
    fields.update(overrides)
    return Intake(**fields)


def lodge(rt: Runtime, **intake: Any) -> cmds.Result:
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=an_intake(**intake), actor=OFFICER), rt.ports
    )


def on(reference: str) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": reference, "actor": OFFICER}


def load(rt: Runtime, result: cmds.Result) -> ServiceRequest:
    return rt.ports.get(result.request_id, result.reference)


def stored_events(rt: Runtime, result: cmds.Result) -> list[Any]:
    return list(rt.app.repository.event_store.get(result.request_id))


@pytest.fixture
def rt(sqlite_runtime: Runtime) -> Runtime:
    """The embedded store, with an officer (`kwong`, of the parks team) who may be assigned
    requests."""
    add_staff_to(sqlite_runtime, COUNCIL, {"kwong": ["officer"]}, {"kwong": ["parks"]})
    return sqlite_runtime


@pytest.fixture
def lodged(rt: Runtime, clock: FakeClock) -> cmds.Result:
    """Given a pothole request lodged on Monday 2 March 2026 at 10:00 (Sydney), an hour ago."""
    result = lodge(rt)
    clock.advance(hours=1)
    return result


# -- lodge -----------------------------------------------------------------------------------


def test_the_first_lodgement_of_the_year_gets_reference_number_one(rt: Runtime) -> None:
    result = lodge(rt)

    assert result.reference == "UL-2026-000001"
    assert result.request_id == request_id(COUNCIL, "UL-2026-000001")
    assert result.version == 1


def test_the_next_lodgement_gets_the_next_reference_number(rt: Runtime) -> None:
    first, second = lodge(rt), lodge(rt, category="barking-dog")

    assert (first.reference, second.reference) == ("UL-2026-000001", "UL-2026-000002")
    assert first.request_id != second.request_id


def test_the_reference_year_is_the_year_in_the_councils_timezone(
    rt: Runtime, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 12, 31, 14, 0, tzinfo=UTC))  # 1 January 2027 in Sydney

    assert lodge(rt).reference == "UL-2027-000001"


def test_lodging_stores_the_lodged_event_at_the_clocks_instant(
    rt: Runtime, clock: FakeClock
) -> None:
    result = lodge(rt)

    [event] = stored_events(rt, result)
    assert isinstance(event, ServiceRequest.Lodged)
    assert event.occurred_at == datetime(2026, 3, 2, 10, 0, tzinfo=SYDNEY)
    assert event.actor == OFFICER
    assert event.reference == result.reference
    assert event.team == "roads"
    assert result.position == rt.app.recorder.max_notification_id()


# -- the other handlers ----------------------------------------------------------------------


def test_acknowledging_stores_the_acknowledgement(
    rt: Runtime, lodged: cmds.Result, clock: FakeClock
) -> None:
    result = cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged.reference)), rt.ports)

    assert (result.reference, result.version) == (lodged.reference, 2)
    assert result.position == rt.app.recorder.max_notification_id()
    assert load(rt, lodged).acknowledged_at == clock()
    assert isinstance(stored_events(rt, lodged)[-1], ServiceRequest.Acknowledged)


def test_every_lodgement_whose_new_record_shares_a_phone_or_email_reports_the_likely_same(
    rt: Runtime,
) -> None:
    first = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=an_intake(), actor=OFFICER), rt.ports
    )
    by_email = Customer(name="A. Lee", phone="0400 999 999", email="ann@example.org")
    second = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=an_intake(), actor=OFFICER), rt.ports
    )
    third = cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            intake=an_intake(
                customer=Customer(name="Ann Lee", phone="0400 000 000", email="ann@example.org")
            ),
            actor=OFFICER,
        ),
        rt.ports,
    )
    fourth = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=an_intake(customer=by_email), actor=OFFICER),
        rt.ports,
    )
    named = cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            intake=an_intake(customer=None, customer_number=first.customer),
            actor=OFFICER,
        ),
        rt.ports,
    )
    stranger = cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            intake=an_intake(customer=Customer(name="Ann Lee", phone="0411 111 111")),
            actor=OFFICER,
        ),
        rt.ports,
    )

    assert first.likely_same == ()
    assert second.likely_same == (first.customer,)
    assert third.likely_same == (first.customer, second.customer)
    assert fourth.likely_same == (third.customer,)  # the e-mail alone
    assert named.likely_same == ()  # a record staff chose
    assert stranger.likely_same == ()  # the same name is not enough


def test_assigning_stores_the_new_team_and_officer(rt: Runtime, lodged: cmds.Result) -> None:
    result = cmds.assign_request(
        cmds.AssignRequest(**on(lodged.reference), team="parks", officer="kwong"), rt.ports
    )

    assert result.version == 2
    request = load(rt, lodged)
    assert (request.team, request.officer) == ("parks", "kwong")
    event = stored_events(rt, lodged)[-1]
    assert (event.previous_team, event.previous_officer) == ("roads", None)


@pytest.mark.parametrize(
    ("officer", "says"),
    [
        ("o.nobody", "no staff user 'o.nobody'"),
        ("gone", "user gone is disabled"),
        ("figures", "user figures holds no role that works requests (analyst)"),
        ("records", "holds no role that works requests (records-officer)"),
    ],
)
def test_assigning_to_anyone_but_an_active_user_who_works_requests_is_refused_writing_nothing(
    rt: Runtime, lodged: cmds.Result, officer: str, says: str
) -> None:
    add_staff_to(
        rt, COUNCIL, {"gone": ["officer"], "figures": ["analyst"], "records": ["records-officer"]}
    )
    c = rt.ports.council(COUNCIL)
    users.disable_user(
        users.DisableUser(
            council=COUNCIL, user_id="gone", actor=Actor(id=TEST_ADMIN, role="administrator")
        ),
        rt.directory_ports,
        c,
    )

    with pytest.raises(AssigneeRefused, match=re.escape(says)):
        cmds.assign_request(
            cmds.AssignRequest(**on(lodged.reference), team="parks", officer=officer), rt.ports
        )

    assert [type(e).__name__ for e in stored_events(rt, lodged)] == ["Lodged"]


def test_assigning_to_an_officer_outside_the_team_is_refused_until_they_join_it(
    rt: Runtime, lodged: cmds.Result
) -> None:
    c = rt.ports.council(COUNCIL)
    admin = Actor(id=TEST_ADMIN, role="administrator")
    assign = cmds.AssignRequest(**on(lodged.reference), team="roads", officer="kwong")

    with pytest.raises(
        AssigneeRefused,
        match=re.escape("user kwong does not work in team roads (their teams: parks)"),
    ):
        cmds.assign_request(assign, rt.ports)
    assert [type(e).__name__ for e in stored_events(rt, lodged)] == ["Lodged"]

    users.join_team(
        users.JoinTeam(council=COUNCIL, user_id="kwong", team="roads", actor=admin),
        rt.directory_ports,
        c,
    )
    cmds.assign_request(assign, rt.ports)
    assert (load(rt, lodged).team, load(rt, lodged).officer) == ("roads", "kwong")

    users.leave_team(
        users.LeaveTeam(council=COUNCIL, user_id="kwong", team="roads", actor=admin),
        rt.directory_ports,
        c,
    )
    cmds.assign_request(
        cmds.AssignRequest(**on(lodged.reference), team="parks", officer="kwong"), rt.ports
    )
    with pytest.raises(AssigneeRefused, match="does not work in team roads"):
        cmds.assign_request(assign, rt.ports)
    assert (load(rt, lodged).team, load(rt, lodged).officer) == ("parks", "kwong")


def test_who_may_hold_work_follows_the_councils_permission_table(rt: Runtime) -> None:
    c = rt.ports.council(COUNCIL)
    assert c.permissions.can_hold_work(["customer-service"])
    assert c.permissions.can_hold_work(["analyst", "officer"])
    assert not c.permissions.can_hold_work(["analyst"])
    widened = c.permissions.replacing({"analyst": ["note", "close", "kpi"]})

    assert widened.can_hold_work(["analyst"])
    assert widened.can_hold_work(["analyst", "records-officer"])
    assert not widened.can_hold_work(["records-officer"])


def test_assigning_to_a_team_alone_needs_no_officer(rt: Runtime, lodged: cmds.Result) -> None:
    cmds.assign_request(cmds.AssignRequest(**on(lodged.reference), team="parks"), rt.ports)

    assert (load(rt, lodged).team, load(rt, lodged).officer) == ("parks", None)


def test_adding_a_note_stores_it(rt: Runtime, lodged: cmds.Result) -> None:
    result = cmds.add_note(
        cmds.AddNote(
            **on(lodged.reference),
            text="Rang the customer",
            note_kind=NoteKind.OUTGOING,
            channel=Channel.PHONE,
        ),
        rt.ports,
    )

    assert result.version == 2
    assert load(rt, lodged).note_count == 1
    event = stored_events(rt, lodged)[-1]
    assert (event.text, event.note_kind, event.channel) == (
        "Rang the customer",
        NoteKind.OUTGOING,
        Channel.PHONE,
    )


def test_delaying_stores_the_delay_and_moves_the_due_instant(
    rt: Runtime, lodged: cmds.Result
) -> None:
    result = cmds.delay_request(
        cmds.DelayRequest(**on(lodged.reference), reason="Crew away", until=date(2026, 4, 24)),
        rt.ports,
    )

    assert result.version == 2
    request = load(rt, lodged)
    assert request.delay_count == 1
    assert request.complete_by == datetime(2026, 4, 24, 16, 30, tzinfo=SYDNEY)


def test_escalating_stores_the_new_level(rt: Runtime, lodged: cmds.Result) -> None:
    result = cmds.escalate_request(
        cmds.EscalateRequest(**on(lodged.reference), reason="Customer complained"), rt.ports
    )

    assert result.version == 2
    assert load(rt, lodged).level == "team-leader"


def test_closing_stores_the_outcome(rt: Runtime, lodged: cmds.Result, clock: FakeClock) -> None:
    result = cmds.close_request(
        cmds.CloseRequest(**on(lodged.reference), outcome="completed", text="Patched"), rt.ports
    )

    assert result.version == 2
    request = load(rt, lodged)
    assert request.status is Status.CLOSED
    assert (request.outcome, request.closed_at) == ("completed", clock())


def test_each_command_is_stamped_with_the_clock_at_the_time_it_is_handled(
    rt: Runtime, lodged: cmds.Result, clock: FakeClock
) -> None:
    first = clock()
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(lodged.reference)), rt.ports)
    clock.advance(days=2)
    cmds.add_note(cmds.AddNote(**on(lodged.reference), text="Inspected"), rt.ports)

    events = stored_events(rt, lodged)
    assert [e.occurred_at for e in events[1:]] == [first, clock()]


def test_a_reference_typed_in_lower_case_finds_the_same_request(
    rt: Runtime, lodged: cmds.Result
) -> None:
    result = cmds.acknowledge_request(
        cmds.AcknowledgeRequest(**on(lodged.reference.lower())), rt.ports
    )

    assert result.request_id == lodged.request_id


# -- not found -------------------------------------------------------------------------------

UNKNOWN = "UL-2026-999999"
REQUEST_COMMANDS: dict[str, Callable[[Runtime, str], cmds.Result]] = {
    "acknowledge": lambda rt, ref: cmds.acknowledge_request(
        cmds.AcknowledgeRequest(**on(ref)), rt.ports
    ),
    "assign": lambda rt, ref: cmds.assign_request(
        cmds.AssignRequest(**on(ref), team="parks"), rt.ports
    ),
    "note": lambda rt, ref: cmds.add_note(cmds.AddNote(**on(ref), text="x"), rt.ports),
    "delay": lambda rt, ref: cmds.delay_request(
        cmds.DelayRequest(**on(ref), reason="x", until=date(2026, 4, 24)), rt.ports
    ),
    "escalate": lambda rt, ref: cmds.escalate_request(
        cmds.EscalateRequest(**on(ref), reason="x"), rt.ports
    ),
    "close": lambda rt, ref: cmds.close_request(
        cmds.CloseRequest(**on(ref), outcome="completed", text="x"), rt.ports
    ),
}


@pytest.mark.parametrize("command", REQUEST_COMMANDS)
def test_a_command_on_an_unknown_reference_raises_request_not_found(
    rt: Runtime, lodged: cmds.Result, command: str
) -> None:
    before = rt.app.recorder.max_notification_id()

    with pytest.raises(RequestNotFound, match=UNKNOWN):
        REQUEST_COMMANDS[command](rt, UNKNOWN)

    assert rt.app.recorder.max_notification_id() == before


# -- refusals write nothing ------------------------------------------------------------------


def _assign(team: str) -> Callable[[Runtime, str], Any]:
    return lambda rt, ref: cmds.assign_request(cmds.AssignRequest(**on(ref), team=team), rt.ports)


def _delay(reason: str, until: date) -> Callable[[Runtime, str], Any]:
    return lambda rt, ref: cmds.delay_request(
        cmds.DelayRequest(**on(ref), reason=reason, until=until), rt.ports
    )


def _escalate(level: str) -> Callable[[Runtime, str], Any]:
    return lambda rt, ref: cmds.escalate_request(
        cmds.EscalateRequest(**on(ref), reason="x", level=level), rt.ports
    )


REFUSALS = [
    pytest.param(
        [],
        lambda rt, ref: lodge(rt, channel=Channel.SOCIAL_MEDIA),
        LodgementRefused,
        id="lodge-through-social-media",
    ),
    pytest.param(
        [], lambda rt, ref: lodge(rt, customer=None), LodgementRefused, id="lodge-anonymously"
    ),
    pytest.param(
        [],
        lambda rt, ref: lodge(rt, category="graffiti"),
        InvalidCommand,
        id="lodge-in-an-unknown-category",
    ),
    pytest.param(
        [],
        lambda rt, ref: lodge(rt, description="x" * 5000),
        InvalidCommand,
        id="lodge-an-over-long-description",
    ),
    pytest.param(
        ["acknowledge"],
        REQUEST_COMMANDS["acknowledge"],
        AlreadyAcknowledged,
        id="acknowledge-twice",
    ),
    pytest.param([], _assign("pixies"), InvalidCommand, id="assign-to-an-unknown-team"),
    pytest.param([], _assign("roads"), InvalidCommand, id="assign-to-where-it-already-is"),
    pytest.param(
        [],
        lambda rt, ref: cmds.add_note(cmds.AddNote(**on(ref), text="  "), rt.ports),
        InvalidCommand,
        id="note-without-text",
    ),
    pytest.param(
        [], _delay("Crew away", date(2026, 2, 27)), InvalidCommand, id="delay-to-a-past-date"
    ),
    pytest.param([], _delay("", date(2026, 4, 24)), InvalidCommand, id="delay-without-a-reason"),
    pytest.param([], _escalate("officer"), EscalationRefused, id="escalate-to-the-current-level"),
    pytest.param([], _escalate("mayor"), EscalationRefused, id="escalate-to-an-unknown-role"),
    pytest.param(
        [],
        lambda rt, ref: cmds.close_request(
            cmds.CloseRequest(**on(ref), outcome="fixed", text="x"), rt.ports
        ),
        InvalidCommand,
        id="close-with-an-unknown-outcome",
    ),
    pytest.param(["close"], REQUEST_COMMANDS["close"], RequestClosed, id="close-twice"),
    pytest.param(
        ["close"], REQUEST_COMMANDS["acknowledge"], RequestClosed, id="acknowledge-after-close"
    ),
    pytest.param(["close"], REQUEST_COMMANDS["escalate"], RequestClosed, id="escalate-after-close"),
]


@pytest.mark.parametrize(("given", "refused", "error"), REFUSALS)
def test_a_refused_command_writes_nothing(
    rt: Runtime,
    lodged: cmds.Result,
    clock: FakeClock,
    given: list[str],
    refused: Callable[[Runtime, str], Any],
    error: type[Exception],
) -> None:
    for name in given:
        REQUEST_COMMANDS[name](rt, lodged.reference)
    clock.advance(minutes=10)
    before = rt.app.recorder.max_notification_id()
    version = load(rt, lodged).version

    with pytest.raises(error):
        refused(rt, lodged.reference)

    assert rt.app.recorder.max_notification_id() == before
    assert load(rt, lodged).version == version
    assert len(stored_events(rt, lodged)) == version
