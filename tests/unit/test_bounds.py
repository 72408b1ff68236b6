"""The domain's bounds: every identifier and free text a request records has a documented
limit, and a value over it is refused (bad input) with nothing recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.aggregates.customer import Customer
from domain.aggregates.service_request import ServiceRequest
from domain.attributes import Attribute, InvalidAttributes, read_answers
from domain.bounds import (
    CALENDAR_SPAN,
    FREE_TEXT_MAX,
    IDENTIFIER_MAX,
    require_within_calendar,
    within_calendar,
)
from domain.council import Council
from domain.errors import InvalidCommand, OutOfBounds
from domain.lodgement import lodgement_fields
from domain.values import Actor, Channel, Conduct, ContactMethod, NoteKind
from infra.importer.timestamps import parse_wall
from tests.fakes import TEST_SEALER, FakeClock, sealed
from tests.unit.test_service_request import OFFICER, an_intake, council, request_  # noqa: F401

LONG_ID = "o" * (IDENTIFIER_MAX + 1)
LONG_TEXT = "x" * (FREE_TEXT_MAX + 1)

REFUSED: dict[str, Callable[[ServiceRequest, FakeClock], Any]] = {
    "officer": lambda r, c: r.assign(team="roads", officer=LONG_ID, occurred_at=c(), actor=OFFICER),
    "actor id": lambda r, c: r.acknowledge(
        occurred_at=c(), actor=Actor(id=LONG_ID, role="officer")
    ),
    "actor role": lambda r, c: r.acknowledge(occurred_at=c(), actor=Actor(id="a", role=LONG_ID)),
    "note": lambda r, c: r.add_note(
        text=LONG_TEXT, note_kind=NoteKind.ACTION, channel=None, occurred_at=c(), actor=OFFICER
    ),
    "delay reason": lambda r, c: r.delay(
        horizon_days=730, reason=LONG_TEXT, until=date(2026, 6, 30), occurred_at=c(), actor=OFFICER
    ),
    "escalation reason": lambda r, c: r.escalate(
        level=None, reason=LONG_TEXT, occurred_at=c(), actor=OFFICER
    ),
    "closing text": lambda r, c: r.close(
        outcome="completed", text=LONG_TEXT, outcomes={"completed"}, occurred_at=c(), actor=OFFICER
    ),
}


@pytest.mark.parametrize("field", REFUSED)
def test_a_value_over_its_bound_is_refused_and_nothing_is_recorded(
    field: str,
    request_: ServiceRequest,  # noqa: F811
    clock: FakeClock,
) -> None:
    with pytest.raises(OutOfBounds, match="at most"):
        REFUSED[field](request_, clock)
    assert request_.collect_events() == []


def test_a_value_at_its_bound_is_recorded(request_: ServiceRequest, clock: FakeClock) -> None:  # noqa: F811
    request_.assign(team="roads", officer="o" * IDENTIFIER_MAX, occurred_at=clock(), actor=OFFICER)
    request_.add_note(
        text="x" * FREE_TEXT_MAX,
        note_kind=NoteKind.ACTION,
        channel=None,
        occurred_at=clock(),
        actor=OFFICER,
    )
    assert [type(e).__name__ for e in request_.collect_events()] == ["Assigned", "NoteAdded"]


def test_out_of_bounds_is_bad_input_a_kind_of_invalid_command() -> None:
    assert issubclass(OutOfBounds, InvalidCommand)


def test_a_lodgement_by_an_actor_with_an_overlong_id_is_refused(
    council: Council,  # noqa: F811
    clock: FakeClock,
) -> None:
    fields = lodgement_fields(council, an_intake(), "UL-2026-000009", clock())
    with pytest.raises(OutOfBounds, match="acting user's id"):
        ServiceRequest.lodge(
            occurred_at=clock(), actor=Actor(id=LONG_ID, role="officer"), **sealed(fields)
        )


# -- the calendar's usable span: every date and instant a client gives ----------------------

OUTSIDE = [
    date(1, 1, 1),
    date(1899, 12, 31),
    date(9000, 1, 2),
    date(9999, 12, 31),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59),
]
INSIDE = [
    date(1900, 1, 1),
    date(2026, 3, 2),
    date(9000, 1, 1),
    datetime(1900, 1, 1, tzinfo=UTC),
    datetime(8999, 12, 31, 11, 0, tzinfo=timezone(timedelta(hours=-12))),
    datetime(1900, 1, 1),
]


@pytest.mark.parametrize("value", OUTSIDE, ids=str)
def test_a_date_or_instant_outside_the_calendar_is_refused_as_bad_input(value: Any) -> None:
    assert not within_calendar(value)
    with pytest.raises(OutOfBounds, match=f"the date must lie {CALENDAR_SPAN}"):
        require_within_calendar(value, "the date")


@pytest.mark.parametrize("value", INSIDE, ids=str)
def test_a_date_or_instant_within_the_calendar_is_taken(value: Any) -> None:
    assert within_calendar(value)
    require_within_calendar(value, "the date")
    require_within_calendar(None, "the date")


DATED: dict[str, Callable[[ServiceRequest, FakeClock, date], Any]] = {
    "new expected completion date": lambda r, c, d: r.delay(
        horizon_days=730, reason="Supply", until=d, occurred_at=c(), actor=OFFICER
    ),
    "date the review was asked for": lambda r, c, d: r.request_review(
        on=d, reason="Asked", occurred_at=c(), actor=OFFICER
    ),
    "date the review was decided": lambda r, c, d: r.decide_review(
        on=d, decision="completed", text="t", outcomes={"completed"}, occurred_at=c(), actor=OFFICER
    ),
    "date of the referral": lambda r, c, d: r.refer_to_ombudsman(
        on=d, ombudsman_reference=None, reason="r", occurred_at=c(), actor=OFFICER
    ),
}


@pytest.mark.parametrize("what", DATED)
@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31)], ids=str)
def test_a_request_refuses_a_date_outside_the_calendar_whatever_the_interface(
    what: str,
    day: date,
    request_: ServiceRequest,  # noqa: F811
    clock: FakeClock,
) -> None:
    with pytest.raises(OutOfBounds, match=f"{what} must lie {CALENDAR_SPAN}"):
        DATED[what](request_, clock, day)
    assert request_.collect_events() == []


@pytest.mark.parametrize(
    "given",
    [{"agreed_completion": date(9999, 12, 31)}, {"received_at": datetime(1, 1, 1, tzinfo=UTC)}],
    ids=str,
)
def test_a_lodgement_refuses_a_date_outside_the_calendar(
    given: dict[str, Any],
    council: Council,  # noqa: F811
    clock: FakeClock,
) -> None:
    with pytest.raises(OutOfBounds, match=f"must lie {CALENDAR_SPAN}"):
        lodgement_fields(council, an_intake(**given), "UL-2026-000009", clock())


def test_a_customers_review_dates_outside_the_calendar_are_refused(clock: FakeClock) -> None:
    customer = Customer.register(
        council="upper-lachlan",
        number="UL-C000001",
        occurred_at=clock(),
        actor=OFFICER,
        preferred_contact=ContactMethod.PHONE,
        name=TEST_SEALER.seal("Ula Fenwick"),
    )
    customer.collect_events()
    day = date(9999, 12, 31)
    for act, what in (
        (
            lambda: customer.declare(
                conduct=Conduct.ABUSIVE,
                reason="r",
                review_by=day,
                occurred_at=clock(),
                actor=OFFICER,
            ),
            "the review date",
        ),
        (
            lambda: customer.restrict(
                channels=[Channel.PHONE],
                single_point_of_contact=None,
                until=day,
                review_by=date(2099, 1, 1),
                reason="r",
                occurred_at=clock(),
                actor=OFFICER,
            ),
            "the restriction's end date",
        ),
    ):
        with pytest.raises(OutOfBounds, match=f"{what} must lie {CALENDAR_SPAN}"):
            act()
    assert customer.collect_events() == []


def test_an_answer_dated_outside_the_calendar_is_refused_and_a_legacy_timestamp_too() -> None:
    seen = Attribute(code="seen", datatype="datetime", description="Seen when?", order=1)
    with pytest.raises(InvalidAttributes, match=f"attribute\\[seen\\] must lie {CALENDAR_SPAN}"):
        read_answers((seen,), {"seen": ["0001-01-01T00:00:00+01:00"]})
    with pytest.raises(ValueError, match=f"does not lie {CALENDAR_SPAN}"):
        parse_wall("0001-01-01 00:00:00", ["%Y-%m-%d %H:%M:%S"])
    assert parse_wall("2018-01-01 09:00:00", ["%Y-%m-%d %H:%M:%S"]) == datetime(2018, 1, 1, 9)
