"""The SLA read model: each event of a real request turns into the row written out here, its
derived instants worked out by hand in Upper Lachlan's business calendar (Monday to Friday,
08:00 to 16:30 in Sydney, 8.5 hours a day; Good Friday 3 and Easter Monday 6 April 2026 are
holidays; the clocks go back on Sunday 5 April).

Given a pothole lodged by phone on Monday 2 March 2026 at 10:00 by a customer who asked to be
called back: acknowledge within 5 business days, complete within 20, a progress notice after 15,
at risk after 80% of the time, escalation chain officer → team-leader (at once on a breach) →
manager (5 days later) → director → general-manager; a missed acknowledgement raises it to the
team leader at once (seed 002: proactive escalation when standards are missed).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from domain.values import Customer, NoticeKind
from projections.base import Row
from projections.sla import Sla
from tests.unit.projections.story import (
    FIRST,
    LEADER,
    EventLog,
    Story,
    apply,
    id_of,
    only_row,
    sydney,
)

LODGED_AT = sydney(2026, 3, 2, 10)
AN_HOUR_LATER = sydney(2026, 3, 2, 11)
COMPLETE_BY = sydney(2026, 3, 30, 16, 30)  # the 20th business day's close
ACKNOWLEDGE_BY = sydney(2026, 3, 9, 16, 30)  # the 5th business day's close
ON_COMPLETION = {"next_level_due": COMPLETE_BY, "next_level_standard": "completion"}
LODGED = {
    "request_id": id_of(FIRST),
    "council": "upper-lachlan",
    "reference": "UL-2026-000001",
    "category": "pothole",
    "category_name": "Pothole in a road",
    "team": "roads",
    "officer": None,
    "channel": "phone",
    "kind": "service-request",
    "urgent": False,
    "discretionary": False,
    "imported": False,
    "open": True,
    "level": "officer",
    "escalations": 0,
    "lodged_by": "jsmith",
    "lodged_at": LODGED_AT,
    "received_at": LODGED_AT,
    "acknowledge_by": sydney(2026, 3, 9, 16, 30),
    "acknowledged_at": None,
    "complete_by": COMPLETE_BY,
    # 176.5 business hours to completion (6.5 on the day, then 20 days); 80% is 141.2 hours:
    # 6.5 on the day, 15 days to Monday 23 March, then 7.2 hours into Tuesday 24 March.
    "at_risk_from": sydney(2026, 3, 24, 15, 12),
    "paused_at": None,
    # Not acknowledged yet: the acknowledgement's breach comes first, at its due instant.
    "next_level": "team-leader",
    "next_level_due": ACKNOWLEDGE_BY,
    "next_level_standard": "acknowledgement",
    "acknowledgement_escalated": False,
    # The same rule as the targets: the close of the 15th business day after Monday 2 March
    # (3-6, 9-13, 16-20, 23 March).
    "progress_notice_due": sydney(2026, 3, 23, 16, 30),
    "progress_notice_sent": False,
    "progress_notice_at": None,
    "contact": "phone",
    "touched": False,
    "closed_at": None,
    "outcome": None,
    "business_days_to_complete": None,
    "duplicate_of": None,
    "version": 1,
}


@pytest.fixture
def model() -> Sla:
    return Sla()


@pytest.fixture
def pothole(log: EventLog) -> Story:
    return log.lodge(at=LODGED_AT)


def sla_row(model: Sla, engine: sa.Engine) -> Row:
    """The request's one row, less the recorded standard (checked on its own)."""
    return {k: v for k, v in only_row(model, engine).items() if k != "standard"}


