"""History stays put when the `holidays` package changes: every instant a read model derives
from the business calendar comes from the holidays the request recorded when it was lodged.

Given requests of every shape (urgent, agreed date, received before keyed in, paused and
resumed, escalated, notified, closed) and sweeps over them, when every read model is rebuilt
with a different holiday set installed (as a newer or older `holidays` release would give:
Good Friday gone, a made-up holiday on Monday 16 March 2026), then every row is the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
import sqlalchemy as sa

import domain.calendar as calendar_module
import domain.standards as standards_module
import projections.sla as sla_module
from commands import requests as cmds
from consumers import operations
from consumers.store_reader import StoreReader
from domain.calendar import BusinessCalendar
from domain.lodgement import Intake
from domain.values import Actor, Channel, ContactMethod, Customer, NoteKind
from infra.cli.sla import make_watchdog
from infra.config import load_council
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from infra.views import read_models_ready
from projections.registry import READ_MODELS, build
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")
ANN = Customer(name="Ann Lee", email="ann@example.org", preferred_contact=ContactMethod.EMAIL)
GOOD_FRIDAY, MADE_UP = date(2026, 4, 3), date(2026, 3, 16)


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SYDNEY)


def _clear_calendar_caches() -> None:
    for cached in (
        calendar_module._public_holidays,
        calendar_module._council_holidays,
        calendar_module._year_table,
        standards_module.calendar_for,
        sla_module._calendar_of,
    ):
        cached.cache_clear()


@pytest.fixture
def other_holidays(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Installs a different holiday set, as another `holidays` release would."""
    real = holidays.country_holidays

    def changed(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        found.pop(GOOD_FRIDAY, None)
        if MADE_UP.year in found.years:
            found[MADE_UP] = "Made-up Day"
        return found

    _clear_calendar_caches()
    monkeypatch.setattr(calendar_module.holidays, "country_holidays", changed)
    yield
    monkeypatch.undo()
    _clear_calendar_caches()


def lodge(rt: Runtime, category: str = "pothole", **intake: Any) -> cmds.Result:
    fields: dict[str, Any] = {"customer": ANN, "channel": Channel.PHONE}
    fields.update(intake)
    return cmds.lodge_request(
        cmds.LodgeRequest(
            council=COUNCIL,
            actor=OFFICER,
            intake=Intake(category=category, description=f"A {category}", **fields),
        ),
        rt.ports,
    )


def on(ref: str) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": ref, "actor": OFFICER}


def every_row(rt: Runtime) -> dict[str, list[dict[str, Any]]]:
    read_models_ready(rt)
    out: dict[str, list[dict[str, Any]]] = {}
    with rt.read_engine.connect() as conn:
        for name in READ_MODELS:
            for table in build(name).data_tables:
                q = sa.select(table).order_by(*table.primary_key.columns)
                out[table.name] = [dict(r._mapping) for r in conn.execute(q)]
    return out


def given_requests_of_every_shape(rt: Runtime, clock: FakeClock) -> None:
    lodge(rt)  # due 30 March: never touched, climbs the chain
    lodge(rt, "tree-over-road")  # urgent: escalated at lodgement
    lodge(rt, agreed_completion=date(2026, 4, 3))  # Good Friday: rolls to Tuesday 7 April
    lodge(rt, channel=Channel.LETTER, received_at=at(2, 26))  # received before it was keyed
    paused, done = lodge(rt, "barking-dog"), lodge(rt, "missed-bin")
    clock.set(at(3, 5, 11))
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(paused.reference)), rt.ports)
    cmds.delay_request(
        cmds.DelayRequest(
            **on(paused.reference),
            reason="Need the address",
            until=date(2026, 3, 27),
            awaiting_customer=True,
        ),
        rt.ports,
    )
    cmds.close_request(
        cmds.CloseRequest(**on(done.reference), outcome="completed", text="Collected"), rt.ports
    )
    clock.set(at(3, 18, 9))
    cmds.add_note(
        cmds.AddNote(**on(paused.reference), text="Address given", note_kind=NoteKind.INCOMING),
        rt.ports,
    )
    for instant in (at(3, 10), at(3, 24), at(4, 1, 9), at(4, 9, 12)):
        make_watchdog(rt).sweep(instant)


def test_rebuilding_every_read_model_with_other_holidays_installed_gives_identical_rows(
    sqlite_runtime: Runtime,
    clock: FakeClock,
    request: pytest.FixtureRequest,
) -> None:
    rt = sqlite_runtime
    given_requests_of_every_shape(rt, clock)
    before = every_row(rt)
    assert before["sla"] and before["work_queue"] and before["audit_record"]

    request.getfixturevalue("other_holidays")
    # the control: the installed package now gives another calendar for the same council
    council = load_council(PROJECT_ROOT / "config", COUNCIL)
    assert not BusinessCalendar(council.calendar).is_holiday(GOOD_FRIDAY)
    assert BusinessCalendar(council.calendar).is_holiday(MADE_UP)
    for name in READ_MODELS:
        operations.rebuild(StoreReader(rt.app), rt.read_engine, name)
    after = every_row(rt)

    assert after == before
