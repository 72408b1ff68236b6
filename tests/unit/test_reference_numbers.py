"""Reference numbers: `PREFIX-YEAR-NNNNNN`, counted per council and per year in the council's
own time, on the embedded store."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from commands import requests as cmds
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer
from infra.runtime import Runtime
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")
OFFICER = Actor(id="jsmith", role="officer")


def lodge(rt: Runtime, clock: FakeClock, at: datetime, council: str = "upper-lachlan") -> str:
    """Lodges a pothole at `at` (by the fake clock); returns the reference it got."""
    clock.set(at)
    intake: dict[str, Any] = {
        "category": "pothole",
        "channel": Channel.PHONE,
        "description": "Deep pothole outside 12 Spring St",
        "customer": Customer(name="Ann Lee", phone="0400 000 000"),
    }
    command = cmds.LodgeRequest(council=council, intake=Intake(**intake), actor=OFFICER)
    return cmds.lodge_request(command, rt.ports).reference


def test_the_counter_starts_again_at_one_when_the_year_turns_in_the_councils_time(
    sqlite_runtime: Runtime, clock: FakeClock
) -> None:
    last_of_2026 = lodge(sqlite_runtime, clock, datetime(2026, 12, 31, 23, 59, tzinfo=SYDNEY))
    first_of_2027 = lodge(sqlite_runtime, clock, datetime(2027, 1, 1, 0, 1, tzinfo=SYDNEY))
    second_of_2027 = lodge(sqlite_runtime, clock, datetime(2027, 1, 1, 0, 2, tzinfo=SYDNEY))

    assert (last_of_2026, first_of_2027, second_of_2027) == (
        "UL-2026-000001",
        "UL-2027-000001",
        "UL-2027-000002",
    )


def test_each_council_counts_its_own_references(sqlite_runtime: Runtime, clock: FakeClock) -> None:
    at = datetime(2026, 3, 2, 10, tzinfo=SYDNEY)

    upper_lachlan = lodge(sqlite_runtime, clock, at)
    canterbury = lodge(sqlite_runtime, clock, at, council="canterbury")
    upper_lachlan_again = lodge(sqlite_runtime, clock, at)

    assert (upper_lachlan, canterbury, upper_lachlan_again) == (
        "UL-2026-000001",
        "CC-2026-000001",
        "UL-2026-000002",
    )
