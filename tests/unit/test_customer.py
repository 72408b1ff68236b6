"""The customer record: given events / when a command / then events (or a refusal).

Conduct and restrictions follow Canterbury's policy (seed 001 §7.4): who declared what, when,
why and when it is reviewed; restrictions reviewed and lifted as events of their own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.aggregates.customer import Customer, customer_id
from domain.errors import DomainError, InvalidCommand, RecordErased
from domain.values import Actor, Channel, Conduct, ContactMethod
from tests.fakes import TEST_SEALER, open_sealed

DESK = Actor(id="cs.officer", role="customer-service")
GM = Actor(id="gm", role="general-manager")
NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
NUMBER = "CA-C000001"


def seal(text: str) -> str:
    sealed = TEST_SEALER.seal(text)
    assert sealed is not None
    return sealed


def registered() -> Customer:
    customer = Customer.register(
        council="canterbury",
        number=NUMBER,
        occurred_at=NOW,
        actor=DESK,
        preferred_contact=ContactMethod.EMAIL,
        name=seal("Pat Example"),
        email=seal("pat@example.org"),
    )
    customer.collect_events()
    return customer


def new_events(customer: Customer) -> list[str]:
    return [type(e).__name__ for e in customer.collect_events()]


def test_a_record_keeps_the_details_sealed_and_is_found_by_its_number() -> None:
    customer = Customer.register(
        council="canterbury",
        number=NUMBER.lower(),
        occurred_at=NOW,
        actor=DESK,
        preferred_contact=ContactMethod.EMAIL,
        name=seal("Pat Example"),
        phone=None,
    )
    assert customer.id == customer_id("canterbury", NUMBER)
    assert open_sealed(customer.details["name"]) == "Pat Example"
    assert new_events(customer) == ["Registered"]


@pytest.mark.parametrize("details", [{"name": "Pat Example"}, {}])
def test_a_record_with_plain_or_no_details_is_refused(details: dict[str, str]) -> None:
    with pytest.raises(InvalidCommand):
        Customer.register(
            council="canterbury",
            number=NUMBER,
            occurred_at=NOW,
            actor=DESK,
            preferred_contact=ContactMethod.NONE,
            **details,
        )


def test_a_correction_is_a_new_event_that_changes_only_what_it_names() -> None:
    customer = registered()
    customer.correct(
        changes={"phone": seal("0400 111 222")}, reason="new mobile", occurred_at=NOW, actor=DESK
    )

    assert new_events(customer) == ["DetailsCorrected"]
    assert open_sealed(customer.details["phone"]) == "0400 111 222"
    assert open_sealed(customer.details["name"]) == "Pat Example"


def test_a_vexatious_declaration_records_who_when_why_and_its_review_date() -> None:
    customer = registered()
    declared = customer.declare(
        conduct=Conduct.VEXATIOUS,
        reason="Repeated baseless claims",
        review_by=date(2026, 9, 1),
        occurred_at=NOW,
        actor=GM,
    )

    [event] = customer.collect_events()
    assert isinstance(event, Customer.ConductDeclared)
    d = event.declaration
    assert (d.id, d.conduct, d.declared_by, d.declared_at, d.review_by) == (
        declared,
        Conduct.VEXATIOUS,
        "gm",
        NOW,
        date(2026, 9, 1),
    )
    assert event.actor == GM


def test_a_restriction_is_in_force_until_lifted_and_its_overdue_review_is_listed() -> None:
    customer = registered()
    rid = customer.restrict(
        channels=[Channel.PHONE],
        single_point_of_contact="m.brown",
        until=None,
        review_by=date(2026, 6, 1),
        reason="Abusive calls",
        occurred_at=NOW,
        actor=GM,
    )
    assert [r.id for r in customer.restrictions_in_force(date(2026, 5, 1))] == [rid]
    assert customer.reviews_overdue(date(2026, 5, 1)) == []
    assert [r.id for r in customer.reviews_overdue(date(2026, 6, 2))] == [rid]

    customer.review(
        restriction_id=rid,
        note="Still needed",
        next_review=date(2026, 12, 1),
        occurred_at=datetime(2026, 6, 2, tzinfo=UTC),
        actor=GM,
    )
    assert customer.reviews_overdue(date(2026, 6, 2)) == []

    customer.lift(
        restriction_id=rid,
        reason="Conduct improved",
        occurred_at=datetime(2026, 7, 1, tzinfo=UTC),
        actor=GM,
    )
    assert customer.restrictions_in_force(date(2026, 7, 1)) == []
    assert new_events(customer) == [
        "RestrictionImposed",
        "RestrictionReviewed",
        "RestrictionLifted",
    ]


def test_a_restriction_with_an_end_date_is_no_longer_in_force_after_it() -> None:
    customer = registered()
    customer.restrict(
        channels=[Channel.EMAIL],
        single_point_of_contact=None,
        until=date(2026, 4, 1),
        review_by=date(2026, 3, 20),
        reason="Volume",
        occurred_at=NOW,
        actor=GM,
    )
    assert customer.restrictions_in_force(date(2026, 4, 1))
    assert customer.restrictions_in_force(date(2026, 4, 2)) == []


@pytest.mark.parametrize(
    "doing", ["restrict-nothing", "review-in-past", "lift-unknown", "declare-review-today"]
)
def test_refusals_record_nothing(doing: str) -> None:
    customer = registered()
    with pytest.raises(DomainError):
        if doing == "restrict-nothing":
            customer.restrict(
                channels=[],
                single_point_of_contact=None,
                until=None,
                review_by=date(2026, 6, 1),
                reason="x",
                occurred_at=NOW,
                actor=GM,
            )
        elif doing == "review-in-past":
            customer.restrict(
                channels=[Channel.PHONE],
                single_point_of_contact=None,
                until=None,
                review_by=date(2026, 3, 1),
                reason="x",
                occurred_at=NOW,
                actor=GM,
            )
        elif doing == "lift-unknown":
            customer.lift(restriction_id=7, reason="x", occurred_at=NOW, actor=GM)
        else:
            customer.declare(
                conduct=Conduct.ABUSIVE, reason="x", review_by=NOW.date(), occurred_at=NOW, actor=GM
            )
    assert customer.collect_events() == []


def test_after_erasure_the_record_can_no_longer_change() -> None:
    customer = registered()
    customer.erase(reason="Retention period over", occurred_at=NOW, actor=DESK)
    assert new_events(customer) == ["PersonalDataErased"]

    with pytest.raises(RecordErased):
        customer.correct(
            changes={"name": seal("Someone Else")}, reason="x", occurred_at=NOW, actor=DESK
        )
    with pytest.raises(RecordErased):
        customer.erase(reason="again", occurred_at=NOW, actor=DESK)
