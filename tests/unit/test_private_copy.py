"""The copy of a request the command path's cache keeps (`infra.store.private_copy`): equal to
the request and to `deepcopy`'s copy, sharing only immutable values, so whatever is done to
the request afterwards (a further command, a failed one, a change made by hand) leaves the
copy as it was."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from domain.errors import DomainError
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, Customer, Location, NoticeKind
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from infra.store import private_copy
from tests.fakes import FakeClock, sealed

SYDNEY = ZoneInfo("Australia/Sydney")
OFFICER = Actor(id="jsmith", role="officer")


@pytest.fixture
def council() -> Council:
    return load_council(PROJECT_ROOT / "config", "upper-lachlan")


@pytest.fixture
def worked(council: Council) -> ServiceRequest:
    """A request with something in every container of its state: attributes, delays, a
    notice sent, an urgent escalation, a pending event."""
    clock = FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=SYDNEY))
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description="Deep pothole outside 12 Spring St",
        customer=Customer(name="Ann Lee", phone="0400 000 000"),
        location=Location(address="12 Spring St, Crookwell"),
    )
    fields = lodgement_fields(council, intake, "UL-2026-000001", clock())
    fields["attributes"] = [{"code": "depth", "datatype": "number", "value": "30"}]
    request = ServiceRequest.lodge(occurred_at=clock(), actor=OFFICER, **sealed(fields))
    clock.advance(hours=1)
    request.acknowledge(occurred_at=clock(), actor=OFFICER)
    clock.advance(hours=1)
    request.delay(
        reason="Asphalt",
        until=date(2026, 3, 20),
        horizon_days=council.due_date_horizon_days,
        awaiting_customer=False,
        occurred_at=clock(),
        actor=OFFICER,
    )
    # as a notice sent and an urgent escalation would record them
    request.notices_sent.add((NoticeKind.ACKNOWLEDGEMENT.value, 2))
    request.urgent_escalations[9] = ("team-leader", clock())
    return request


def state(request: ServiceRequest) -> dict[str, Any]:
    return dict(vars(request))


def test_the_copy_equals_the_request_and_deepcopys_copy(worked: ServiceRequest) -> None:
    copied = private_copy(worked)

    assert type(copied) is ServiceRequest
    assert state(copied) == state(worked) == state(copy.deepcopy(worked))
    assert copied.version == worked.version
    assert copied.delays and copied.notices_sent and copied.attributes
    assert copied.urgent_escalations and copied.pending_events


def test_the_copy_shares_immutable_values_and_no_container(worked: ServiceRequest) -> None:
    copied = private_copy(worked)

    for name, value in vars(worked).items():
        if isinstance(value, dict | list | set):
            assert vars(copied)[name] is not value, name
    assert copied.attributes[0] is not worked.attributes[0]
    assert copied.pending_events[0] is not worked.pending_events[0]  # events hold lists
    assert copied.standard is worked.standard  # the recorded standard, calendar and all
    assert copied.customer is worked.customer
    assert copied.roles is worked.roles  # a tuple of strings is immutable all through


def test_changing_the_request_afterwards_leaves_the_copy_as_it_was(
    worked: ServiceRequest, council: Council
) -> None:
    copied = private_copy(worked)
    before = copy.deepcopy(state(copied))

    worked.delays[99] = ("By hand", date(2026, 4, 1))
    worked.attributes[0]["value"] = "3"
    worked.notices_sent.clear()
    worked.urgent_escalations.clear()
    worked.collect_events()
    worked.close(
        outcome="completed",
        text="Patched",
        outcomes=council.outcomes.keys(),
        occurred_at=worked.modified_on + timedelta(hours=1),
        actor=OFFICER,
    )
    with pytest.raises(DomainError):  # a refused command on the request itself
        worked.acknowledge(occurred_at=worked.modified_on, actor=OFFICER)

    assert state(copied) == before
    assert copied.status != worked.status


def test_a_mutable_object_referred_to_twice_is_copied_once(worked: ServiceRequest) -> None:
    shared: list[str] = ["one list"]
    vars(worked)["first"] = shared
    vars(worked)["second"] = (shared, "and a string")

    copied = private_copy(worked)

    first, second = vars(copied)["first"], vars(copied)["second"]
    assert first == shared and first is not shared
    assert second[0] is first  # as `deepcopy` keeps it: one new list, referred to twice


def test_values_of_other_kinds_are_deep_copied(worked: ServiceRequest) -> None:
    @dataclasses.dataclass
    class Mutable:  # a dataclass that is not frozen: not a value
        items: list[int]

    vars(worked)["other"] = Mutable([1, 2])

    copied = private_copy(worked)

    other = vars(copied)["other"]
    assert other == Mutable([1, 2]) and other is not vars(worked)["other"]
    assert other.items is not vars(worked)["other"].items
