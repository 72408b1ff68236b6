"""The service-request aggregate: given events / when a command / then events (or a refusal).

Every refusal is checked to record nothing: no pending event, no change of state or version.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.aggregates.service_request import ServiceRequest, request_id
from domain.calendar import BusinessCalendar, CalendarSpec
from domain.council import AcknowledgementRule, Council
from domain.errors import (
    AlreadyAcknowledged,
    DomainError,
    EscalationRefused,
    InvalidCommand,
    RequestClosed,
    RequestDisposed,
)
from domain.lodgement import Intake, lodgement_fields
from domain.retention import RetentionClass
from domain.standards import ServiceStandard
from domain.values import (
    Actor,
    Channel,
    ContactMethod,
    Customer,
    Location,
    NoteKind,
    RequestKind,
    Status,
)
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from infra.store import CrmApplication
from tests.fakes import TEST_SEALER, FakeClock, open_sealed, sealed

SYDNEY = ZoneInfo("Australia/Sydney")
OFFICER = Actor(id="jsmith", role="officer")
LEADER = Actor(id="mbrown", role="team-leader")
REFERENCE = "UL-2026-000001"
MICROSECOND = timedelta(microseconds=1)
CHAIN = ("officer", "team-leader", "manager", "director", "general-manager")


# -- givens ----------------------------------------------------------------------------------


@pytest.fixture
def council() -> Council:
    """Upper Lachlan, with the figures these tests compute by hand pinned: acknowledge in 5
    business days (the policy's figure), potholes completed in 10."""
    loaded = load_council(PROJECT_ROOT / "config", "upper-lachlan")
    pothole = dataclasses.replace(loaded.categories["pothole"], complete_days=10)
    return dataclasses.replace(
        loaded,
        acknowledgement=AcknowledgementRule(default_days=5),
        categories={**loaded.categories, "pothole": pothole},
    )


def an_intake(**overrides: Any) -> Intake:
    fields: dict[str, Any] = {
        "category": "pothole",
        "channel": Channel.PHONE,
        "description": "Deep pothole outside 12 Spring St",
        "customer": Customer(name="Ann Lee", phone="0400 000 000"),
        "location": Location(address="12 Spring St, Crookwell"),
    }
    fields.update(overrides)
    return Intake(**fields)


def lodge(
    council: Council, clock: FakeClock, reference: str = REFERENCE, **intake: Any
) -> ServiceRequest:
    fields = lodgement_fields(council, an_intake(**intake), reference, clock())
    return ServiceRequest.lodge(occurred_at=clock(), actor=OFFICER, **sealed(fields))


@pytest.fixture
def request_(council: Council, clock: FakeClock) -> ServiceRequest:
    """Given a pothole request lodged on Monday 2 March 2026 at 10:00 in Sydney (no events
    pending: the `when` step's events are the only ones `collect_events` returns)."""
    request = lodge(council, clock)
    request.collect_events()
    clock.advance(hours=1)
    return request


@pytest.fixture
def closed_request(request_: ServiceRequest, council: Council, clock: FakeClock) -> ServiceRequest:
    request_.close(
        outcome="completed",
        text="Patched",
        outcomes=council.outcomes.keys(),
        occurred_at=clock(),
        actor=OFFICER,
    )
    request_.collect_events()
    clock.advance(hours=1)
    return request_


def then_refused(
    request: ServiceRequest,
    error: type[DomainError],
    command: Callable[[], None],
    match: str | None = None,
) -> None:
    """The command raises `error` and leaves the request exactly as it was: nothing recorded."""
    before = copy.deepcopy(vars(request))
    with pytest.raises(error, match=match):
        command()
    assert request.collect_events() == []
    assert vars(request) == before


def sydney(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SYDNEY)


def pending(request: ServiceRequest) -> list[Any]:
    """The events the `when` step recorded (and that a save would store)."""
    return list(request.collect_events())


# -- identity --------------------------------------------------------------------------------


def test_the_same_council_and_reference_always_give_the_same_id() -> None:
    assert request_id("upper-lachlan", REFERENCE) == request_id("upper-lachlan", REFERENCE)
    assert request_id("upper-lachlan", REFERENCE) == request_id("upper-lachlan", " ul-2026-000001 ")


def test_the_same_reference_in_another_council_gives_another_id() -> None:
    assert request_id("upper-lachlan", REFERENCE) != request_id("canterbury", REFERENCE)


def test_another_reference_in_the_same_council_gives_another_id() -> None:
    assert request_id("upper-lachlan", REFERENCE) != request_id("upper-lachlan", "UL-2026-000002")


def test_a_lodged_request_takes_the_id_derived_from_its_council_and_reference(
    council: Council, clock: FakeClock
) -> None:
    assert lodge(council, clock).id == request_id("upper-lachlan", REFERENCE)


# -- lodge -----------------------------------------------------------------------------------


def test_lodging_records_one_lodged_event_with_the_intake(
    council: Council, clock: FakeClock
) -> None:
    request = lodge(council, clock)

    [event] = pending(request)
    assert isinstance(event, ServiceRequest.Lodged)
    assert event.originator_version == 1
    assert event.occurred_at == sydney(2026, 3, 2, 10, 0)
    assert event.actor == OFFICER
    assert event.council == "upper-lachlan"
    assert event.reference == REFERENCE
    assert event.category == "pothole"
    assert event.channel is Channel.PHONE
    assert event.kind is RequestKind.SERVICE_REQUEST
    assert event.customer is not None
    assert (open_sealed(event.customer.name), open_sealed(event.customer.phone)) == (
        "Ann Lee",
        "0400 000 000",
    )
    assert (event.customer.email, event.customer.address) == (None, None)
    assert event.location == Location(address="12 Spring St, Crookwell")
    assert open_sealed(event.description) == "Deep pothole outside 12 Spring St"
    assert event.urgent is False
    assert event.discretionary is False
    assert event.resolution_not_guaranteed is False
    assert event.imported is False


def test_lodging_routes_the_request_to_the_team_of_its_category(
    council: Council, clock: FakeClock
) -> None:
    assert lodge(council, clock, category="pothole").team == "roads"
    assert lodge(council, clock, category="barking-dog").team == "regulatory"
    assert lodge(council, clock, category="missed-bin").team == "waste"


def test_lodging_records_the_service_standard_in_force_in_full(
    council: Council, clock: FakeClock
) -> None:
    [event] = pending(lodge(council, clock))

    assert event.standard == ServiceStandard(
        category="pothole",
        category_name=council.categories["pothole"].name,
        team="roads",
        acknowledge_days=5,
        complete_days=10,
        progress_notice_days=council.progress_notice_days,
        at_risk_share=council.at_risk_share,
        urgent=False,
        escalation_roles=CHAIN,
        escalation_after_days=tuple(s.after_breach_days for s in council.escalation_chain),
        discretionary_role=council.discretionary_role,
        urgent_role=council.urgent_role,
        delay_moves_due=True,
        awaiting_customer_pauses=council.awaiting_customer_pauses,
        # the holidays of the year of lodgement and the two after it, as resolved then
        calendar=BusinessCalendar(council.calendar).resolved_spec(2026, 2028),
        progress_notice_every_days=council.progress_notice_days,
        acknowledge_escalation_role=council.acknowledgement.escalate_to,
        acknowledge_escalation_after_days=council.acknowledgement.escalate_after_days,
        urgent_alert_ack_minutes=council.urgent_alert_ack_minutes,
    )


def test_lodged_on_monday_morning_acknowledgement_falls_due_at_close_of_business_a_week_later(
    council: Council, clock: FakeClock
) -> None:
    # Day 0 is Monday 2 March; the 5th business day after it is Monday 9 March (no NSW holiday).
    request = lodge(council, clock)

    assert request.acknowledge_by == sydney(2026, 3, 9, 16, 30)
    assert request.acknowledge_by == datetime(2026, 3, 9, 5, 30, tzinfo=UTC)  # AEDT, UTC+11


def test_lodged_on_monday_morning_completion_falls_due_ten_business_days_later(
    council: Council, clock: FakeClock
) -> None:
    request = lodge(council, clock)

    assert request.complete_by == sydney(2026, 3, 16, 16, 30)


def test_lodged_on_friday_evening_the_count_starts_on_monday(
    council: Council, clock: FakeClock
) -> None:
    clock.set(sydney(2026, 3, 6, 17, 0))
    request = lodge(council, clock)

    assert request.acknowledge_by == sydney(2026, 3, 16, 16, 30)


def test_a_lodged_request_is_open_unacknowledged_unassigned_at_the_first_level(
    council: Council, clock: FakeClock
) -> None:
    request = lodge(council, clock)

    assert request.status is Status.OPEN
    assert request.is_open
    assert request.acknowledged_at is None
    assert request.officer is None
    assert request.level == "officer"
    assert request.lodged_at == sydney(2026, 3, 2, 10, 0)
    assert (request.note_count, request.delay_count, request.version) == (0, 0, 1)


def test_lodging_with_an_agreed_completion_date_makes_it_the_due_date(
    council: Council, clock: FakeClock
) -> None:
    request = lodge(council, clock, agreed_completion=date(2026, 4, 30))

    [event] = pending(request)
    assert event.discretionary is True
    assert event.agreed_completion == date(2026, 4, 30)
    assert request.complete_by == sydney(2026, 4, 30, 16, 30)


def test_lodging_without_a_description_is_refused(council: Council, clock: FakeClock) -> None:
    fields = lodgement_fields(council, an_intake(), REFERENCE, clock())
    fields["description"] = "   "

    with pytest.raises(InvalidCommand, match="description"):
        ServiceRequest.lodge(occurred_at=clock(), actor=OFFICER, **fields)


@pytest.mark.parametrize("plain", ["description", "customer"])
def test_personal_data_in_plain_text_is_never_recorded(
    council: Council, clock: FakeClock, plain: str
) -> None:
    fields = lodgement_fields(council, an_intake(), REFERENCE, clock())
    recorded = dict(sealed(fields), **{plain: fields[plain]})

    with pytest.raises(InvalidCommand, match="personal data and must be sealed"):
        ServiceRequest.lodge(occurred_at=clock(), actor=OFFICER, **recorded)


def test_lodging_at_an_instant_without_a_timezone_is_refused(
    council: Council, clock: FakeClock
) -> None:
    fields = lodgement_fields(council, an_intake(), REFERENCE, clock())

    with pytest.raises(InvalidCommand, match="timezone"):
        ServiceRequest.lodge(
            occurred_at=datetime(2026, 3, 2, 10, 0), actor=OFFICER, **sealed(fields)
        )


# -- acknowledge -----------------------------------------------------------------------------


def test_acknowledging_an_open_request_records_when_and_by_whom(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.acknowledge(occurred_at=clock(), actor=OFFICER)

    [event] = pending(request_)
    assert isinstance(event, ServiceRequest.Acknowledged)
    assert (event.occurred_at, event.actor, event.originator_version) == (clock(), OFFICER, 2)
    assert request_.acknowledged_at == clock()


def test_a_request_is_acknowledged_once_only(request_: ServiceRequest, clock: FakeClock) -> None:
    request_.acknowledge(occurred_at=clock(), actor=OFFICER)
    request_.collect_events()
    clock.advance(minutes=5)

    then_refused(
        request_,
        AlreadyAcknowledged,
        lambda: request_.acknowledge(occurred_at=clock(), actor=OFFICER),
    )


def test_a_closed_request_cannot_be_acknowledged(
    closed_request: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        closed_request,
        RequestClosed,
        lambda: closed_request.acknowledge(occurred_at=clock(), actor=OFFICER),
    )


# -- assign ----------------------------------------------------------------------------------


def test_assigning_records_the_new_and_the_previous_team_and_officer(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.assign(team="roads", officer="kwong", occurred_at=clock(), actor=LEADER)

    [event] = pending(request_)
    assert isinstance(event, ServiceRequest.Assigned)
    assert (event.team, event.officer) == ("roads", "kwong")
    assert (event.previous_team, event.previous_officer) == ("roads", None)
    assert (request_.team, request_.officer) == ("roads", "kwong")


def test_reassigning_records_the_team_and_officer_it_was_taken_from(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.assign(team="roads", officer="kwong", occurred_at=clock(), actor=LEADER)
    request_.collect_events()

    request_.assign(team="parks", officer=None, occurred_at=clock(), actor=LEADER)

    [event] = pending(request_)
    assert (event.team, event.officer) == ("parks", None)
    assert (event.previous_team, event.previous_officer) == ("roads", "kwong")
    assert (request_.team, request_.officer) == ("parks", None)


def test_assigning_to_the_same_team_and_officer_again_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.assign(team="roads", officer=None, occurred_at=clock(), actor=LEADER),
        match="already assigned",
    )


def test_assigning_to_the_same_team_with_a_blank_officer_is_refused_as_already_assigned(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    # A blank officer means "no officer" (it is recorded as None), so this changes nothing.
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.assign(team="roads", officer="", occurred_at=clock(), actor=LEADER),
        match="already assigned",
    )


def test_assigning_to_a_blank_team_is_refused(request_: ServiceRequest, clock: FakeClock) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.assign(team="  ", officer="kwong", occurred_at=clock(), actor=LEADER),
    )


def test_a_closed_request_cannot_be_assigned(
    closed_request: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        closed_request,
        RequestClosed,
        lambda: closed_request.assign(
            team="parks", officer=None, occurred_at=clock(), actor=LEADER
        ),
    )


# -- note ------------------------------------------------------------------------------------


def test_adding_a_note_records_its_text_kind_and_channel(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.add_note(
        text="  Called the customer back  ",
        note_kind=NoteKind.OUTGOING,
        channel=Channel.PHONE,
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert isinstance(event, ServiceRequest.NoteAdded)
    assert event.text == "Called the customer back"
    assert event.note_kind is NoteKind.OUTGOING
    assert event.channel is Channel.PHONE
    assert request_.note_count == 1


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_a_note_without_text_is_refused(
    request_: ServiceRequest, clock: FakeClock, text: str
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.add_note(
            text=text,
            note_kind=NoteKind.ACTION,
            channel=None,
            occurred_at=clock(),
            actor=OFFICER,
        ),
    )


def test_a_note_may_still_be_added_after_closure(
    closed_request: ServiceRequest, clock: FakeClock
) -> None:
    closed_request.add_note(
        text=TEST_SEALER.seal("Customer rang to say thanks") or "",
        note_kind=NoteKind.INCOMING,
        channel=Channel.PHONE,
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(closed_request)
    assert isinstance(event, ServiceRequest.NoteAdded)
    assert closed_request.status is Status.CLOSED
    assert closed_request.note_count == 1


# -- delay -----------------------------------------------------------------------------------


def test_delaying_records_the_reason_and_the_new_expected_completion(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.delay(
        horizon_days=730,
        reason="Waiting for the asphalt crew",
        until=date(2026, 3, 20),
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert isinstance(event, ServiceRequest.Delayed)
    assert event.reason == "Waiting for the asphalt crew"
    assert event.until == date(2026, 3, 20)
    assert event.expected_completion == sydney(2026, 3, 20, 16, 30)
    assert event.awaiting_customer is False
    assert request_.delay_count == 1


def test_a_delay_to_christmas_day_lands_at_the_close_of_the_next_business_day(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    # Friday 25 December 2026; Saturday, Sunday, then the Boxing Day substitute Monday 28 in
    # NSW: Tuesday 29 December at 16:30 (AEDT). Never refused for that.
    request_.delay(
        horizon_days=730,
        reason="Crew away",
        until=date(2026, 12, 25),
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert event.until == date(2026, 12, 25)
    assert event.expected_completion == sydney(2026, 12, 29, 16, 30)
    assert request_.complete_by == sydney(2026, 12, 29, 16, 30)


def test_a_delay_to_a_saturday_already_past_is_refused_though_it_would_roll_forward(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    # the clock's Monday 2 March 2026: Saturday 28 February is gone, whatever Monday it means
    with pytest.raises(InvalidCommand, match="not later than now"):
        request_.delay(
            horizon_days=730,
            reason="Crew away",
            until=date(2026, 2, 28),
            occurred_at=clock(),
            actor=OFFICER,
        )


def test_a_delay_moves_the_completion_due_instant_when_the_council_says_so(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    assert request_.standard is not None and request_.standard.delay_moves_due

    request_.delay(
        horizon_days=730,
        reason="Crew away",
        until=date(2026, 3, 20),
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert event.complete_by == sydney(2026, 3, 20, 16, 30)
    assert request_.complete_by == sydney(2026, 3, 20, 16, 30)


def test_a_delay_leaves_the_completion_due_instant_when_the_council_keeps_it(
    council: Council, clock: FakeClock
) -> None:
    request = lodge(dataclasses.replace(council, delay_moves_due=False), clock)
    request.collect_events()

    request.delay(
        horizon_days=730,
        reason="Crew away",
        until=date(2026, 3, 20),
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request)
    assert event.expected_completion == sydney(2026, 3, 20, 16, 30)
    assert event.complete_by == sydney(2026, 3, 16, 16, 30)
    assert request.complete_by == sydney(2026, 3, 16, 16, 30)


def test_a_delay_can_record_that_the_council_awaits_the_customer(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.delay(
        horizon_days=730,
        reason="Need photos",
        until=date(2026, 3, 20),
        awaiting_customer=True,
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert event.awaiting_customer is True


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_delay_without_a_reason_is_refused(
    request_: ServiceRequest, clock: FakeClock, reason: str
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.delay(
            horizon_days=730,
            reason=reason,
            until=date(2026, 3, 20),
            occurred_at=clock(),
            actor=OFFICER,
        ),
        match="reason",
    )


def test_a_delay_to_a_date_already_past_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.delay(
            horizon_days=730,
            reason="Crew away",
            until=date(2026, 2, 27),
            occurred_at=clock(),
            actor=OFFICER,
        ),
        match="not later than now",
    )


def test_a_delay_to_today_after_closing_time_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    clock.set(sydney(2026, 3, 2, 16, 30))

    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.delay(
            horizon_days=730,
            reason="Crew away",
            until=date(2026, 3, 2),
            occurred_at=clock(),
            actor=OFFICER,
        ),
        match="not later than now",
    )


def test_a_closed_request_cannot_be_delayed(
    closed_request: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        closed_request,
        RequestClosed,
        lambda: closed_request.delay(
            horizon_days=730,
            reason="Crew away",
            until=date(2026, 3, 20),
            occurred_at=clock(),
            actor=OFFICER,
        ),
    )


# -- escalate --------------------------------------------------------------------------------


def test_an_escalation_records_the_standard_and_the_due_instant_that_caused_it(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    missed = sydney(2026, 3, 9, 16, 30)
    clock.set(missed)
    request_.escalate(
        level="team-leader",
        reason="Not acknowledged",
        standard="acknowledgement",
        due=missed,
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert (event.standard, event.due) == ("acknowledgement", missed)


def watchdog_escalation(
    request: ServiceRequest,
    clock: FakeClock,
    standard: str,
    due: datetime,
    level: str = "team-leader",
) -> Callable[[], None]:
    """What the SLA watchdog issues on what its view showed: the level, the standard and the
    due instant it acts on, at the clock's instant."""
    return lambda: request.escalate(
        level=level,
        reason=f"{standard} missed",
        standard=standard,
        due=due,
        occurred_at=clock(),
        actor=OFFICER,
    )


def test_a_watchdog_escalation_before_the_standard_is_breached_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    # Acknowledge in 5 and complete in 10 business days from Monday 2 March 10:00.
    complete_by = sydney(2026, 3, 16, 16, 30)
    clock.set(complete_by - MICROSECOND)

    then_refused(
        request_,
        EscalationRefused,
        watchdog_escalation(request_, clock, "completion", complete_by),
        match="completion standard is not breached",
    )

    clock.set(complete_by)
    watchdog_escalation(request_, clock, "completion", complete_by)()
    [event] = pending(request_)
    assert (event.level, event.standard, event.due) == ("team-leader", "completion", complete_by)


def test_a_watchdog_escalation_a_delay_made_unwarranted_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    """The view still showed the due instant of before the delay: the request knows better."""
    stale = sydney(2026, 3, 16, 16, 30)
    clock.set(sydney(2026, 3, 10, 9, 0))
    request_.delay(
        horizon_days=730,
        reason="Asphalt supply",
        until=date(2026, 3, 27),
        occurred_at=clock(),
        actor=OFFICER,
    )
    request_.collect_events()
    clock.set(sydney(2026, 3, 17, 12, 0))

    then_refused(
        request_,
        EscalationRefused,
        watchdog_escalation(request_, clock, "completion", stale),
        match="falls due 2026-03-27",
    )

    clock.set(sydney(2026, 3, 27, 16, 30))
    watchdog_escalation(request_, clock, "completion", stale)()
    [event] = pending(request_)
    assert event.due == sydney(2026, 3, 27, 16, 30)  # the instant the request itself missed


def test_a_watchdog_escalation_during_a_customer_pause_is_refused_and_the_clock_resumes(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    """Paused Wednesday 4 March 10:00 awaiting the customer, with the delay's Friday 20 March
    16:30 due: 12 whole business days were left. Resumed by a note on Wednesday 22 April, the
    12th closes Monday 11 May 16:30 (Anzac Day's Monday 27 April skipped)."""
    request_.acknowledge(occurred_at=clock(), actor=OFFICER)
    clock.set(sydney(2026, 3, 4, 10, 0))
    request_.delay(
        horizon_days=730,
        reason="Need photos",
        until=date(2026, 3, 20),
        awaiting_customer=True,
        occurred_at=clock(),
        actor=OFFICER,
    )
    request_.collect_events()
    clock.set(sydney(2026, 4, 20, 12, 0))

    then_refused(
        request_,
        EscalationRefused,
        watchdog_escalation(request_, clock, "completion", sydney(2026, 3, 20, 16, 30)),
        match="not breached",
    )

    clock.set(sydney(2026, 4, 22, 10, 0))
    request_.add_note(
        text="Photos received",
        note_kind=NoteKind.ACTION,
        channel=None,
        occurred_at=clock(),
        actor=OFFICER,
    )
    request_.collect_events()
    resumed = sydney(2026, 5, 11, 16, 30)
    assert request_.escalation_due("completion", "team-leader") == resumed
    clock.set(resumed - MICROSECOND)
    then_refused(
        request_, EscalationRefused, watchdog_escalation(request_, clock, "completion", resumed)
    )
    clock.set(resumed)
    watchdog_escalation(request_, clock, "completion", resumed)()
    assert pending(request_)[-1].due == resumed


def test_a_watchdog_escalation_for_an_acknowledgement_made_meanwhile_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    missed = sydney(2026, 3, 9, 16, 30)
    clock.set(missed - MICROSECOND)
    request_.acknowledge(occurred_at=clock(), actor=OFFICER)
    request_.collect_events()
    clock.set(missed)

    then_refused(
        request_,
        EscalationRefused,
        watchdog_escalation(request_, clock, "acknowledgement", missed),
        match="acknowledgement standard is not breached",
    )


def test_a_persons_escalation_names_no_standard_and_an_unknown_one_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    with pytest.raises(InvalidCommand, match="unknown standard"):
        request_.escalate(
            level=None, reason="x", standard="politeness", occurred_at=clock(), actor=OFFICER
        )
    request_.escalate(level=None, reason="Customer upset", occurred_at=clock(), actor=OFFICER)

    [event] = pending(request_)
    assert (event.standard, event.due) == (None, None)


def test_escalating_without_a_level_goes_one_level_up(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.escalate(level=None, reason="Target missed", occurred_at=clock(), actor=OFFICER)

    [event] = pending(request_)
    assert isinstance(event, ServiceRequest.Escalated)
    assert (event.from_level, event.level, event.reason) == (
        "officer",
        "team-leader",
        "Target missed",
    )
    assert request_.level == "team-leader"


def test_escalating_to_a_named_higher_level_skips_the_levels_between(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.escalate(level="director", reason="Council asset", occurred_at=clock(), actor=LEADER)

    [event] = pending(request_)
    assert (event.from_level, event.level) == ("officer", "director")
    assert request_.level == "director"


def test_escalating_step_by_step_climbs_the_whole_chain(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    for _ in CHAIN[1:]:
        request_.escalate(level=None, reason="Still late", occurred_at=clock(), actor=OFFICER)

    events = pending(request_)
    assert [(e.from_level, e.level) for e in events] == list(pairwise(CHAIN))
    assert request_.level == "general-manager"


def test_escalating_above_the_top_of_the_chain_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.escalate(
        level="general-manager", reason="Mayor asked", occurred_at=clock(), actor=OFFICER
    )
    request_.collect_events()

    then_refused(
        request_,
        EscalationRefused,
        lambda: request_.escalate(level=None, reason="Again", occurred_at=clock(), actor=OFFICER),
        match="top of the chain",
    )


def test_escalating_to_the_current_level_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    request_.escalate(level="manager", reason="Late", occurred_at=clock(), actor=OFFICER)
    request_.collect_events()

    then_refused(
        request_,
        EscalationRefused,
        lambda: request_.escalate(
            level="manager", reason="Late again", occurred_at=clock(), actor=OFFICER
        ),
    )


def test_escalating_to_the_first_level_of_a_new_request_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        request_,
        EscalationRefused,
        lambda: request_.escalate(
            level="officer", reason="Late", occurred_at=clock(), actor=OFFICER
        ),
    )


def test_escalating_to_a_lower_level_is_refused(request_: ServiceRequest, clock: FakeClock) -> None:
    request_.escalate(level="director", reason="Late", occurred_at=clock(), actor=OFFICER)
    request_.collect_events()

    then_refused(
        request_,
        EscalationRefused,
        lambda: request_.escalate(
            level="team-leader", reason="Back down", occurred_at=clock(), actor=OFFICER
        ),
    )


def test_escalating_to_a_role_not_in_the_chain_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        request_,
        EscalationRefused,
        lambda: request_.escalate(level="mayor", reason="Late", occurred_at=clock(), actor=OFFICER),
        match="not in the escalation chain",
    )


def test_an_escalation_without_a_reason_is_refused(
    request_: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.escalate(level=None, reason=" ", occurred_at=clock(), actor=OFFICER),
    )


def test_a_closed_request_cannot_be_escalated(
    closed_request: ServiceRequest, clock: FakeClock
) -> None:
    then_refused(
        closed_request,
        RequestClosed,
        lambda: closed_request.escalate(
            level=None, reason="Late", occurred_at=clock(), actor=OFFICER
        ),
    )


# -- close -----------------------------------------------------------------------------------


def test_closing_records_the_outcome_and_text_and_closes_the_request(
    request_: ServiceRequest, council: Council, clock: FakeClock
) -> None:
    request_.close(
        outcome="completed",
        text=" Pothole patched ",
        outcomes=council.outcomes.keys(),
        occurred_at=clock(),
        actor=OFFICER,
    )

    [event] = pending(request_)
    assert isinstance(event, ServiceRequest.Closed)
    assert (event.outcome, event.text) == ("completed", "Pothole patched")
    assert request_.status is Status.CLOSED
    assert not request_.is_open
    assert request_.closed_at == clock()
    assert request_.outcome == "completed"


def test_closing_with_an_outcome_the_council_does_not_know_is_refused(
    request_: ServiceRequest, council: Council, clock: FakeClock
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.close(
            outcome="fixed",
            text="Done",
            outcomes=council.outcomes.keys(),
            occurred_at=clock(),
            actor=OFFICER,
        ),
        match="unknown outcome",
    )


@pytest.mark.parametrize("text", ["", "  "])
def test_closing_without_a_text_is_refused(
    request_: ServiceRequest, council: Council, clock: FakeClock, text: str
) -> None:
    then_refused(
        request_,
        InvalidCommand,
        lambda: request_.close(
            outcome="completed",
            text=text,
            outcomes=council.outcomes.keys(),
            occurred_at=clock(),
            actor=OFFICER,
        ),
    )


def test_a_request_is_closed_once_only(
    closed_request: ServiceRequest, council: Council, clock: FakeClock
) -> None:
    then_refused(
        closed_request,
        RequestClosed,
        lambda: closed_request.close(
            outcome="duplicate",
            text="Again",
            outcomes=council.outcomes.keys(),
            occurred_at=clock(),
            actor=OFFICER,
        ),
        match="already closed",
    )


# -- every command -----------------------------------------------------------------------------

NAIVE = datetime(2026, 3, 2, 11, 0)

COMMANDS: dict[str, Callable[[ServiceRequest, datetime], None]] = {
    "acknowledge": lambda r, t: r.acknowledge(occurred_at=t, actor=OFFICER),
    "assign": lambda r, t: r.assign(team="parks", officer=None, occurred_at=t, actor=OFFICER),
    "note": lambda r, t: r.add_note(
        text="x", note_kind=NoteKind.ACTION, channel=None, occurred_at=t, actor=OFFICER
    ),
    "delay": lambda r, t: r.delay(
        horizon_days=730, reason="x", until=date(2026, 3, 20), occurred_at=t, actor=OFFICER
    ),
    "escalate": lambda r, t: r.escalate(level=None, reason="x", occurred_at=t, actor=OFFICER),
    "close": lambda r, t: r.close(
        outcome="completed", text="x", outcomes={"completed"}, occurred_at=t, actor=OFFICER
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_at_an_instant_without_a_timezone_is_refused(
    request_: ServiceRequest, command: str
) -> None:
    then_refused(request_, InvalidCommand, lambda: COMMANDS[command](request_, NAIVE))


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_on_an_open_request_records_exactly_one_event(
    request_: ServiceRequest, clock: FakeClock, command: str
) -> None:
    COMMANDS[command](request_, clock())

    [event] = pending(request_)
    assert event.originator_version == 2
    assert (event.occurred_at, event.actor) == (clock(), OFFICER)


# -- replay ----------------------------------------------------------------------------------


def a_full_lifecycle(council: Council, clock: FakeClock, **intake: Any) -> ServiceRequest:
    request = lodge(council, clock, **intake)
    clock.advance(hours=1)
    request.acknowledge(occurred_at=clock(), actor=OFFICER)
    clock.advance(hours=1)
    request.assign(team="roads", officer="kwong", occurred_at=clock(), actor=LEADER)
    clock.advance(hours=1)
    request.add_note(
        text="Inspected",
        note_kind=NoteKind.OUTGOING,
        channel=Channel.EMAIL,
        occurred_at=clock(),
        actor=OFFICER,
    )
    clock.advance(days=1)
    request.delay(
        horizon_days=730,
        reason="Asphalt on order",
        until=date(2026, 3, 27),
        awaiting_customer=True,
        occurred_at=clock(),
        actor=OFFICER,
    )
    clock.advance(days=1)
    request.escalate(level=None, reason="Customer complained", occurred_at=clock(), actor=OFFICER)
    clock.advance(days=1)
    request.close(
        outcome="completed",
        text="Patched",
        outcomes=council.outcomes.keys(),
        occurred_at=clock(),
        actor=OFFICER,
    )
    return request


def test_replaying_the_stored_events_gives_the_same_state(
    council: Council, clock: FakeClock
) -> None:
    app = CrmApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    request = a_full_lifecycle(council, clock)
    app.save(request)

    replayed: ServiceRequest = app.repository.get(request.id)

    assert replayed is not request
    assert replayed.version == 7
    assert vars(replayed) == vars(request)


def test_enums_and_value_objects_come_back_as_themselves_from_the_sqlite_store(
    council: Council, clock: FakeClock, tmp_path: Path
) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")}
    writer = CrmApplication(env=env)
    request = a_full_lifecycle(
        council,
        clock,
        channel=Channel.EMAIL,
        kind=RequestKind.COMPLAINT,
        customer=Customer(
            name="Ann Lee", email="ann@example.org", preferred_contact=ContactMethod.EMAIL
        ),
        agreed_completion=date(2026, 4, 30),
    )
    writer.save(request)
    writer.close()

    reader = CrmApplication(env=env)  # a fresh application: nothing cached, all from the file
    events: list[Any] = list(reader.repository.event_store.get(request.id))
    replayed: ServiceRequest = reader.repository.get(request.id)
    reader.close()

    lodged, _, _, note, delayed, _, _ = events
    assert lodged.channel is Channel.EMAIL
    assert lodged.kind is RequestKind.COMPLAINT
    assert isinstance(lodged.customer, Customer)
    assert lodged.customer.preferred_contact is ContactMethod.EMAIL
    assert lodged.agreed_completion == date(2026, 4, 30)
    assert type(lodged.agreed_completion) is date
    assert isinstance(lodged.standard, ServiceStandard)
    assert lodged.standard.escalation_roles == CHAIN
    # the recorded holidays come back as dates, as they were resolved at lodgement
    assert lodged.standard.calendar == BusinessCalendar(council.calendar).resolved_spec(2026, 2028)
    assert replayed.standard is not None
    assert replayed.standard.calendar.holidays_of(2027) is not None
    assert lodged.actor == OFFICER
    assert note.note_kind is NoteKind.OUTGOING
    assert note.channel is Channel.EMAIL
    assert type(delayed.until) is date
    assert replayed.status is Status.CLOSED
    assert replayed.roles == CHAIN
    assert vars(replayed) == vars(request)


def test_a_calendar_recorded_by_an_earlier_release_still_decodes(council: Council) -> None:
    """Calendars are stored as their own plain JSON now (a recorded calendar carries dozens of
    holidays); events stored field by field, with a transcoding per date, still read back."""
    from eventsourcing.persistence import JSONTranscoder

    from infra.transcodings import DataclassAsDict, DateAsISO, TimeAsISO, register_all

    spec = BusinessCalendar(council.calendar).resolved_spec(2026, 2027)
    earlier = JSONTranscoder()
    for transcoding in (DateAsISO(), TimeAsISO(), DataclassAsDict(CalendarSpec)):
        earlier.register(transcoding)
    now = JSONTranscoder()
    register_all(now)

    assert now.decode(earlier.encode({"calendar": spec})) == {"calendar": spec}
    assert now.decode(now.encode({"calendar": spec})) == {"calendar": spec}
    assert b"councilcrm.CalendarSpec.plain" in now.encode({"calendar": spec})


# -- a disposed record -------------------------------------------------------------------------


@pytest.fixture
def disposed_request(
    closed_request: ServiceRequest, council: Council, clock: FakeClock
) -> ServiceRequest:
    """The closed pothole, disposed of once its retention (two years here) ran out."""
    clock.set(sydney(2028, 3, 3, 10))
    closed_request.dispose(
        retention=RetentionClass(code="routine", years=2, citation="GA39 (NSW): routine"),
        timezone="Australia/Sydney",
        reason="Disposal run 2028",
        erased="customer",
        asked_for=REFERENCE,
        occurred_at=clock(),
        actor=Actor(id="rec", role="records-officer"),
    )
    closed_request.collect_events()
    clock.advance(hours=1)
    return closed_request


DISPOSED_COMMANDS: dict[str, Callable[[ServiceRequest, datetime], None]] = {
    "note": lambda r, at: r.add_note(
        text="Rang back", note_kind=NoteKind.ACTION, channel=None, occurred_at=at, actor=LEADER
    ),
    "reopen": lambda r, at: r.reopen(
        reason="Opened up again", complete_by=None, occurred_at=at, actor=LEADER
    ),
    "publish": lambda r, at: r.approve_public_description(
        text="Pothole in Main St", occurred_at=at, actor=LEADER
    ),
    "attach": lambda r, at: r.attach(
        sha256="a" * 64,
        blob="b" * 64,
        media_type="text/plain",
        size=3,
        filename=TEST_SEALER.seal("letter.txt") or "",
        note=None,
        occurred_at=at,
        actor=LEADER,
    ),
    "satisfaction": lambda r, at: r.record_satisfaction(
        score=4, comment=None, scale=(1, 5), occurred_at=at, actor=LEADER
    ),
}


@pytest.mark.parametrize("command", DISPOSED_COMMANDS, ids=str)
def test_a_disposed_request_refuses_every_change_and_records_nothing(
    disposed_request: ServiceRequest, clock: FakeClock, command: str
) -> None:
    then_refused(
        disposed_request,
        RequestDisposed,
        lambda: DISPOSED_COMMANDS[command](disposed_request, clock()),
        match=f"{REFERENCE} was disposed of on 2028-03-03",
    )


def test_no_request_is_linked_to_a_disposed_one_nor_a_disposed_one_to_another(
    disposed_request: ServiceRequest, council: Council, clock: FakeClock
) -> None:
    other = lodge(council, clock, reference="UL-2028-000001")
    other.collect_events()
    for duplicate, original in ((other, disposed_request), (disposed_request, other)):
        before = copy.deepcopy(vars(other))
        with pytest.raises(RequestDisposed, match="was disposed of"):
            duplicate.link_duplicate_of(
                original,
                reason="Same pothole",
                outcome="duplicate",
                occurred_at=clock(),
                actor=LEADER,
            )
        assert other.collect_events() == [] and disposed_request.collect_events() == []
        assert vars(other) == before
