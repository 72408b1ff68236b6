"""What the public sees of a request: the row each event of a real request leaves, never a
contact detail nor the resident's own words, and a description only once staff approved one.

Given a pothole lodged by phone on Monday 2 March 2026 at 10:00 in Sydney by Ann, who gave her
details, at 12 Spring St (complete by Monday 30 March 16:30)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from domain.errors import InvalidCommand
from domain.values import Location
from projections.public_requests import PublicFilter, PublicRequests, query
from tests.unit.projections.story import (
    COUNCIL,
    FIRST,
    OFFICER,
    EventLog,
    Story,
    apply,
    id_of,
    only_row,
    sydney,
)

LODGED_AT = sydney(2026, 3, 2, 10)
LATER = sydney(2026, 3, 2, 11)
SPRING_ST = Location(
    address="12 Spring St, Crookwell", lat=-34.46, long=149.47, address_id="PID-7", zipcode="2583"
)
LODGED = {
    "request_id": id_of(FIRST),
    "council": COUNCIL,
    "reference": FIRST,
    "status": "open",
    "category": "pothole",
    "category_name": "Pothole in a road",
    "team": "roads",
    "requested_at": LODGED_AT,
    "updated_at": LODGED_AT,
    "complete_by": sydney(2026, 3, 30, 16, 30),
    "acknowledged": False,
    "outcome": None,
    "address": "12 Spring St, Crookwell",
    "address_id": "PID-7",
    "zipcode": "2583",
    "lat": -34.46,
    "long": 149.47,
    "media_url": None,
    "description": None,
    "version": 1,
}


@pytest.fixture
def model() -> PublicRequests:
    return PublicRequests()


@pytest.fixture
def pothole(log: EventLog) -> Story:
    return log.lodge(at=LODGED_AT, location=SPRING_ST)


def test_a_lodged_request_shows_where_and_when_and_nothing_of_the_resident(
    log: EventLog, pothole: Story, model: PublicRequests, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == LODGED


def test_what_staff_do_moves_the_updated_instant_but_internal_notes_do_not(
    log: EventLog, pothole: Story, model: PublicRequests, engine: sa.Engine
) -> None:
    pothole.acknowledge(at=LATER)
    pothole.delay(until=date(2026, 4, 24), at=sydney(2026, 3, 3, 9))
    pothole.note("Rang Ann on 0400 000 000", at=sydney(2026, 3, 3, 10))

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "acknowledged": True,
        "updated_at": sydney(2026, 3, 3, 9),
        "complete_by": sydney(2026, 4, 24, 16, 30),
        "version": 4,
    }


def test_a_description_is_shown_once_approved_and_the_latest_approval_wins(
    log: EventLog, pothole: Story, model: PublicRequests, engine: sa.Engine
) -> None:
    pothole.request.approve_public_description(
        text="Pothole in Spring St", occurred_at=pothole.at(LATER), actor=OFFICER
    )
    pothole.saved()
    pothole.close(at=sydney(2026, 3, 2, 12))
    pothole.request.approve_public_description(
        text="Pothole in Spring St, patched",
        occurred_at=pothole.at(sydney(2026, 3, 2, 13)),
        actor=OFFICER,
    )
    pothole.saved()

    apply(model, engine, log.envelopes())

    assert only_row(model, engine) == {
        **LODGED,
        "description": "Pothole in Spring St, patched",
        "status": "closed",
        "outcome": "completed",
        "updated_at": sydney(2026, 3, 2, 13),
        "version": 4,
    }


def test_an_empty_unchanged_or_overlong_public_description_is_refused(pothole: Story) -> None:
    request = pothole.request
    for text, says in (("  ", "must not be empty"), ("x" * 4001, "at most 4000")):
        with pytest.raises(InvalidCommand, match=says):
            request.approve_public_description(text=text, occurred_at=LATER, actor=OFFICER)
    request.approve_public_description(text="Pothole", occurred_at=LATER, actor=OFFICER)
    with pytest.raises(InvalidCommand, match="already shows this description"):
        request.approve_public_description(text="Pothole", occurred_at=LATER, actor=OFFICER)
    assert request.version == 2


def test_the_query_filters_and_bounds_newest_first(
    log: EventLog, model: PublicRequests, engine: sa.Engine
) -> None:
    refs = [f"UL-2026-00000{n}" for n in range(1, 5)]
    for n, ref in enumerate(refs):
        story = log.lodge(at=sydney(2026, 3, 2 + n, 10), reference=ref, location=SPRING_ST)
        if n == 1:
            story.close(at=sydney(2026, 3, 3, 11))
    apply(model, engine, log.envelopes())

    def found(**f: Any) -> list[str]:
        with engine.connect() as conn:
            return [r["reference"] for r in query(conn, model, PublicFilter(council=COUNCIL, **f))]

    assert found() == refs[::-1]
    assert found(limit=2) == refs[:1:-1]
    assert found(statuses=["closed"]) == [refs[1]]
    assert found(start=sydney(2026, 3, 3, 10), end=sydney(2026, 3, 4, 10)) == [refs[2], refs[1]]
    assert found(references=[refs[0]], statuses=["closed"]) == [refs[0]]  # ids alone count
    assert found(categories=["water-main-break"]) == []
