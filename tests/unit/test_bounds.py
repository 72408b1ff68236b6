"""The domain's bounds: every identifier and free text a request records has a documented
limit, and a value over it is refused (bad input) with nothing recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from domain.aggregates.service_request import ServiceRequest
from domain.bounds import FREE_TEXT_MAX, IDENTIFIER_MAX
from domain.council import Council
from domain.errors import InvalidCommand, OutOfBounds
from domain.lodgement import lodgement_fields
from domain.values import Actor, NoteKind
from tests.fakes import FakeClock, sealed
from tests.unit.test_service_request import OFFICER, an_intake, council, request_  # noqa: F401

LONG_ID = "o" * (IDENTIFIER_MAX + 1)
LONG_TEXT = "x" * (FREE_TEXT_MAX + 1)

REFUSED: dict[str, Callable[[ServiceRequest, FakeClock], Any]] = {
    "officer": lambda r, c: r.assign(team="roads", officer=LONG_ID, occurred_at=c(), actor=OFFICER),
    "actor id": lambda r, c: r.acknowledge(occurred_at=c(), actor=Actor(id=LONG_ID, role="officer")),
    "actor role": lambda r, c: r.acknowledge(occurred_at=c(), actor=Actor(id="a", role=LONG_ID)),
    "note": lambda r, c: r.add_note(text=LONG_TEXT, note_kind=NoteKind.ACTION, channel=None,
                                    occurred_at=c(), actor=OFFICER),
    "delay reason": lambda r, c: r.delay(reason=LONG_TEXT, until=date(2026, 6, 30),
                                         occurred_at=c(), actor=OFFICER),
    "escalation reason": lambda r, c: r.escalate(level=None, reason=LONG_TEXT, occurred_at=c(),
                                                 actor=OFFICER),
    "closing text": lambda r, c: r.close(outcome="completed", text=LONG_TEXT,
                                         outcomes={"completed"}, occurred_at=c(), actor=OFFICER),
}


@pytest.mark.parametrize("field", REFUSED)
def test_a_value_over_its_bound_is_refused_and_nothing_is_recorded(
    field: str, request_: ServiceRequest, clock: FakeClock  # noqa: F811
) -> None:
    with pytest.raises(OutOfBounds, match="at most"):
        REFUSED[field](request_, clock)
    assert request_.collect_events() == []


def test_a_value_at_its_bound_is_recorded(request_: ServiceRequest, clock: FakeClock) -> None:  # noqa: F811
    request_.assign(team="roads", officer="o" * IDENTIFIER_MAX, occurred_at=clock(), actor=OFFICER)
    request_.add_note(text="x" * FREE_TEXT_MAX, note_kind=NoteKind.ACTION, channel=None,
                      occurred_at=clock(), actor=OFFICER)
    assert [type(e).__name__ for e in request_.collect_events()] == ["Assigned", "NoteAdded"]


def test_out_of_bounds_is_bad_input_a_kind_of_invalid_command() -> None:
    assert issubclass(OutOfBounds, InvalidCommand)


def test_a_lodgement_by_an_actor_with_an_overlong_id_is_refused(
    council: Council, clock: FakeClock  # noqa: F811
) -> None:
    fields = lodgement_fields(council, an_intake(), "UL-2026-000009", clock())
    with pytest.raises(OutOfBounds, match="acting user's id"):
        ServiceRequest.lodge(occurred_at=clock(), actor=Actor(id=LONG_ID, role="officer"),
                             **sealed(fields))
