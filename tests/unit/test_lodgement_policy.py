"""The council's lodgement policy: which intakes it accepts, and what it records for them."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.council import AnonymousPolicy, Council
from domain.errors import InvalidCommand, LodgementRefused
from domain.lodgement import Intake, lodgement_fields
from domain.values import ANY_DETAIL, Channel, ContactMethod, Customer
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from tests.fakes import FakeClock

REFERENCE = "UL-2026-000001"
SYDNEY = ZoneInfo("Australia/Sydney")
ANN = Customer(name="Ann Lee", phone="0400 000 000")


@pytest.fixture
def upper_lachlan() -> Council:
    return load_council(PROJECT_ROOT / "config", "upper-lachlan")


@pytest.fixture
def accepting_anonymous(upper_lachlan: Council) -> Council:
    """A council like Upper Lachlan that actions anonymous requests, flagged."""
    return dataclasses.replace(upper_lachlan, anonymous=AnonymousPolicy.ACCEPT_FLAGGED)


def an_intake(**overrides: Any) -> Intake:
    fields: dict[str, Any] = {
        "category": "pothole",
        "channel": Channel.PHONE,
        "description": "Deep pothole outside 12 Spring St",
        "customer": ANN,
    }
    fields.update(overrides)
    return Intake(**fields)


def test_upper_lachlan_accepts_an_identified_phone_request(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    fields = lodgement_fields(upper_lachlan, an_intake(), REFERENCE, clock())

    assert fields["council"] == "upper-lachlan"
    assert fields["reference"] == REFERENCE
    assert fields["customer"] == ANN
    assert fields["resolution_not_guaranteed"] is False


def test_upper_lachlan_refuses_a_request_made_through_social_media(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    with pytest.raises(LodgementRefused, match="social-media"):
        lodgement_fields(upper_lachlan, an_intake(channel=Channel.SOCIAL_MEDIA), REFERENCE, clock())


@pytest.mark.parametrize(
    "customer", [None, Customer()], ids=["no-customer", "customer-with-no-details"]
)
def test_upper_lachlan_refuses_an_anonymous_request(
    upper_lachlan: Council, clock: FakeClock, customer: Customer | None
) -> None:
    with pytest.raises(LodgementRefused, match="anonymous"):
        lodgement_fields(upper_lachlan, an_intake(customer=customer), REFERENCE, clock())


@pytest.mark.parametrize(
    "customer", [None, Customer()], ids=["no-customer", "customer-with-no-details"]
)
def test_a_council_accepting_anonymous_requests_records_that_resolution_is_not_guaranteed(
    accepting_anonymous: Council, clock: FakeClock, customer: Customer | None
) -> None:
    fields = lodgement_fields(accepting_anonymous, an_intake(customer=customer), REFERENCE, clock())

    assert fields["resolution_not_guaranteed"] is True


@pytest.mark.parametrize(
    "details",
    [
        {"name": "Ann Lee"},
        {"phone": "0400 000 000"},
        {"email": "ann@example.org"},
        {"address": "3 Wattle St"},
    ],
    ids=["name-only", "phone-only", "email-only", "address-only"],
)
def test_upper_lachlan_refuses_details_that_are_not_a_name_with_a_way_to_reach_the_customer(
    upper_lachlan: Council, clock: FakeClock, details: dict[str, str]
) -> None:
    with pytest.raises(LodgementRefused, match="a name and a phone, or a name and an email"):
        lodgement_fields(upper_lachlan, an_intake(customer=Customer(**details)), REFERENCE, clock())


@pytest.mark.parametrize(
    "way", [{"phone": "0400 000 000"}, {"email": "ann@example.org"}, {"address": "3 Wattle St"}]
)
def test_upper_lachlan_accepts_a_name_with_any_way_to_reach_the_customer(
    upper_lachlan: Council, clock: FakeClock, way: dict[str, str]
) -> None:
    fields = lodgement_fields(
        upper_lachlan, an_intake(customer=Customer(name="Ann Lee", **way)), REFERENCE, clock()
    )
    assert fields["resolution_not_guaranteed"] is False


def test_a_customer_on_file_is_identified_whatever_details_the_intake_carries(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    intake = an_intake(customer=None, customer_number="UL-C000001")
    assert (
        lodgement_fields(upper_lachlan, intake, REFERENCE, clock())["resolution_not_guaranteed"]
        is False
    )


def test_without_an_identification_rule_any_one_detail_identifies(
    accepting_anonymous: Council, clock: FakeClock
) -> None:
    council = dataclasses.replace(accepting_anonymous, identified_by=ANY_DETAIL)
    fields = lodgement_fields(
        council, an_intake(customer=Customer(phone="0400 000 000")), REFERENCE, clock()
    )
    assert fields["resolution_not_guaranteed"] is False
    strict = lodgement_fields(
        accepting_anonymous, an_intake(customer=Customer(phone="0400 000 000")), REFERENCE, clock()
    )
    assert strict["resolution_not_guaranteed"] is True  # Upper Lachlan's rule wants a name too


def test_a_council_accepting_anonymous_requests_does_not_flag_an_identified_customer(
    accepting_anonymous: Council, clock: FakeClock
) -> None:
    fields = lodgement_fields(accepting_anonymous, an_intake(), REFERENCE, clock())

    assert fields["resolution_not_guaranteed"] is False


def test_a_council_accepting_anonymous_requests_still_refuses_its_refused_channels(
    accepting_anonymous: Council, clock: FakeClock
) -> None:
    intake = an_intake(customer=None, channel=Channel.SOCIAL_MEDIA)

    with pytest.raises(LodgementRefused):
        lodgement_fields(accepting_anonymous, intake, REFERENCE, clock())


def test_a_category_the_council_does_not_have_is_refused(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    with pytest.raises(InvalidCommand, match="unknown category 'graffiti'"):
        lodgement_fields(upper_lachlan, an_intake(category="graffiti"), REFERENCE, clock())


def test_a_description_longer_than_the_council_keeps_is_refused(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    too_long = "x" * (upper_lachlan.description_max_chars + 1)

    with pytest.raises(InvalidCommand, match="characters"):
        lodgement_fields(upper_lachlan, an_intake(description=too_long), REFERENCE, clock())


def test_a_description_of_exactly_the_maximum_length_is_accepted(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    longest = "x" * upper_lachlan.description_max_chars

    fields = lodgement_fields(upper_lachlan, an_intake(description=longest), REFERENCE, clock())

    assert fields["description"] == longest


def test_a_blank_description_is_refused(upper_lachlan: Council, clock: FakeClock) -> None:
    with pytest.raises(InvalidCommand, match="description"):
        lodgement_fields(upper_lachlan, an_intake(description="   "), REFERENCE, clock())


def test_the_description_is_recorded_trimmed(upper_lachlan: Council, clock: FakeClock) -> None:
    fields = lodgement_fields(
        upper_lachlan, an_intake(description="  Hole in road \n"), REFERENCE, clock()
    )

    assert fields["description"] == "Hole in road"


def test_a_tree_over_the_road_is_recorded_urgent(upper_lachlan: Council, clock: FakeClock) -> None:
    fields = lodgement_fields(
        upper_lachlan, an_intake(category="tree-over-road"), REFERENCE, clock()
    )

    assert fields["urgent"] is True
    assert fields["standard"].urgent is True
    assert fields["team"] == "roads"


def test_a_pothole_is_not_recorded_urgent_unless_the_officer_says_so(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    plain = lodgement_fields(upper_lachlan, an_intake(), REFERENCE, clock())
    marked = lodgement_fields(upper_lachlan, an_intake(urgent=True), REFERENCE, clock())

    assert plain["urgent"] is False
    assert marked["urgent"] is True


@pytest.mark.parametrize("code", ["pothole", "barking-dog", "missed-bin", "leaking-water-meter"])
def test_the_request_is_routed_to_the_team_its_category_names(
    upper_lachlan: Council, clock: FakeClock, code: str
) -> None:
    fields = lodgement_fields(upper_lachlan, an_intake(category=code), REFERENCE, clock())

    assert fields["team"] == upper_lachlan.categories[code].team
    assert fields["standard"].team == fields["team"]
    assert fields["category"] == code


def test_an_agreed_completion_date_already_past_is_refused(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    past = date(2026, 3, 1)  # the day before the clock's Monday 2 March

    with pytest.raises(InvalidCommand, match="agreed completion"):
        lodgement_fields(upper_lachlan, an_intake(agreed_completion=past), REFERENCE, clock())


# The agreed date's due instant is the council's close of that day: 16:30 in Sydney.
CLOSE_OF_2_MARCH = datetime(2026, 3, 2, 16, 30, tzinfo=SYDNEY)


def test_an_agreed_completion_date_of_today_is_accepted_before_the_office_closes(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    today = date(2026, 3, 2)  # the clock's Monday, 10:00

    fields = lodgement_fields(upper_lachlan, an_intake(agreed_completion=today), REFERENCE, clock())

    assert fields["complete_by"] == CLOSE_OF_2_MARCH
    assert fields["discretionary"] is True


def test_an_agreed_completion_date_due_at_the_very_instant_of_lodgement_is_refused(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    clock.set(CLOSE_OF_2_MARCH)
    intake = an_intake(agreed_completion=date(2026, 3, 2))

    with pytest.raises(InvalidCommand, match="agreed completion"):
        lodgement_fields(upper_lachlan, intake, REFERENCE, clock())


def test_an_agreed_completion_date_due_a_moment_after_lodgement_is_accepted(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    clock.set(CLOSE_OF_2_MARCH - timedelta(microseconds=1))
    intake = an_intake(agreed_completion=date(2026, 3, 2))

    fields = lodgement_fields(upper_lachlan, intake, REFERENCE, clock())

    assert fields["complete_by"] == CLOSE_OF_2_MARCH


# -- receipt time and date-only deadlines ------------------------------------------------------


def test_a_letter_received_before_it_was_keyed_in_counts_from_its_receipt(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    # Received Monday 23 February 2026 at 09:00, keyed in Wednesday 25 February at 10:00: the
    # 5 working days to acknowledge close Monday 2 March, not Wednesday 4 March.
    received = datetime(2026, 2, 23, 9, 0, tzinfo=SYDNEY)
    clock.set(datetime(2026, 2, 25, 10, 0, tzinfo=SYDNEY))

    fields = lodgement_fields(
        upper_lachlan, an_intake(channel=Channel.LETTER, received_at=received), REFERENCE, clock()
    )

    assert fields["received_at"] == received
    assert fields["acknowledge_by"] == datetime(2026, 3, 2, 16, 30, tzinfo=SYDNEY)


def test_a_receipt_time_in_the_future_is_refused(upper_lachlan: Council, clock: FakeClock) -> None:
    with pytest.raises(InvalidCommand, match="in the future"):
        lodgement_fields(
            upper_lachlan, an_intake(received_at=clock() + timedelta(minutes=1)), REFERENCE, clock()
        )


def test_without_a_receipt_time_the_clock_starts_when_it_is_keyed_in(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    fields = lodgement_fields(upper_lachlan, an_intake(), REFERENCE, clock())

    assert fields["received_at"] == clock()


def test_an_agreed_completion_on_a_sunday_lands_at_mondays_close_and_is_not_refused(
    upper_lachlan: Council, clock: FakeClock
) -> None:
    fields = lodgement_fields(
        upper_lachlan, an_intake(agreed_completion=date(2026, 3, 8)), REFERENCE, clock()
    )

    assert fields["agreed_completion"] == date(2026, 3, 8)
    assert fields["complete_by"] == datetime(2026, 3, 9, 16, 30, tzinfo=SYDNEY)


def test_a_request_received_by_fax_is_accepted_where_the_council_takes_faxes(
    clock: FakeClock,
) -> None:
    # Seed 004: Greater Dandenong receives requests by mail, email and fax.
    dandenong = load_council(PROJECT_ROOT / "config", "greater-dandenong")
    category = next(iter(dandenong.categories))

    fields = lodgement_fields(
        dandenong, an_intake(category=category, channel=Channel.FAX), "GD-2026-000001", clock()
    )

    assert fields["channel"] is Channel.FAX


@pytest.mark.parametrize(
    ("customer", "missing"),
    [
        (
            Customer(name="Ann Lee", phone="0400 000 000", preferred_contact=ContactMethod.EMAIL),
            "e-mail address",
        ),
        (
            Customer(
                name="Ann Lee", email="ann@example.org", preferred_contact=ContactMethod.PHONE
            ),
            "phone number",
        ),
        (
            Customer(name="Ann Lee", phone="0400 000 000", preferred_contact=ContactMethod.LETTER),
            "postal address",
        ),
    ],
)
def test_a_preferred_contact_method_without_its_detail_is_refused(
    upper_lachlan: Council, clock: FakeClock, customer: Customer, missing: str
) -> None:
    with pytest.raises(InvalidCommand, match=f"gave no {missing}"):
        lodgement_fields(upper_lachlan, an_intake(customer=customer), REFERENCE, clock())
