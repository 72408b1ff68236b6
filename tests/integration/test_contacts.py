"""Enquiries that are not service requests (seed 002: rates, planning, certificates, permits,
road closures, GIPA applications) and the daily statistics of enquiry types per channel that
Greater Dandenong keeps (seed 004), on the embedded store and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from commands import contacts, customers
from commands import requests as cmds
from consumers import operations
from consumers.store_reader import StoreReader
from domain.lodgement import make_intake
from domain.permissions import Viewer
from domain.values import Actor, Channel
from infra import views
from infra.runtime import Runtime
from projections import registry
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")
DESK = Actor(id="cs", role="customer-service")
CS = Viewer(
    user_id="cs", role="customer-service", roles=frozenset({"customer-service"}), teams=frozenset()
)
ANALYST = Viewer(user_id="an", role="analyst", roles=frozenset({"analyst"}), teams=frozenset())
NOTE = "Wren Halloway of 4 Quill St asked about the rates instalment"


def log(
    rt: Runtime,
    kind: str,
    channel: Channel,
    *,
    customer: str | None = None,
    note: str | None = None,
    council: str = "upper-lachlan",
) -> contacts.Logged:
    return contacts.log_contact(
        contacts.LogContact(
            council=council,
            contact_type=kind,
            channel=channel,
            actor=DESK,
            customer=customer,
            note=note,
        ),
        rt.ports,
    )


def lodge(rt: Runtime, channel: Channel, name: str = "Wren Halloway") -> cmds.Lodged:
    intake = make_intake(
        category="pothole",
        channel=channel,
        description="Hole in Quill St",
        name=name,
        phone="0400 111 222",
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council="upper-lachlan", intake=intake, actor=DESK), rt.ports
    )


def test_contacts_are_counted_per_local_day_by_type_and_by_channel(
    any_runtime: Runtime, clock: FakeClock
) -> None:
    rt = any_runtime
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=SYDNEY))
    log(rt, "rates", Channel.COUNTER)
    log(rt, "rates", Channel.PHONE)
    log(rt, "certificate", Channel.COUNTER)
    lodge(rt, Channel.PHONE)
    # 23:30 in Sydney is 12:30 UTC the same date: it counts on the council's own day
    clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=SYDNEY))
    log(rt, "gipa", Channel.WEBCHAT)
    clock.set(datetime(2026, 3, 3, 0, 30, tzinfo=SYDNEY))  # 2 March in UTC, 3 March here
    log(rt, "rates", Channel.PHONE)

    c = rt.ports.council("upper-lachlan")
    by_type = views.enquiry_stats(rt, c, "type", date(2026, 3, 2), date(2026, 3, 3))
    assert [(r["day"], r["type"], r["enquiries"], r["requests"]) for r in by_type] == [
        ("2026-03-02", "certificate", 1, 0),
        ("2026-03-02", "gipa", 1, 0),
        ("2026-03-02", "pothole", 0, 1),
        ("2026-03-02", "rates", 2, 0),
        ("2026-03-03", "rates", 1, 0),
    ]
    by_channel = views.enquiry_stats(rt, c, "channel", date(2026, 3, 2), date(2026, 3, 2))
    assert [(r["channel"], r["enquiries"], r["requests"], r["total"]) for r in by_channel] == [
        ("counter", 2, 0, 2),
        ("phone", 1, 1, 2),
        ("webchat", 1, 0, 1),
    ]
    assert views.enquiry_stats(rt, c, "type", date(2026, 3, 4), date(2026, 3, 9)) == []

    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, list(registry.READ_MODELS))
    assert all(d.ok for d in drifts), drifts


def test_by_default_the_statistics_end_on_the_councils_today_not_the_utc_date(
    any_runtime: Runtime, clock: FakeClock
) -> None:
    rt = any_runtime
    # the system clock gives UTC: 22:30 on 2 March in UTC is 9:30 on 3 March in Sydney
    clock.set(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))
    log(rt, "rates", Channel.COUNTER)
    c = rt.ports.council("upper-lachlan")
    assert views.council_today(rt, c) == date(2026, 3, 3)
    rows = views.enquiry_stats(rt, c, "channel")
    assert [(r["day"], r["channel"], r["enquiries"]) for r in rows] == [
        ("2026-03-03", "counter", 1)
    ]
    clock.set(datetime(2026, 3, 9, 22, 30, tzinfo=UTC))  # the seven days to 10 March
    assert views.enquiry_stats(rt, c, "channel") == []


def test_a_contact_is_in_the_audit_record_with_a_readable_summary_and_opens_no_request(
    any_runtime: Runtime,
) -> None:
    rt = any_runtime
    logged = log(rt, "road-closure", Channel.PHONE)
    assert logged.reference.startswith("UL-E")
    c = rt.ports.council("upper-lachlan")
    [row] = views.audit(rt, c, CS, "test", reference=logged.reference)
    assert row["event_type"] == "ContactLogged" and row["channel"] == "phone"
    assert row["summary"] == (
        "Enquiry 'road-closure' via phone (no customer named), recorded without opening a request"
    )
    assert views.queue(rt, c, None, None) == []  # nothing to work: not a request
    assert (
        views.kpis(rt, c, "category", date(2026, 3, 1), date(2026, 3, 31), rt.clock()).groups == []
    )


def test_an_unknown_type_is_refused_and_nothing_is_recorded(any_runtime: Runtime) -> None:
    rt = any_runtime
    head = StoreReader(rt.app).head()
    with pytest.raises(KeyError, match="unknown enquiry type 'pothole'.*rates"):
        log(rt, "pothole", Channel.COUNTER)
    # Greater Dandenong keeps its own types: Upper Lachlan's are not among them
    with pytest.raises(KeyError, match="unknown enquiry type 'gipa'"):
        log(rt, "gipa", Channel.COUNTER, council="greater-dandenong")
    assert StoreReader(rt.app).head() == head
    logged = log(rt, "payment", Channel.WEBCHAT, council="greater-dandenong")
    assert logged.reference == "GD-E2026-000001"


def test_a_note_is_sealed_listed_in_the_customers_history_and_erased_with_them(
    any_runtime: Runtime,
) -> None:
    rt = any_runtime
    c = rt.ports.council("upper-lachlan")
    lodged = lodge(rt, Channel.PHONE)
    assert lodged.customer is not None
    logged = log(rt, "rates", Channel.COUNTER, customer=lodged.customer, note=NOTE)
    stored = [e for e in StoreReader(rt.app).read(0, 100) if e.reference == logged.reference]
    assert NOTE not in json.dumps([e.data for e in stored])  # sealed in the event store
    [row] = views.audit(rt, c, CS, "crm audit", reference=logged.reference)
    assert row["payload"]["note"] == NOTE
    assert [e["via"] for e in rt.vault.access_log(c.id, lodged.customer)] == ["crm audit"]
    assert "Wren" not in row["summary"]
    [seen] = views.audit(rt, c, ANALYST, "test", reference=logged.reference)
    assert seen["payload"]["note"] == "[redacted]"
    assert seen["payload"]["customer_id"] != lodged.customer  # a pseudonym for analysts

    history = views.customer_history(rt, c, CS, lodged.customer, "test")
    assert [(x["reference"], x["type"], x["channel"]) for x in history["contacts"]] == [
        (logged.reference, "rates", "counter")
    ]

    cmds.close_request(
        cmds.CloseRequest(
            council=c.id,
            reference=lodged.reference,
            actor=DESK,
            outcome="completed",
            text="Patched",
        ),
        rt.ports,
    )
    customers.erase_customer(
        customers.EraseCustomer(
            council=c.id, number=lodged.customer, actor=DESK, reason="asked to be forgotten"
        ),
        rt.directory_ports,
        rt.vault,
        lambda council, n: views.open_requests(rt, council, n),
    )
    [row] = views.audit(rt, c, CS, "test", reference=logged.reference)
    assert row["payload"]["note"] == "[erased]"
    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, list(registry.READ_MODELS))
    assert all(d.ok for d in drifts), drifts


def test_a_note_without_a_customer_is_sealed_under_the_contacts_own_key(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    logged = log(rt, "planning", Channel.PHONE, note="Caller asked about a setback rule")
    [env] = [e for e in StoreReader(rt.app).read(0, 10) if e.reference == logged.reference]
    assert str(logged.contact_id) in env.data["note"]  # the key is the contact's own
    assert rt.vault.opener().open(env.data["note"]) == "Caller asked about a setback rule"


def test_an_enquiry_by_a_channel_refused_for_requests_is_still_counted(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    c = rt.ports.council("upper-lachlan")
    assert Channel.SOCIAL_MEDIA in c.refused_channels  # seed 002: not for service requests
    log(rt, "road-closure", Channel.SOCIAL_MEDIA)
    day = rt.clock().date()
    [row] = views.enquiry_stats(rt, c, "channel", day, day)
    assert (row["channel"], row["enquiries"]) == ("social-media", 1)


def test_a_restricted_customers_enquiry_is_recorded_and_flagged(sqlite_runtime: Runtime) -> None:
    """Seed 001 §7.4: a restriction on contact is flagged to staff, never a reason to refuse."""
    rt = sqlite_runtime
    number = lodge(rt, Channel.PHONE).customer
    assert number is not None
    customers.restrict_contact(
        customers.RestrictContact(
            council="upper-lachlan",
            number=number,
            actor=DESK,
            channels=[Channel.PHONE],
            single_point_of_contact=None,
            until=None,
            review_by=date(2026, 9, 1),
            reason="Repeated abusive calls",
        ),
        rt.directory_ports,
    )
    logged = log(rt, "rates", Channel.COUNTER, customer=number)
    [restriction] = logged.restrictions
    assert "no contact by phone" in restriction.describe()
    assert log(rt, "rates", Channel.COUNTER).restrictions == ()
