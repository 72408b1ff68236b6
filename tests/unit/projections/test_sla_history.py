"""The SLA views and the audit record as they stood at any instant, held to a plain replay: over
generated histories of requests of short and long standards (a missed bin in 2 working days,
a pothole in 20, a tree over the road in 1) lodged, acknowledged, reassigned, delayed (some
awaiting the customer), escalated, noted and closed at generated instants over weeks, what
`sla breached|at-risk|escalated --as-at T` and `audit --as-at T` answer equals a fresh SLA view
and audit record fed only the events recorded by T, judged at T."""

from __future__ import annotations

import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from projections import sla_queries
from projections.audit_record import AuditFilter, AuditRecord, query
from projections.envelope import Envelope
from projections.sla import Sla
from projections.sla_history import SlaHistory
from tests.fakes import FakeClock
from tests.unit.projections.story import COUNCIL, EventLog, Story, apply, sydney

START = sydney(2026, 3, 2, 9)
CATEGORIES = ("missed-bin", "pothole", "tree-over-road")
TEAMS = ("roads", "waste", "water")
STEPS = ("acknowledge", "assign", "note", "delay", "wait", "escalate", "close")
QUERIES = {
    "breached": sla_queries.breached,
    "at-risk": sla_queries.at_risk,
    "escalated": sla_queries.escalated,
}

step = st.tuples(
    st.integers(0, 11), st.sampled_from(STEPS), st.sampled_from(TEAMS), st.integers(1, 2880)
)
history = st.tuples(st.integers(1, 12), st.lists(step, max_size=50), st.randoms())


def play(log: EventLog, requests: int, steps: list[tuple[int, str, str, int]]) -> None:
    """Lodges `requests` requests of the three categories in turn, an hour apart, then takes
    the steps (one a rule refuses, such as closing twice, is left out)."""
    at, stories = START, []
    for n in range(requests):
        stories.append(
            log.lodge(
                at=at, reference=f"UL-2026-{n + 1:06d}", category=CATEGORIES[n % len(CATEGORIES)]
            )
        )
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
        case "delay" | "wait":
            story.delay(
                until=(at + timedelta(days=9)).date(), at=at, awaiting_customer=name == "wait"
            )
        case "note":
            story.note(at=at)
        case _:
            getattr(story, name)(at=at)


def replayed(
    envelopes: list[Envelope], at: datetime
) -> tuple[dict[str, list[dict[str, object]]], list[dict[str, object]]]:
    """The plain replay: a fresh SLA view and audit record fed every event recorded by `at`;
    each SLA question asked of it at `at`, and the council's whole audit record."""
    engine = sa.create_engine("sqlite://")
    upto = [e for e in envelopes if datetime.fromisoformat(e.recorded_at) <= at]
    sla, audit = Sla(), AuditRecord()
    apply(sla, engine, upto)
    apply(audit, engine, upto)
    f = sla_queries.SlaFilter(council=COUNCIL)
    with engine.connect() as conn:
        return (
            {name: q(conn, sla, f, at) for name, q in QUERIES.items()},
            query(conn, audit, AuditFilter(council=COUNCIL)),
        )


@settings(max_examples=15, deadline=None)
@given(history)
def test_the_sla_views_and_audit_as_at_any_instant_equal_a_replay_up_to_it(
    generated: tuple[int, list[tuple[int, str, str, int]], random.Random],
) -> None:
    requests, steps, rnd = generated
    log = EventLog(load_council(PROJECT_ROOT / "config", COUNCIL), FakeClock(START))
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'history.sqlite3'}")
        try:
            play(log, requests, steps)
            envelopes = log.envelopes()
            history_model, audit = SlaHistory(), AuditRecord()
            half = len(envelopes) // 2
            for model in (history_model, audit):
                apply(model, engine, envelopes[:half])  # two batches, as a follower delivers
                apply(model, engine, envelopes[half:])
                apply(model, engine, envelopes[half - 1 :])  # a redelivery changes nothing
            recorded = sorted({datetime.fromisoformat(e.recorded_at) for e in envelopes})
            instants = {START - timedelta(minutes=1), recorded[-1] + timedelta(days=30)}
            for t in rnd.sample(recorded, min(8, len(recorded))):
                instants |= {t, t - timedelta(microseconds=1), t + timedelta(days=3)}
            seen = {"breached": 0, "at-risk": 0, "escalated": 0}
            f = sla_queries.SlaFilter(council=COUNCIL)
            with engine.connect() as conn:
                for at in sorted(instants):
                    expected, expected_audit = replayed(envelopes, at)
                    for name, q in QUERIES.items():
                        got = q(conn, history_model, f, at)
                        assert got == expected[name], (at, name)
                        seen[name] += len(got)
                    as_at = query(conn, audit, AuditFilter(council=COUNCIL, as_at=at))
                    assert as_at == expected_audit, at
        finally:
            engine.dispose()
            log.close()


def test_the_generated_histories_reach_every_sla_state() -> None:
    """The property above is not vacuous: a fixed history has requests breached, at risk and
    escalated at some instants, and the as-at answer changes with the instant."""
    log = EventLog(load_council(PROJECT_ROOT / "config", COUNCIL), FakeClock(START))
    engine = sa.create_engine("sqlite://")
    try:
        play(
            log,
            6,
            [
                (1, "escalate", "roads", 600),
                (4, "acknowledge", "roads", 60),
                (3, "close", "roads", 2000),
                (0, "note", "roads", 4000),
            ],
        )
        model = SlaHistory()
        apply(model, engine, log.envelopes())
        f = sla_queries.SlaFilter(council=COUNCIL)
        with engine.connect() as conn:

            def refs(name: str, at: datetime) -> set[str]:
                return {r["reference"] for r in QUERIES[name](conn, model, f, at)}

            assert refs("breached", START + timedelta(hours=1)) == set()
            later = START + timedelta(days=4)
            assert "UL-2026-000001" in refs("breached", later)  # a missed bin, 2 working days
            assert "UL-2026-000004" not in refs("breached", later)  # closed by then
            assert refs("escalated", later) >= {"UL-2026-000002"}
            # an acknowledged pothole (20 working days) is at risk after 16, breached after 20
            assert "UL-2026-000005" in refs("at-risk", START + timedelta(days=24))
            assert "UL-2026-000005" not in refs("at-risk", START + timedelta(days=20))
            assert "UL-2026-000005" in refs("breached", START + timedelta(days=29))
    finally:
        engine.dispose()
        log.close()
