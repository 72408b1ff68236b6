"""The request summary read model: each event of a real request turns into the row written out
here.

Given a pothole lodged by phone on Monday 2 March 2026 at 10:00 in Sydney (acknowledge by the
5th business day's close, Monday 9 March 16:30; complete by the 20th's, Monday 30 March 16:30).
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from projections.request_summary import RequestSummary, by_reference
from tests.unit.projections.story import (
    COUNCIL,
    FIRST,
    EventLog,
    Story,
    apply,
    id_of,
    only_row,
    rows,
    sydney,
)

LODGED_AT = sydney(2026, 3, 2, 10)
AN_HOUR_LATER = sydney(2026, 3, 2, 11)
LODGED = {
    "request_id": id_of(FIRST),
    "council": "upper-lachlan",
    "reference": "UL-2026-000001",
    "status": "open",
    "category": "pothole",
    "category_name": "Pothole in a road",
    "kind": "service-request",
    "channel": "phone",
    "team": "roads",
    "officer": None,
    "urgent": False,
    "level": "officer",
    "lodged_at": LODGED_AT,
    "acknowledged_at": None,
    "acknowledge_by": sydney(2026, 3, 9, 16, 30),
    "complete_by": sydney(2026, 3, 30, 16, 30),
    "closed_at": None,
    "outcome": None,
    "notes": 0,
    "delays": 0,
    "escalations": 0,
    "customer": None,
    "disposed_at": None,
    "duplicate_of": None,
    "duplicates": 0,
    "referred_to": None,
    "reopens": 0,
    "version": 1,
}


@pytest.fixture
def model() -> RequestSummary:
    return RequestSummary()


@pytest.fixture
def pothole(log: EventLog) -> Story:
    return log.lodge(at=LODGED_AT)


def test_a_lodged_request_is_open_with_its_due_instants_and_nothing_done_yet(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    assert rows(model, engine) == [LODGED]


def test_acknowledging_records_when_it_was_acknowledged(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.acknowledge(at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {**LODGED, "acknowledged_at": AN_HOUR_LATER, "version": 2}


def test_assigning_records_the_new_team_and_officer(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.assign(team="parks", officer="kwong", at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {**LODGED, "team": "parks", "officer": "kwong", "version": 2}


def test_every_note_is_counted(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.note("Rang the customer", at=AN_HOUR_LATER)
    pothole.note("Customer rang back", at=sydney(2026, 3, 2, 12))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {**LODGED, "notes": 2, "version": 3}


def test_a_note_after_closure_is_still_counted(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.close(at=AN_HOUR_LATER)
    pothole.note("Customer rang to say thanks", at=sydney(2026, 3, 3, 9))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "closed",
        "closed_at": AN_HOUR_LATER,
        "outcome": "completed",
        "notes": 1,
        "version": 3,
    }


def test_every_delay_is_counted_and_the_last_one_sets_the_completion_due_instant(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.delay(until=date(2026, 4, 24), at=AN_HOUR_LATER)
    pothole.delay(until=date(2026, 5, 8), at=sydney(2026, 3, 9, 10))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "complete_by": sydney(2026, 5, 8, 16, 30),
        "delays": 2,
        "version": 3,
    }


def test_every_escalation_is_counted_and_the_last_one_sets_the_level(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.escalate(at=AN_HOUR_LATER)
    pothole.escalate(at=sydney(2026, 3, 2, 12))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "level": "manager",
        "escalations": 2,
        "version": 3,
    }


def test_closing_records_when_and_with_what_outcome(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    pothole.close(at=AN_HOUR_LATER, outcome="referred", text="Sent to Transport for NSW")

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "closed",
        "closed_at": AN_HOUR_LATER,
        "outcome": "referred",
        "version": 2,
    }


def test_a_request_is_found_by_its_reference(
    log: EventLog, pothole: Story, model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    with engine.connect() as conn:
        assert by_reference(conn, model, COUNCIL, "UL-2026-000001") == LODGED
        assert by_reference(conn, model, COUNCIL, "UL-2026-000002") is None
        assert by_reference(conn, model, "canterbury", "UL-2026-000001") is None
