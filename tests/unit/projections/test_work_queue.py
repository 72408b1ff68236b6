"""The work queue read model: each event of a real request turns into the row written out here.

Given a pothole lodged by phone on Monday 2 March 2026 at 10:00 in Sydney (acknowledge by the
5th business day's close, Monday 9 March 16:30; complete by the 20th's, Monday 30 March 16:30).
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from domain.values import NoticeKind
from projections.work_queue import QueueFilter, WorkQueue, query
from tests.unit.projections.story import (
    COUNCIL,
    FIRST,
    SECOND,
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
    "team": "roads",
    "officer": None,
    "category": "pothole",
    "urgent": False,
    "priority": False,
    "status": "lodged",
    "level": "officer",
    "acknowledge_by": sydney(2026, 3, 9, 16, 30),
    "complete_by": sydney(2026, 3, 30, 16, 30),
    "lodged_at": LODGED_AT,
    "last_action": "Lodged",
    "last_action_at": LODGED_AT,
    "version": 1,
}


@pytest.fixture
def model() -> WorkQueue:
    return WorkQueue()


@pytest.fixture
def pothole(log: EventLog) -> Story:
    return log.lodge(at=LODGED_AT)


def open_queue(model: WorkQueue, engine: sa.Engine, **f: str) -> list[str]:
    with engine.connect() as conn:
        return [r["reference"] for r in query(conn, model, QueueFilter(council=COUNCIL, **f))]


def test_a_lodged_request_joins_its_categorys_team_queue_at_the_first_level(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    assert rows(model, engine) == [LODGED]


def test_acknowledging_marks_the_request_acknowledged(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.acknowledge(at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "acknowledged",
        "last_action": "Acknowledged",
        "last_action_at": AN_HOUR_LATER,
        "version": 2,
    }


def test_assigning_moves_the_request_to_the_new_team_and_officer(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.assign(team="parks", officer="kwong", at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "team": "parks",
        "officer": "kwong",
        "status": "assigned",
        "last_action": "Assigned",
        "last_action_at": AN_HOUR_LATER,
        "version": 2,
    }


def test_an_assigned_request_leaves_the_old_teams_queue_for_the_new_officers(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.assign(team="parks", officer="kwong", at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert open_queue(model, engine, team="roads") == []
    assert open_queue(model, engine, team="parks") == [FIRST]
    assert open_queue(model, engine, officer="kwong") == [FIRST]


def test_a_delay_moves_the_completion_due_instant_to_the_new_dates_close(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.delay(until=date(2026, 4, 24), at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "delayed",
        "complete_by": sydney(2026, 4, 24, 16, 30),
        "last_action": "Delayed",
        "last_action_at": AN_HOUR_LATER,
        "version": 2,
    }


def test_an_escalation_raises_the_level(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.escalate(at=AN_HOUR_LATER)

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "escalated",
        "level": "team-leader",
        "last_action": "Escalated",
        "last_action_at": AN_HOUR_LATER,
        "version": 2,
    }


def test_a_note_or_a_notice_is_the_last_action_but_leaves_the_status(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.acknowledge(at=AN_HOUR_LATER)
    pothole.note(at=sydney(2026, 3, 2, 12))
    pothole.send_notice(NoticeKind.ACKNOWLEDGEMENT, at=sydney(2026, 3, 2, 13))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "acknowledged",
        "last_action": "NoticeSent",
        "last_action_at": sydney(2026, 3, 2, 13),
        "version": 4,
    }


def test_a_closed_request_stays_closed_when_a_note_follows_and_leaves_the_queue(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    pothole.close(at=AN_HOUR_LATER)
    pothole.note("Customer rang to say thanks", at=sydney(2026, 3, 3, 9))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "status": "closed",
        "last_action": "NoteAdded",
        "last_action_at": sydney(2026, 3, 3, 9),
        "version": 3,
    }
    assert open_queue(model, engine, team="roads") == []


def test_an_urgent_request_comes_first_in_its_teams_queue(
    log: EventLog, pothole: Story, model: WorkQueue, engine: sa.Engine
) -> None:
    log.lodge(at=AN_HOUR_LATER, reference=SECOND, category="tree-over-road")

    apply(model, engine, log.envelopes())

    assert open_queue(model, engine, team="roads") == [SECOND, FIRST]
    assert {r["reference"]: r for r in rows(model, engine)}[SECOND] == {
        **LODGED,
        "request_id": id_of(SECOND),
        "reference": "UL-2026-000002",
        "category": "tree-over-road",
        "urgent": True,
        "acknowledge_by": sydney(2026, 3, 2, 16, 30),
        "complete_by": sydney(2026, 3, 3, 16, 30),
        "lodged_at": AN_HOUR_LATER,
        "last_action_at": AN_HOUR_LATER,
    }
