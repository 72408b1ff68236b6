"""Customer notices: the aggregate's rules, the handler's order (record, then hand over), the
policy that reacts to acknowledgements, delays and closures, and the delivery adapters (the
outbox table, SMTP against a real SMTP server on loopback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from commands import requests as cmds
from commands.notices import (
    Notice,
    NoticeOutcome,
    SendNotice,
    send_notice,
    tell_customer_about,
)
from domain.aggregates.service_request import ServiceRequest
from domain.errors import NoticeRefused
from domain.lodgement import Intake, lodgement_fields
from domain.values import Actor, Channel, ContactMethod, Customer, NoticeKind
from infra.config import load_council
from infra.notify import (
    NOTICE_OUTBOX,
    NoticeWorkRefused,
    OutboxNotifier,
    OutboxSender,
    SmtpNotifier,
    create_outbox,
    list_outbox,
    mark_done,
)
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.fakes import FakeClock, open_sealed, sealed

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
OFFICER = Actor(id="jsmith", role="officer")
SYSTEM = Actor(id="sla-watchdog", role="system")
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=SYDNEY)
ANN = Customer(name="Ann Lee", email="ann@example.org", preferred_contact=ContactMethod.EMAIL)


# -- givens ----------------------------------------------------------------------------------


def a_request(customer: Customer | None = ANN) -> ServiceRequest:
    """Given a pothole request lodged on Monday 2 March 2026 at 10:00 (Sydney) by `customer`
    (None: an anonymous request, as a council accepting them would record it)."""
    council = load_council(PROJECT_ROOT / "config", COUNCIL)
    fields = lodgement_fields(
        council,
        Intake(category="pothole", channel=Channel.PHONE, description="Deep pothole", customer=ANN),
        "UL-2026-000001",
        MONDAY_10,
    )
    fields["customer"] = customer
    request = ServiceRequest.lodge(occurred_at=MONDAY_10, actor=OFFICER, **sealed(fields))
    request.collect_events()
    return request


def new_events(request: ServiceRequest) -> list[Any]:
    return list(request.collect_events())


def notice(request: ServiceRequest, kind: NoticeKind, about: int | None = None) -> bool:
    return request.send_notice(
        notice=kind,
        text=f"{kind.value} text",
        occurred_at=MONDAY_10,
        actor=SYSTEM,
        about_version=about,
    )


class Delivered:
    """A notifier that remembers what it was handed, and what the store held at that moment."""

    def __init__(self, rt: Runtime | None = None) -> None:
        self.rt = rt
        self.notices: list[Notice] = []
        self.recorded_first: list[bool] = []

    def deliver(self, n: Notice) -> None:
        self.notices.append(n)
        if self.rt is not None:
            stored = list(self.rt.app.repository.event_store.get(n.request_id))
            self.recorded_first.append(type(stored[-1]).__name__ == "NoticeSent")


# -- the aggregate's rules -------------------------------------------------------------------


def test_a_notice_is_recorded_with_the_customers_preferred_method_and_address() -> None:
    request = a_request()
    request.acknowledge(occurred_at=MONDAY_10, actor=OFFICER)
    new_events(request)

    assert notice(request, NoticeKind.ACKNOWLEDGEMENT) is True

    [sent] = new_events(request)
    assert type(sent).__name__ == "NoticeSent"
    assert (sent.notice, sent.method, open_sealed(sent.recipient)) == (
        NoticeKind.ACKNOWLEDGEMENT,
        ContactMethod.EMAIL,
        "ann@example.org",
    )
    assert sent.about_version == 2  # the Acknowledged event it reports


@pytest.mark.parametrize(
    "method,expected",
    [
        (ContactMethod.PHONE, "0400 000 000"),
        (ContactMethod.SMS, "0400 000 000"),
        (ContactMethod.LETTER, "1 Main St, Crookwell"),
        (ContactMethod.EMAIL, None),
    ],
)
def test_the_recipient_is_the_detail_of_the_preferred_method(
    method: ContactMethod, expected: str | None
) -> None:
    request = a_request(
        Customer(
            name="Bo",
            phone="0400 000 000",
            address="1 Main St, Crookwell",
            preferred_contact=method,
        )
    )

    assert notice(request, NoticeKind.PROGRESS) is True
    [sent] = new_events(request)
    recipient = None if sent.recipient is None else open_sealed(sent.recipient)
    assert (sent.method, recipient) == (method, expected)


@pytest.mark.parametrize("customer", [None, Customer(name="Bo", phone="0400 000 000")])
def test_nothing_is_sent_or_recorded_when_the_customer_left_no_contact_method(
    customer: Customer | None,
) -> None:
    request = a_request(customer)

    assert notice(request, NoticeKind.PROGRESS) is False
    assert new_events(request) == []


def test_the_progress_notice_is_sent_at_most_once_per_interval() -> None:
    request = a_request()
    notice(request, NoticeKind.PROGRESS)
    new_events(request)

    with pytest.raises(NoticeRefused, match="issued already"):
        notice(request, NoticeKind.PROGRESS)
    assert new_events(request) == []


def test_the_progress_notice_repeats_every_fifteen_working_days_while_open() -> None:
    # Upper Lachlan (seed 002): a progress notice after 15 working days, repeated at the same
    # interval. The first sent Monday 2 March at 10:00 (day 0): the next closes Monday 23 March.
    request = a_request()
    notice(request, NoticeKind.PROGRESS)
    new_events(request)
    next_due = datetime(2026, 3, 23, 16, 30, tzinfo=SYDNEY)
    assert request.next_progress_notice() == next_due

    with pytest.raises(NoticeRefused, match="next falls due"):
        request.send_notice(
            notice=NoticeKind.PROGRESS,
            text="again",
            actor=SYSTEM,
            occurred_at=datetime(2026, 3, 23, 16, 29, tzinfo=SYDNEY),
        )
    assert request.send_notice(
        notice=NoticeKind.PROGRESS, text="again", actor=SYSTEM, occurred_at=next_due
    )
    assert len(new_events(request)) == 1


def test_no_progress_or_delay_notice_once_closed_and_no_closure_notice_before() -> None:
    request = a_request()
    with pytest.raises(NoticeRefused, match="not closed"):
        notice(request, NoticeKind.CLOSURE)
    request.close(
        outcome="completed",
        text="Patched",
        outcomes={"completed"},
        occurred_at=MONDAY_10,
        actor=OFFICER,
    )
    new_events(request)

    with pytest.raises(NoticeRefused, match="closed"):
        notice(request, NoticeKind.PROGRESS)
    assert notice(request, NoticeKind.CLOSURE) is True
    with pytest.raises(NoticeRefused, match="issued already"):
        notice(request, NoticeKind.CLOSURE)


def test_an_acknowledgement_notice_needs_an_acknowledgement() -> None:
    with pytest.raises(NoticeRefused, match="not been acknowledged"):
        notice(a_request(), NoticeKind.ACKNOWLEDGEMENT)


def test_each_delay_gets_its_own_notice_once() -> None:
    request = a_request()
    for until in (date(2026, 4, 10), date(2026, 4, 24)):
        request.delay(
            horizon_days=730,
            reason="Asphalt supply",
            until=until,
            occurred_at=MONDAY_10,
            actor=OFFICER,
        )
    new_events(request)  # the delays are versions 2 and 3

    assert notice(request, NoticeKind.DELAY, about=2) is True
    assert notice(request, NoticeKind.DELAY) is True  # the latest: version 3
    with pytest.raises(NoticeRefused, match="issued already"):
        notice(request, NoticeKind.DELAY, about=3)
    with pytest.raises(NoticeRefused, match="no delay at version 1"):
        notice(request, NoticeKind.DELAY, about=1)
    assert [e.about_version for e in new_events(request)] == [2, 3]


def test_a_replayed_request_remembers_the_notices_it_issued(sqlite_runtime: Runtime) -> None:
    result = lodge(sqlite_runtime)
    send_notice(
        SendNotice(
            council=COUNCIL, reference=result.reference, actor=SYSTEM, notice=NoticeKind.PROGRESS
        ),
        sqlite_runtime.ports,
        Delivered(),
    )

    sqlite_runtime.app.repository.cache = None
    request = sqlite_runtime.ports.get(result.request_id, result.reference)
    stored: list[Any] = list(sqlite_runtime.app.repository.event_store.get(result.request_id))

    assert stored[-1].notice is NoticeKind.PROGRESS and stored[-1].method is ContactMethod.EMAIL
    with pytest.raises(NoticeRefused):
        request.notice_subject(NoticeKind.PROGRESS, now=MONDAY_10)


# -- the handler -----------------------------------------------------------------------------


def lodge(rt: Runtime, customer: Customer | None = ANN) -> cmds.Result:
    intake = Intake(
        category="pothole", channel=Channel.PHONE, description="Deep pothole", customer=customer
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    )


def on(ref: str, kind: NoticeKind, **more: Any) -> SendNotice:
    return SendNotice(council=COUNCIL, reference=ref, actor=SYSTEM, notice=kind, **more)


def test_the_handler_records_the_notice_before_handing_it_over(sqlite_runtime: Runtime) -> None:
    result = lodge(sqlite_runtime)
    notifier = Delivered(sqlite_runtime)

    outcome = send_notice(on(result.reference, NoticeKind.PROGRESS), sqlite_runtime.ports, notifier)

    assert outcome.sent and outcome.result is not None and outcome.result.version == 2
    [handed] = notifier.notices
    assert notifier.recorded_first == [True]
    assert handed.recipient is not None
    recipient = sqlite_runtime.vault.opener().open(handed.recipient)
    assert (handed.request_id, handed.version, recipient) == (
        result.request_id,
        2,
        "ann@example.org",
    )
    assert result.reference in handed.text
    assert "Monday 30 March 2026" in handed.text  # the completion target, local date


def test_the_handler_says_so_and_records_nothing_without_a_contact_method(
    sqlite_runtime: Runtime,
) -> None:
    result = lodge(sqlite_runtime, Customer(name="Bo", phone="0400 000 000"))
    notifier = Delivered()

    outcome = send_notice(on(result.reference, NoticeKind.PROGRESS), sqlite_runtime.ports, notifier)

    assert outcome == NoticeOutcome() and not outcome.sent
    assert notifier.notices == []
    assert len(list(sqlite_runtime.app.repository.event_store.get(result.request_id))) == 1


def test_texts_carry_the_reference_the_delay_reason_and_date_and_the_outcome(
    sqlite_runtime: Runtime,
) -> None:
    rt, ref = sqlite_runtime, lodge(sqlite_runtime).reference
    notifier = Delivered()
    cmds.acknowledge_request(
        cmds.AcknowledgeRequest(council=COUNCIL, reference=ref, actor=OFFICER), rt.ports
    )
    cmds.delay_request(
        cmds.DelayRequest(
            council=COUNCIL,
            reference=ref,
            actor=OFFICER,
            reason="Asphalt supply delayed",
            until=date(2026, 4, 17),
        ),
        rt.ports,
    )
    cmds.close_request(
        cmds.CloseRequest(
            council=COUNCIL, reference=ref, actor=OFFICER, outcome="referred", text="Sent to TfNSW"
        ),
        rt.ports,
    )
    for kind in (NoticeKind.ACKNOWLEDGEMENT, NoticeKind.CLOSURE):
        send_notice(on(ref, kind), rt.ports, notifier)
    with pytest.raises(NoticeRefused):  # closed: the delay is history now
        send_notice(on(ref, NoticeKind.DELAY), rt.ports, notifier)

    ack, closure = (n.text for n in notifier.notices)
    assert "Your reference number is UL-2026-000001" in ack
    assert "Referred — outside Council's jurisdiction" in closure and ref in closure


def test_a_progress_notice_20_working_days_overdue_states_no_past_date(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    # Seed 002 (Upper Lachlan): the customer is told the expected time frame — one still ahead.
    # Due Monday 30 March 2026 16:30; 20 business days later (31 March-2 April, Easter, 7-10,
    # 13-17, 20-24, the Anzac Monday, 28-30 April) is Thursday 30 April.
    rt, ref = sqlite_runtime, lodge(sqlite_runtime).reference
    clock.set(datetime(2026, 4, 30, 16, 45, tzinfo=SYDNEY))
    notifier = Delivered()

    send_notice(on(ref, NoticeKind.PROGRESS), rt.ports, notifier)

    [text] = [n.text for n in notifier.notices]
    assert "30 March" not in text and "expect to complete it by" not in text
    assert "taking longer than we said" in text and "new expected date" in text


def test_an_overdue_progress_notice_gives_the_new_date_an_officer_recorded(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    # Canterbury keeps the due instant when a request is delayed (delay_moves_due = false):
    # overdue against it, the customer hears the new expected date the officer recorded.
    rt = sqlite_runtime
    intake = Intake(
        category="pothole", channel=Channel.PHONE, description="Deep pothole", customer=ANN
    )
    ref = cmds.lodge_request(
        cmds.LodgeRequest(council="canterbury", intake=intake, actor=OFFICER), rt.ports
    ).reference
    clock.set(datetime(2026, 3, 20, 10, 0, tzinfo=SYDNEY))  # after its 16 March 17:00 due
    cmds.delay_request(
        cmds.DelayRequest(
            council="canterbury",
            reference=ref,
            actor=OFFICER,
            reason="Crew away",
            until=date(2026, 4, 25),
        ),
        rt.ports,
    )
    notifier = Delivered()

    send_notice(
        SendNotice(council="canterbury", reference=ref, actor=SYSTEM, notice=NoticeKind.PROGRESS),
        rt.ports,
        notifier,
    )

    [text] = [n.text for n in notifier.notices]
    assert "16 March" not in text
    # Saturday 25 April (Anzac Day) rolls to the next business day: Monday 27 April in NSW
    # is the Anzac Day holiday too, so Tuesday 28 April.
    assert "We now expect to complete it by Tuesday 28 April 2026" in text


def test_a_delay_notice_gives_the_reason_and_the_new_date(sqlite_runtime: Runtime) -> None:
    rt, ref = sqlite_runtime, lodge(sqlite_runtime).reference
    cmds.delay_request(
        cmds.DelayRequest(
            council=COUNCIL,
            reference=ref,
            actor=OFFICER,
            reason="Asphalt supply delayed",
            until=date(2026, 4, 17),
        ),
        rt.ports,
    )
    notifier = Delivered()

    send_notice(on(ref, NoticeKind.DELAY), rt.ports, notifier)

    [text] = [n.text for n in notifier.notices]
    assert "delayed: Asphalt supply delayed" in text
    assert "by Friday 17 April 2026" in text and ref in text


# -- the policy ------------------------------------------------------------------------------


def test_the_policy_notifies_an_acknowledgement_once_and_skips_overtaken_delays(
    sqlite_runtime: Runtime,
) -> None:
    rt, ref = sqlite_runtime, lodge(sqlite_runtime).reference
    cmd = cmds.RequestCommand(council=COUNCIL, reference=ref, actor=SYSTEM)
    notifier = Delivered()
    cmds.acknowledge_request(
        cmds.AcknowledgeRequest(council=COUNCIL, reference=ref, actor=OFFICER), rt.ports
    )
    for until in (date(2026, 4, 10), date(2026, 4, 24)):
        cmds.delay_request(
            cmds.DelayRequest(
                council=COUNCIL, reference=ref, actor=OFFICER, reason="Asphalt", until=until
            ),
            rt.ports,
        )

    first = tell_customer_about("Acknowledged", cmd, 2, rt.ports, notifier)
    again = tell_customer_about("Acknowledged", cmd, 2, rt.ports, notifier)
    overtaken = tell_customer_about("Delayed", cmd, 3, rt.ports, notifier)
    latest = tell_customer_about("Delayed", cmd, 4, rt.ports, notifier)
    unrelated = tell_customer_about("NoteAdded", cmd, 1, rt.ports, notifier)

    assert first is not None and first.sent
    assert again is None and overtaken is None and unrelated is None
    assert latest is not None and latest.sent
    assert [n.notice for n in notifier.notices] == [NoticeKind.ACKNOWLEDGEMENT, NoticeKind.DELAY]
    assert "24 April 2026" in notifier.notices[1].text


# -- the outbox adapter ----------------------------------------------------------------------


def a_notice(
    method: ContactMethod = ContactMethod.EMAIL,
    recipient: str | None = "ann@x.org",
    version: int = 2,
) -> Notice:
    return Notice(
        request_id=uuid4(),
        council=COUNCIL,
        reference="UL-2026-000001",
        version=version,
        notice=NoticeKind.PROGRESS,
        method=method,
        recipient=recipient,
        text="Your request UL-2026-000001 is in progress.",
        issued_at=MONDAY_10,
    )


def test_the_outbox_holds_a_notice_once_however_often_it_is_handed_over(
    sqlite_runtime: Runtime,
) -> None:
    outbox = OutboxNotifier(sqlite_runtime.write_engine)
    n = a_notice()

    outbox.deliver(n)
    outbox.deliver(n)

    [row] = list_outbox(sqlite_runtime.write_engine, COUNCIL)
    assert (row["request_id"], row["version"], row["status"]) == (str(n.request_id), 2, "pending")
    assert row["issued_at"] == MONDAY_10


# -- the SMTP adapter, against a real SMTP server on loopback ---------------------------------


class Sink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=default_policy).parsebytes(envelope.content)
        self.messages.append(parsed)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def test_the_smtp_adapter_delivers_an_email_notice(smtp_server: tuple[Sink, int]) -> None:
    sink, port = smtp_server

    SmtpNotifier("127.0.0.1", port, "crm@council.example").deliver(a_notice())

    [msg] = sink.messages
    assert msg["To"] == "ann@x.org" and msg["From"] == "crm@council.example"
    assert msg["Subject"] == "Your request UL-2026-000001: progress"
    assert "UL-2026-000001 is in progress" in msg.get_content()


def test_the_sender_drains_email_rows_marks_them_and_leaves_letters_for_staff(
    sqlite_runtime: Runtime,
    smtp_server: tuple[Sink, int],
    clock: FakeClock,
) -> None:
    sink, port = smtp_server
    engine = sqlite_runtime.write_engine
    outbox = OutboxNotifier(engine)
    outbox.deliver(a_notice())
    outbox.deliver(a_notice(ContactMethod.LETTER, "1 Main St"))
    outbox.deliver(a_notice(ContactMethod.EMAIL, None))
    sender = OutboxSender(engine, {ContactMethod.EMAIL: SmtpNotifier("127.0.0.1", port, "crm@x")})

    drained = sender.send_pending(clock())
    again = sender.send_pending(clock())

    assert (drained.sent, drained.failed, drained.retrying) == (1, 1, 0)
    assert (again.sent, again.failed) == (0, 0)
    assert len(sink.messages) == 1
    rows = {r["method"] + str(r["recipient"]): r for r in list_outbox(engine, COUNCIL)}
    assert rows["emailann@x.org"]["status"] == "sent"
    assert rows["emailann@x.org"]["sent_at"] == clock()
    assert rows["letter1 Main St"]["status"] == "pending"
    assert rows["emailNone"]["status"] == "failed"


def test_a_server_that_cannot_be_reached_leaves_the_row_pending_for_a_retry(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    engine = sqlite_runtime.write_engine
    OutboxNotifier(engine).deliver(a_notice())
    nobody = SmtpNotifier("127.0.0.1", _free_port(), "crm@x", timeout=2)

    drained = OutboxSender(engine, {ContactMethod.EMAIL: nobody}, max_attempts=2).send_pending(
        clock()
    )

    assert (drained.sent, drained.retrying) == (0, 1)
    with engine.connect() as conn:
        status, attempts, error = conn.execute(
            sa.select(NOTICE_OUTBOX.c.status, NOTICE_OUTBOX.c.attempts, NOTICE_OUTBOX.c.error)
        ).one()
    assert (status, attempts) == ("pending", 1) and "Connection" in error


# -- the staff work list: letters to post, calls to make -------------------------------------


def test_letters_and_calls_are_a_work_list_that_staff_mark_done_and_the_record_says_how(
    sqlite_runtime: Runtime,
    clock: FakeClock,
) -> None:
    engine = sqlite_runtime.write_engine
    outbox = OutboxNotifier(engine)
    outbox.deliver(a_notice(ContactMethod.LETTER, "1 Main St"))
    outbox.deliver(a_notice(ContactMethod.PHONE, "0400 000 000"))
    letter, call = list_outbox(engine, COUNCIL, pending=True)
    clerk = Actor(id="cs.officer", role="customer-service")

    with pytest.raises(NoticeWorkRefused, match="cannot be called"):
        mark_done(engine, COUNCIL, letter["id"], by=clerk, how="called", note=None, at=clock())
    posted = mark_done(
        engine,
        COUNCIL,
        letter["id"],
        by=clerk,
        how="posted",
        note="  Sent second class  ",
        at=clock(),
    )

    assert (posted["status"], posted["done_how"], posted["done_by"], posted["done_note"]) == (
        "done",
        "posted",
        "cs.officer (customer-service)",
        "Sent second class",
    )
    assert posted["sent_at"] == clock()
    assert [r["id"] for r in list_outbox(engine, COUNCIL, pending=True)] == [call["id"]]
    with pytest.raises(NoticeWorkRefused, match="done, not pending"):
        mark_done(engine, COUNCIL, letter["id"], by=clerk, how="posted", note=None, at=clock())
    with pytest.raises(NoticeWorkRefused, match="no notice"):
        mark_done(engine, "canterbury", call["id"], by=clerk, how="called", note=None, at=clock())


def test_an_outbox_made_by_an_earlier_release_gets_the_work_list_columns(
    sqlite_runtime: Runtime,
) -> None:
    engine = sqlite_runtime.write_engine
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE notice_outbox (id INTEGER PRIMARY KEY, "
                "request_id VARCHAR(36) NOT NULL, version INTEGER NOT NULL)"
            )
        )

    create_outbox(engine)

    columns = {c["name"] for c in sa.inspect(engine).get_columns("notice_outbox")}
    assert {"done_by", "done_how", "done_note", "status", "text"} <= columns