def test_a_lodged_request_gets_its_due_instants_at_risk_threshold_and_next_escalation(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == LODGED


def test_the_row_keeps_the_standard_recorded_at_lodgement(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    standard: dict[str, Any] = json.loads(only_row(model, engine)["standard"])
    assert standard["category_name"] == "Pothole in a road"
    assert (standard["acknowledge_days"], standard["complete_days"]) == (5, 20)
    assert standard["escalation_roles"] == [
        "officer",
        "team-leader",
        "manager",
        "director",
        "general-manager",
    ]
    assert standard["calendar"]["timezone"] == "Australia/Sydney"


def test_acknowledging_records_when(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.acknowledge(at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    # Acknowledged in time: the next breach that can escalate it is the completion target's.
    assert sla_row(model, engine) == {
        **LODGED,
        **ON_COMPLETION,
        "acknowledged_at": AN_HOUR_LATER,
        "version": 2,
    }


def test_assigning_records_the_new_team_and_officer_and_that_the_request_was_touched(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.assign(team="parks", officer="kwong", at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == {
        **LODGED,
        "team": "parks",
        "officer": "kwong",
        "touched": True,
        "version": 2,
    }


def test_a_note_leaves_the_schedule_as_it_was(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.note(at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == {**LODGED, "version": 2}


def test_an_escalation_makes_the_manager_due_five_business_days_after_the_breach(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.escalate(at=AN_HOUR_LATER, actor=LEADER)

    apply(model, engine, log.envelopes())

    # Five business days after Monday 30 March's close, Easter skipped: 31 March, 1, 2, 7, 8
    # April; the clocks have gone back by then.
    assert sla_row(model, engine) == {
        **LODGED,
        "level": "team-leader",
        "escalations": 1,
        "touched": True,
        "next_level": "manager",
        "next_level_due": sydney(2026, 4, 8, 16, 30),
        "next_level_standard": "completion",
        "version": 2,
    }


def test_a_delay_moves_the_completion_due_instant_and_everything_derived_from_it(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.delay(until=date(2026, 4, 24), at=sydney(2026, 3, 9, 10))

    apply(model, engine, log.envelopes())

    # Lodgement to Friday 24 April's close: 6.5 hours and 37 business days (21 in March after
    # the 2nd, 16 in April without Easter) = 321 hours; 80% is 256.8 hours: 6.5 on the day, 29
    # days to Tuesday 14 April, then 3.8 hours into Wednesday 15 April.
    assert sla_row(model, engine) == {
        **LODGED,
        "complete_by": sydney(2026, 4, 24, 16, 30),
        "at_risk_from": sydney(2026, 4, 15, 11, 48),
        "touched": True,
        "version": 2,
    }


@pytest.fixture
def awaiting_customer(pothole: Story) -> Story:
    """Given the pothole delayed on Monday 9 March at 10:00 until Friday 20 March, awaiting the
    customer's further information."""
    return pothole.delay(until=date(2026, 3, 20), at=sydney(2026, 3, 9, 10), awaiting_customer=True)


# Lodgement to Friday 20 March's close: 6.5 hours and 14 days = 125.5 hours; 80% is 100.4 hours:
# 6.5 on the day, 11 days to Tuesday 17 March, then 0.4 hours into Wednesday 18 March.
AT_RISK_BEFORE_20_MARCH = sydney(2026, 3, 18, 8, 24)


def test_a_delay_awaiting_the_customer_stops_the_clock_and_any_escalation(
    log: EventLog, awaiting_customer: Story, model: Sla, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == {
        **LODGED,
        "complete_by": sydney(2026, 3, 20, 16, 30),
        "at_risk_from": AT_RISK_BEFORE_20_MARCH,
        "paused_at": sydney(2026, 3, 9, 10),
        "next_level": None,
        "next_level_due": None,
        "next_level_standard": None,
        "touched": True,
        "version": 2,
    }


def test_the_next_action_restarts_the_clock_with_the_business_days_that_were_left(
    log: EventLog, awaiting_customer: Story, model: Sla, engine: sa.Engine
) -> None:
    awaiting_customer.note("Customer sent photos", at=sydney(2026, 3, 16, 10))

    apply(model, engine, log.envelopes())

    # Paused on Monday 9 March, day 0: the 20th closes 9 business days later (10-13, 16-20).
    # Resumed on Monday 16 March, the 9th business day after it closes: Friday 27 March. At
    # risk: 80% of 168 hours (6.5 and 19 days) from lodgement is 134.4 hours, 0.4 hours into
    # Tuesday 24 March. Still not acknowledged: that breach is the next escalation.
    assert sla_row(model, engine) == {
        **LODGED,
        "complete_by": sydney(2026, 3, 27, 16, 30),
        "at_risk_from": sydney(2026, 3, 24, 8, 24),
        "touched": True,
        "version": 3,
    }


def test_a_pause_over_a_weekend_and_a_holiday_resumes_by_whole_business_days(
    log: EventLog, model: Sla, engine: sa.Engine
) -> None:
    # Given a pothole lodged Thursday 26 March 2026 at 09:00 and acknowledged
    story = log.lodge(at=sydney(2026, 3, 26, 9))
    story.acknowledge(at=sydney(2026, 3, 26, 9, 30))
    # paused on Thursday 2 April at 15:00 (day 0) with a new date of Tuesday 28 April (the
    # Anzac Day Monday 27 is closed in NSW): 15 business days left (7-10, 13-17, 20-24, 28).
    story.delay(until=date(2026, 4, 28), at=sydney(2026, 4, 2, 15), awaiting_customer=True)
    # When the customer answers on Saturday 4 April (Easter; the clocks go back on Sunday 5),
    # day 0 is Tuesday 7 April, the next opening.
    story.note("Customer sent photos", at=sydney(2026, 4, 4, 11))

    apply(model, engine, log.envelopes())

    # 15 business days after Tuesday 7 April: 8-10, 13-17, 20-24, 28, 29 April — one later,
    # for the one business day (Thursday 2 April) the customer took.
    row = only_row(model, engine)
    assert row["complete_by"] == sydney(2026, 4, 29, 16, 30)
    assert row["paused_at"] is None


def test_a_notice_to_the_customer_does_not_restart_the_clock(
    log: EventLog, awaiting_customer: Story, model: Sla, engine: sa.Engine
) -> None:
    awaiting_customer.send_notice(NoticeKind.DELAY, at=sydney(2026, 3, 9, 11))

    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == {
        **LODGED,
        "complete_by": sydney(2026, 3, 20, 16, 30),
        "at_risk_from": AT_RISK_BEFORE_20_MARCH,
        "paused_at": sydney(2026, 3, 9, 10),
        "next_level": None,
        "next_level_due": None,
        "next_level_standard": None,
        "touched": True,
        "version": 3,
    }


def test_once_a_progress_notice_is_sent_the_next_falls_due_at_the_councils_interval(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.send_notice(NoticeKind.PROGRESS, at=sydney(2026, 3, 23, 16, 45))

    apply(model, engine, log.envelopes())

    # Sent after hours on Monday 23 March: day 0 is Tuesday 24; 15 business days after it:
    # 25-27, 30, 31 March, 1, 2, (Easter) 7-10, 13-16 April → Thursday 16 April's close.
    assert sla_row(model, engine) == {
        **LODGED,
        "progress_notice_sent": True,
        "progress_notice_at": sydney(2026, 3, 23, 16, 45),
        "progress_notice_due": sydney(2026, 4, 16, 16, 30),
        "version": 2,
    }


def test_closing_records_the_outcome_and_the_business_days_it_took_and_clears_the_schedule(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.close(at=sydney(2026, 3, 4, 14, 15))

    apply(model, engine, log.envelopes())

    # 6.5 + 8.5 + 6.25 business hours = 21.25 hours: 2.5 days of 8.5 hours.
    assert sla_row(model, engine) == {
        **LODGED,
        "open": False,
        "closed_at": sydney(2026, 3, 4, 14, 15),
        "outcome": "completed",
        "business_days_to_complete": 2.5,
        "at_risk_from": None,
        "next_level": None,
        "next_level_due": None,
        "next_level_standard": None,
        "progress_notice_due": None,
        "version": 2,
    }


def test_an_urgent_request_is_due_with_the_team_leader_at_once(
    log: EventLog, model: Sla, engine: sa.Engine
) -> None:
    log.lodge(at=LODGED_AT, category="tree-over-road")

    apply(model, engine, log.envelopes())

    # Acknowledge the same day, complete by the next day's close: 15 business hours, 80% = 12.
    assert sla_row(model, engine) == {
        **LODGED,
        "category": "tree-over-road",
        "category_name": "Tree over road",
        "urgent": True,
        "acknowledge_by": sydney(2026, 3, 2, 16, 30),
        "complete_by": sydney(2026, 3, 3, 16, 30),
        "at_risk_from": sydney(2026, 3, 3, 13, 30),
        "next_level": "team-leader",
        "next_level_due": LODGED_AT,
        "next_level_standard": "urgent",
    }


def test_a_missed_agreed_date_goes_straight_to_the_director(
    log: EventLog, model: Sla, engine: sa.Engine
) -> None:
    log.lodge(at=LODGED_AT, agreed_completion=date(2026, 3, 20)).acknowledge(at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == {
        **LODGED,
        "discretionary": True,
        "complete_by": sydney(2026, 3, 20, 16, 30),
        "at_risk_from": AT_RISK_BEFORE_20_MARCH,
        "acknowledged_at": AN_HOUR_LATER,
        "next_level": "director",
        "next_level_due": sydney(2026, 3, 20, 16, 30),
        "next_level_standard": "discretionary",
        "version": 2,
    }


def test_an_agreed_date_on_a_public_holiday_lands_at_the_next_business_days_close(
    log: EventLog, model: Sla, engine: sa.Engine
) -> None:
    # Good Friday 3 April 2026, then Easter Monday: the next business day is Tuesday 7 April,
    # after the clocks went back (AEST, UTC+10).
    log.lodge(at=LODGED_AT, agreed_completion=date(2026, 4, 3))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine)["complete_by"] == sydney(2026, 4, 7, 16, 30)


def test_a_request_received_before_it_was_keyed_in_counts_from_receipt(
    log: EventLog, model: Sla, engine: sa.Engine
) -> None:
    # A letter received on Friday 27 February, keyed in on Monday 2 March: day 0 is the
    # Friday, so the 5th business day is Friday 6 March and the 20th Friday 27 March.
    received = sydney(2026, 2, 27, 11)
    log.lodge(at=LODGED_AT, received_at=received)

    apply(model, engine, log.envelopes())

    row = only_row(model, engine)
    assert (row["lodged_at"], row["received_at"]) == (LODGED_AT, received)
    assert row["acknowledge_by"] == sydney(2026, 3, 6, 16, 30)
    assert row["complete_by"] == sydney(2026, 3, 27, 16, 30)


def test_a_customer_who_left_no_way_to_reach_them_is_owed_no_progress_notice(
    log: EventLog, model: Sla, engine: sa.Engine
) -> None:
    log.lodge(at=LODGED_AT, customer=Customer(name="Bo Grant", address="1 Main St"))

    apply(model, engine, log.envelopes())

    assert sla_row(model, engine) == {**LODGED, "contact": None, "progress_notice_due": None}


def test_an_acknowledgement_escalation_is_recorded_and_the_completion_ladder_goes_on_above_it(
    log: EventLog, pothole: Story, model: Sla, engine: sa.Engine
) -> None:
    pothole.request.escalate(
        level="team-leader",
        reason="acknowledgement missed",
        standard="acknowledgement",
        due=ACKNOWLEDGE_BY,
        occurred_at=pothole.at(sydney(2026, 3, 9, 16, 45)),
        actor=LEADER,
    )
    pothole.saved()

    apply(model, engine, log.envelopes())

    # One ladder: the team leader was reached through the acknowledgement; the completion
    # breach continues from there, the manager 5 business days after 30 March.
    row = sla_row(model, engine)
    assert (row["level"], row["acknowledgement_escalated"]) == ("team-leader", True)
    assert (row["next_level"], row["next_level_due"], row["next_level_standard"]) == (
        "manager",
        sydney(2026, 4, 8, 16, 30),
        "completion",
    )
