"""The SLA watchdog on the Kafka path, on the real servers, while its view lags (finding 6).

The view is frozen by stopping the relay and the consumers; the requests then change behind
it. Upper Lachlan, potholes in 20 business days: lodged Monday 2 March 2026 10:00 AEDT, due
Monday 30 March 16:30 (team leader), manager +5 business days: Wednesday 8 April 16:30 AEST
(Good Friday and Easter Monday skipped). Lodged Monday 9 March 10:00, due Wednesday 8 April.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands import requests as cmds
from consumers.watchdog import Watchdog
from domain.aggregates.service_request import request_id
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer
from infra.cli.sla import make_watchdog
from infra.runtime import Runtime
from tests.fakes import FakeClock
from tests.integration.kafka_support import COUNCIL, Pipeline

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SYDNEY = ZoneInfo("Australia/Sydney")
OFFICER = Actor(id="jsmith", role="officer")
VIEW_WAIT_S = 2.0


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SYDNEY)


def on(reference: str) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": reference, "actor": OFFICER}


def lodged_and_acknowledged(rt: Runtime, clock: FakeClock, when: datetime) -> str:
    clock.set(when)
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description="Deep pothole",
        customer=Customer(name="Jo Citizen", phone="0400 000 000"),
    )
    reference = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    ).reference
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**on(reference)), rt.ports)
    return reference


def escalations(rt: Runtime, reference: str) -> list[str]:
    events = rt.app.repository.event_store.get(request_id(COUNCIL, reference))
    return [e.level for e in events if type(e).__name__ == "Escalated"]


def watchdog(rt: Runtime) -> Watchdog:
    dog = make_watchdog(rt)
    dog.view_wait_s = VIEW_WAIT_S
    return dog


def escalated(report: Any) -> list[str]:
    return [f"{ref} {level}" for _, ref, level in report.escalated]


def test_a_lagging_sla_view_never_escalates_wrongly_and_a_frozen_row_stalls_no_other(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock
) -> None:
    with pipeline.worker(rt):
        delayed = lodged_and_acknowledged(rt, clock, at(3, 2, 10))
        paused = lodged_and_acknowledged(rt, clock, at(3, 2, 10))
        late = lodged_and_acknowledged(rt, clock, at(3, 2, 10))
        later = lodged_and_acknowledged(rt, clock, at(3, 9, 10))
        pipeline.wait_drained(rt)
    # The relay and the consumers are away: the SLA view shows none of what follows.
    clock.set(at(3, 4, 10))
    cmds.delay_request(
        cmds.DelayRequest(
            **on(paused), reason="Need photos", until=date(2026, 3, 20), awaiting_customer=True
        ),
        rt.ports,
    )
    clock.set(at(3, 20, 10))
    cmds.delay_request(
        cmds.DelayRequest(**on(delayed), reason="Asphalt supply", until=date(2026, 4, 30)), rt.ports
    )
    dog = watchdog(rt)

    first = dog.sweep(at(4, 1))  # the view: all three of 2 March breached since 30 March

    assert escalated(first) == [f"{late} team-leader"]
    refused = {ref: why for _, ref, why in first.refused}
    assert "not breached" in refused[delayed] and "falls due 2026-04-30" in refused[delayed]
    assert "not breached" in refused[paused]
    assert escalations(rt, delayed) == escalations(rt, paused) == []

    # `late` is frozen at its lodgement in the view (its manager level looks due, but the
    # view does not show the team leader's escalation): left alone, while `later` is escalated.
    second = dog.sweep(at(4, 9))
    assert escalated(second) == [f"{later} team-leader"]
    assert (COUNCIL, late) in second.waiting
    started = time.monotonic()
    third = dog.sweep(at(4, 9))
    assert time.monotonic() - started < VIEW_WAIT_S  # no wait for earlier sweeps' writes
    assert escalated(third) == [] and {r for _, r in third.waiting} == {late, later}
    assert escalations(rt, late) == escalations(rt, later) == ["team-leader"]

    with pipeline.worker(rt):
        pipeline.wait_drained(rt)
        fourth = dog.sweep(at(4, 9))
    assert escalated(fourth) == [f"{late} manager"] and not fourth.waiting
    assert escalations(rt, delayed) == escalations(rt, paused) == []
    pipeline.verify()
