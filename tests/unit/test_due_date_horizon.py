"""The council's due-date horizon (`domain/horizon.py`): a date a user sets as a request's due
date — the completion date agreed at lodgement, a delay's new expected completion date — lies
at most `due_date_horizon_days` calendar days after the council's local date when the command
is recorded. At the bound it is taken; a day past it is refused and nothing is recorded."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.aggregates.service_request import ServiceRequest
from domain.calendar import BusinessCalendar
from domain.council import Council
from domain.errors import OutOfBounds
from domain.horizon import latest_due_date, require_within_horizon
from domain.lodgement import lodgement_fields
from infra.config import ConfigError, list_councils, load_council, parse_council
from infra.settings import PROJECT_ROOT
from tests.fakes import FakeClock, sealed
from tests.unit.test_config import VALID, edit
from tests.unit.test_service_request import OFFICER, REFERENCE, an_intake

# The fake clock's Monday 2 March 2026, 10:00 in Sydney: 2 March locally.
TODAY = date(2026, 3, 2)


@pytest.fixture
def council() -> Council:
    return load_council(PROJECT_ROOT / "config", "upper-lachlan")


def with_horizon(council: Council, days: int) -> Council:
    return dataclasses.replace(council, due_date_horizon_days=days)


def test_every_shipped_council_sets_a_horizon_of_two_years() -> None:
    for code in list_councils(PROJECT_ROOT / "config"):
        assert load_council(PROJECT_ROOT / "config", code).due_date_horizon_days == 730


def test_a_council_without_a_horizon_or_with_a_nonsense_one_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    missing = edit(VALID, "due_date_horizon_days = 730\n", "")
    with pytest.raises(ConfigError, match="due_date_horizon_days: is required"):
        parse_council(tmp_path / "testshire.toml", tomllib.loads(missing))
    for bad in ("0", "-5", "3661", '"two years"'):
        text = edit(VALID, "due_date_horizon_days = 730", f"due_date_horizon_days = {bad}")
        with pytest.raises(ConfigError, match="due_date_horizon_days"):
            parse_council(tmp_path / "testshire.toml", tomllib.loads(text))


def test_the_last_date_is_counted_from_the_councils_own_date() -> None:
    # 23:30 UTC on 1 March is 10:30 on 2 March in Sydney: 2 March is day 0.
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert latest_due_date(730, late, "Australia/Sydney") == TODAY + timedelta(days=730)
    assert latest_due_date(730, late, "America/New_York") == date(2026, 3, 1) + timedelta(730)


@pytest.mark.parametrize("days", [1, 30, 730, 3660])
def test_at_the_bound_a_date_is_taken_and_a_day_past_it_is_refused(days: int) -> None:
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    bound = date(2026, 3, 2) + timedelta(days=days)
    require_within_horizon(bound, horizon_days=days, now=now, timezone="UTC", what="the date")
    require_within_horizon(None, horizon_days=days, now=now, timezone="UTC", what="the date")
    with pytest.raises(OutOfBounds, match=f"the date {bound + timedelta(1)} is too far ahead"):
        require_within_horizon(
            bound + timedelta(days=1), horizon_days=days, now=now, timezone="UTC", what="the date"
        )


@pytest.mark.parametrize("days", [30, 730])
def test_an_agreed_completion_date_follows_the_councils_horizon(
    council: Council, clock: FakeClock, days: int
) -> None:
    council = with_horizon(council, days)
    bound = TODAY + timedelta(days=days)
    fields = lodgement_fields(council, an_intake(agreed_completion=bound), REFERENCE, clock())
    assert fields["agreed_completion"] == bound
    with pytest.raises(OutOfBounds, match=f"agreed completion date {bound + timedelta(1)}"):
        lodgement_fields(
            council, an_intake(agreed_completion=bound + timedelta(days=1)), REFERENCE, clock()
        )


def test_a_far_agreed_completion_date_within_the_calendar_is_refused(
    council: Council, clock: FakeClock
) -> None:
    with pytest.raises(OutOfBounds, match="agreed completion date 8999-12-29 is too far ahead"):
        lodgement_fields(
            council, an_intake(agreed_completion=date(8999, 12, 29)), REFERENCE, clock()
        )


@pytest.mark.parametrize("days", [30, 730])
def test_a_delay_follows_the_councils_horizon_and_a_refused_one_records_nothing(
    council: Council, clock: FakeClock, days: int
) -> None:
    fields = lodgement_fields(council, an_intake(), REFERENCE, clock())
    request = ServiceRequest.lodge(occurred_at=clock(), actor=OFFICER, **sealed(fields))
    request.collect_events()
    past = TODAY + timedelta(days=days + 1)
    for until in (past, date(8999, 12, 29)):
        with pytest.raises(OutOfBounds, match=f"new expected completion date {until}"):
            request.delay(
                horizon_days=days,
                reason="Crew away",
                until=until,
                occurred_at=clock(),
                actor=OFFICER,
            )
    assert request.collect_events() == []
    request.delay(
        horizon_days=days,
        reason="Crew away",
        until=past - timedelta(days=1),
        occurred_at=clock(),
        actor=OFFICER,
    )
    assert [e.until for e in request.collect_events()] == [past - timedelta(days=1)]


# -- the calendar's reach: a far date already stored costs at most 200 year tables ----------


def test_a_span_from_1900_to_past_any_horizon_is_measured_exactly(council: Council) -> None:
    cal = BusinessCalendar(council.calendar)
    start, middle = datetime(1900, 1, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    end = cal.close_of_business_day(date(2036, 3, 2))[0]
    whole = cal.business_time_elapsed(start, end)
    assert whole == cal.business_time_elapsed(start, middle) + cal.business_time_elapsed(
        middle, end
    )
    assert cal.add_business_duration(start, whole) == end
    assert (
        cal.business_days_left(middle, end)
        == len(
            [
                d
                for d in range(middle.toordinal(), end.toordinal() + 1)
                if cal.is_business_day(date.fromordinal(d))
            ]
        )
        - 1
    )


def test_a_far_stored_due_date_is_measured_up_to_the_reach_without_building_every_year(
    council: Council,
) -> None:
    cal = BusinessCalendar(council.calendar)
    now = datetime(2026, 12, 2, 1, tzinfo=UTC)
    far = cal.close_of_business_day(date(8999, 12, 29))[0]
    reach = datetime(2226, 1, 1, tzinfo=UTC)
    assert cal.business_time_elapsed(now, far) == cal.business_time_elapsed(now, reach)
    assert cal.business_time_elapsed(far, now) == -cal.business_time_elapsed(now, reach)
    assert cal.business_days_left(now, far) == cal.business_days_left(now, reach)
    assert cal.add_business_duration(now, timedelta(days=10**6)) == reach
    assert len(cal._tables) <= 203  # the reach's years, the far year and its neighbour
