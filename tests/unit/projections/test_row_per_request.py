"""A row-per-request read model applies each request's events strictly in version order.

Shown on the request summary, whose note count makes an event applied twice visible. Given a
pothole lodged on Monday 2 March 2026 at 10:00 and three notes added to it: versions 1 to 4.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from projections.envelope import Envelope
from projections.request_summary import RequestSummary
from tests.unit.projections.story import (
    FIRST,
    SECOND,
    EventLog,
    apply,
    only_row,
    rows,
    sydney,
)


@pytest.fixture
def model() -> RequestSummary:
    return RequestSummary()


@pytest.fixture
def versions(log: EventLog) -> dict[int, Envelope]:
    """The request's envelopes by version: 1 lodged, 2, 3 and 4 a note each."""
    story = log.lodge(at=sydney(2026, 3, 2, 10))
    for hour in (11, 12, 13):
        story.note(f"Note at {hour}:00", at=sydney(2026, 3, 2, hour))
    return {env.version: env for env in log.envelopes()}


def progress(model: RequestSummary, engine: sa.Engine) -> tuple[int, int]:
    """(version, notes) of the request's row."""
    row = only_row(model, engine)
    return row["version"], row["notes"]


def test_each_event_in_order_is_applied_once(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    assert apply(model, engine, [versions[1], versions[2], versions[3], versions[4]]) == 4
    assert progress(model, engine) == (4, 3)


def test_a_redelivered_event_changes_nothing(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, [versions[1], versions[2]])
    before = rows(model, engine)

    changed = apply(model, engine, [versions[2]])

    assert changed == 0
    assert rows(model, engine) == before


def test_an_older_event_delivered_again_changes_nothing(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, [versions[1], versions[2], versions[3]])
    before = rows(model, engine)

    changed = apply(model, engine, [versions[1], versions[2]])

    assert changed == 0
    assert rows(model, engine) == before


def test_an_event_delivered_twice_in_one_batch_is_applied_once(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    assert apply(model, engine, [versions[1], versions[2], versions[2]]) == 2
    assert progress(model, engine) == (2, 1)


def test_an_event_arriving_before_its_predecessor_is_not_applied(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, [versions[1]])

    changed = apply(model, engine, [versions[3]])

    assert changed == 0
    assert progress(model, engine) == (1, 0)


def test_once_the_missing_event_arrives_the_held_back_one_applies_after_it(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, [versions[1]])
    apply(model, engine, [versions[3]])

    changed = apply(model, engine, [versions[2], versions[3]])

    assert changed == 2
    assert progress(model, engine) == (3, 2)


def test_a_gap_inside_one_batch_stops_that_request_at_the_gap(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    changed = apply(model, engine, [versions[1], versions[3], versions[2]])

    assert changed == 2
    assert progress(model, engine) == (2, 1)


def test_an_event_of_a_request_whose_lodgement_was_never_seen_is_ignored(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    changed = apply(model, engine, [versions[2], versions[3]])

    assert changed == 0
    assert rows(model, engine) == []


def test_the_lodgement_delivered_again_does_not_reset_the_request(
    versions: dict[int, Envelope], model: RequestSummary, engine: sa.Engine
) -> None:
    apply(model, engine, [versions[1], versions[2], versions[3]])

    assert apply(model, engine, [versions[1]]) == 0
    assert progress(model, engine) == (3, 2)


def test_requests_interleaved_in_one_batch_each_apply_in_their_own_order(
    log: EventLog, model: RequestSummary, engine: sa.Engine
) -> None:
    first = log.lodge(at=sydney(2026, 3, 2, 10), reference=FIRST)
    second = log.lodge(at=sydney(2026, 3, 2, 10, 5), reference=SECOND, category="barking-dog")
    first.note(at=sydney(2026, 3, 2, 11))
    second.note(at=sydney(2026, 3, 2, 11, 5))
    second.note(at=sydney(2026, 3, 2, 11, 10))
    first.close(at=sydney(2026, 3, 2, 12))
    batch = log.envelopes()
    assert [(e.reference[-1], e.version) for e in batch] == [
        ("1", 1),
        ("2", 1),
        ("1", 2),
        ("2", 2),
        ("2", 3),
        ("1", 3),
    ]

    assert apply(model, engine, batch) == 6

    summary = {
        r["reference"]: (r["category"], r["status"], r["notes"], r["version"])
        for r in rows(model, engine)
    }
    assert summary == {
        "UL-2026-000001": ("pothole", "closed", 1, 3),
        "UL-2026-000002": ("barking-dog", "open", 2, 3),
    }
