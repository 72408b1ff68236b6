"""The audit record read model: one row per event of a real request, written out here.

Given a pothole lodged by phone on Monday 2 March 2026 at 10:00 in Sydney, and everything that
can happen to it afterwards, an hour apart.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from domain.values import NoteKind, NoticeKind
from projections.audit_record import AuditFilter, AuditRecord, query
from tests.fakes import open_sealed
from tests.unit.projections.story import (
    COUNCIL,
    FIRST,
    LEADER,
    EventLog,
    Story,
    apply,
    id_of,
    rows,
    sydney,
)

LODGED_AT = sydney(2026, 3, 2, 10)


@pytest.fixture
def model() -> AuditRecord:
    return AuditRecord()


@pytest.fixture
def pothole(log: EventLog) -> Story:
    return log.lodge(at=LODGED_AT)


@pytest.fixture
def whole_life(pothole: Story) -> Story:
    """Given the pothole acknowledged, reassigned, noted, delayed, escalated, closed and the
    customer told, each an hour after the last."""
    pothole.acknowledge(at=sydney(2026, 3, 2, 11))
    pothole.assign(team="parks", officer="kwong", at=sydney(2026, 3, 2, 12), actor=LEADER)
    pothole.note(at=sydney(2026, 3, 2, 13))
    pothole.delay(until=date(2026, 4, 24), at=sydney(2026, 3, 2, 14))
    pothole.escalate(at=sydney(2026, 3, 2, 15), actor=LEADER)
    pothole.close(at=sydney(2026, 3, 2, 16))
    pothole.send_notice(NoticeKind.CLOSURE, at=sydney(2026, 3, 3, 9))
    return pothole


def entry(
    version: int,
    event_type: str,
    actor: tuple[str, str],
    channel: str | None,
    occurred_at: tuple[int, int, int],
    summary: str,
) -> dict[str, object]:
    """An expected row, without its payload (checked on its own)."""
    when = sydney(2026, occurred_at[0], occurred_at[1], occurred_at[2])
    return {
        "request_id": id_of(FIRST),
        "version": version,
        "position": version,
        "council": "upper-lachlan",
        "reference": "UL-2026-000001",
        "event_type": event_type,
        "actor_id": actor[0],
        "actor_role": actor[1],
        "channel": channel,
        "occurred_at": when,
        "recorded_at": when,
        "summary": summary,
    }


def without_payload(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if k != "payload"}


OFFICER = ("jsmith", "officer")
TEAM_LEADER = ("mbrown", "team-leader")


def test_every_event_is_recorded_with_who_did_it_when_and_a_one_line_account(
    log: EventLog, whole_life: Story, model: AuditRecord, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    assert [without_payload(r) for r in rows(model, engine)] == [
        entry(
            1,
            "Lodged",
            OFFICER,
            "phone",
            (3, 2, 10),
            "Lodged service-request 'pothole' via phone, routed to roads",
        ),
        entry(2, "Acknowledged", OFFICER, None, (3, 2, 11), "Acknowledged receipt"),
        entry(
            3, "Assigned", TEAM_LEADER, None, (3, 2, 12), "Assigned to parks / kwong (was roads)"
        ),
        entry(4, "NoteAdded", OFFICER, "phone", (3, 2, 13), "Note (outgoing): Rang the customer"),
        entry(5, "Delayed", OFFICER, None, (3, 2, 14), "Delayed until 2026-04-24: Crew away"),
        entry(
            6,
            "Escalated",
            TEAM_LEADER,
            None,
            (3, 2, 15),
            "Escalated officer → team-leader: Customer complained",
        ),
        entry(7, "Closed", OFFICER, None, (3, 2, 16), "Closed (completed): Patched"),
        entry(
            8,
            "NoticeSent",
            OFFICER,
            None,
            (3, 3, 9),
            "Sent the closure notice to the customer by phone",
        ),
    ]


def test_each_row_keeps_the_events_own_fields_as_its_payload(
    log: EventLog, whole_life: Story, model: AuditRecord, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())

    payloads = {r["event_type"]: r["payload"] for r in rows(model, engine)}
    assert payloads["Acknowledged"] == "{}"
    assert payloads["Assigned"] == (
        '{"officer": "kwong", "previous_officer": null, "previous_team": "roads", "team": "parks"}'
    )
    assert payloads["NoteAdded"] == (
        '{"channel": "phone", "note_kind": "outgoing", "text": "Rang the customer"}'
    )
    assert json.loads(payloads["Delayed"]) == {
        "reason": "Crew away",
        "until": "2026-04-24",
        "awaiting_customer": False,
        "expected_completion": "2026-04-24T06:30:00+00:00",
        "complete_by": "2026-04-24T06:30:00+00:00",
    }
    assert payloads["Closed"] == '{"outcome": "completed", "text": "Patched"}'
    lodged = json.loads(payloads["Lodged"])
    assert open_sealed(lodged["description"]) == "Deep pothole outside 12 Spring St"
    assert open_sealed(lodged["customer"]["name"]) == "Ann Lee"
    assert "Spring St" not in payloads["Lodged"] and "Ann Lee" not in payloads["Lodged"]
    assert lodged["standard"]["category_name"] == "Pothole in a road"


def test_a_long_note_is_clipped_in_the_one_line_account(
    log: EventLog, pothole: Story, model: AuditRecord, engine: sa.Engine
) -> None:
    pothole.note("word " * 40, at=sydney(2026, 3, 2, 11), note_kind=NoteKind.ACTION)

    apply(model, engine, log.envelopes())

    summary = rows(model, engine)[1]["summary"]
    assert summary == "Note (action): " + ("word " * 24)[:119] + "…"


def test_a_redelivered_event_is_not_recorded_twice(
    log: EventLog, whole_life: Story, model: AuditRecord, engine: sa.Engine
) -> None:
    apply(model, engine, log.envelopes())
    before = rows(model, engine)

    apply(model, engine, log.envelopes(after=5))
    apply(model, engine, log.envelopes())

    assert rows(model, engine) == before
    assert len(before) == 8


def test_an_officers_entries_come_back_in_record_order(
    log: EventLog, whole_life: Story, model: AuditRecord, engine: sa.Engine
) -> None:
    apply(model, engine, list(reversed(log.envelopes())))

    with engine.connect() as conn:
        entries = query(conn, model, AuditFilter(council=COUNCIL, officer="mbrown"))
    assert [(e["version"], e["event_type"]) for e in entries] == [
        (3, "Assigned"),
        (6, "Escalated"),
    ]
