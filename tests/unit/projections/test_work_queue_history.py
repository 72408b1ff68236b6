"""The work queue as it stood at any instant, held to a plain replay: over generated histories
of requests lodged, acknowledged, reassigned, delayed, escalated, noted and closed at generated
instants, the as-at query at every instant of interest equals the live work queue rebuilt from
only the events recorded by then."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from projections.envelope import Envelope
from projections.work_queue import QueueFilter, WorkQueue, query
from projections.work_queue_history import WorkQueueHistory, query_as_at
from tests.fakes import FakeClock
from tests.unit.projections.story import COUNCIL, EventLog, Story, apply, sydney

START = sydney(2026, 3, 2, 9)
TEAMS = ("roads", "water", "parks")
STEPS = ("acknowledge", "assign", "note", "delay", "escalate", "close")

step = st.tuples(
    st.integers(0, 11), st.sampled_from(STEPS), st.sampled_from(TEAMS), st.integers(1, 600)
)
history = st.tuples(st.integers(1, 12), st.lists(step, max_size=60))


def play(log: EventLog, requests: int, steps: list[tuple[int, str, str, int]]) -> None:
    """Lodges `requests` requests, an hour apart, then takes the steps (a step a rule refuses,
    such as closing twice, is left out, as the command would be refused)."""
    at, stories = START, []
    for n in range(requests):
        stories.append(log.lodge(at=at, reference=f"UL-2026-{n + 1:06d}"))
        at += timedelta(hours=1)
    for which, name, team, minutes in steps:
        story, at = stories[which % requests], at + timedelta(minutes=minutes)
        try:
            take(story, name, team, at)
        except DomainError:
            pass


def take(story: Story, name: str, team: str, at: datetime) -> None:
    match name:
        case "assign":
            story.assign(team=team, officer=f"{team}.officer", at=at)
        case "delay":
            story.delay(until=(at + timedelta(days=20)).date(), at=at)
        case "note":
            story.note(at=at)
        case _:
            getattr(story, name)(at=at)


def replayed(envelopes: list[Envelope], at: datetime) -> dict[str, list[dict[str, object]]]:
    """The plain replay: a fresh live work queue fed every event recorded by `at`; each
    team's queue from it."""
    engine = sa.create_engine("sqlite://")
    model = WorkQueue()
    apply(model, engine, [e for e in envelopes if datetime.fromisoformat(e.recorded_at) <= at])
    with engine.connect() as conn:
        return {team: query(conn, model, QueueFilter(council=COUNCIL, team=team)) for team in TEAMS}


@settings(max_examples=30, deadline=None)
@given(history)
def test_the_queue_as_at_any_instant_equals_a_replay_up_to_it(
    generated: tuple[int, list[tuple[int, str, str, int]]],
) -> None:
    requests, steps = generated
    log = EventLog(load_council(PROJECT_ROOT / "config", COUNCIL), FakeClock(START))
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'history.sqlite3'}")
        try:
            play(log, requests, steps)
            envelopes = log.envelopes()
            model = WorkQueueHistory()
            half = len(envelopes) // 2
            apply(model, engine, envelopes[:half])  # two batches, as a follower delivers them
            apply(model, engine, envelopes[half:])
            apply(model, engine, envelopes[half - 1 :])  # a redelivery changes nothing
            recorded = sorted({datetime.fromisoformat(e.recorded_at) for e in envelopes})
            instants = {START - timedelta(minutes=1), recorded[-1] + timedelta(days=1)}
            for t in recorded:
                instants |= {t, t - timedelta(microseconds=1)}
            with engine.connect() as conn:
                for at in sorted(instants):
                    expected = replayed(envelopes, at)
                    for team in TEAMS:
                        f = QueueFilter(council=COUNCIL, team=team)
                        assert query_as_at(conn, model, f, at) == expected[team], (at, team)
        finally:
            engine.dispose()
            log.close()
