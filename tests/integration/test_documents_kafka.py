"""Enquiries and attachments on the Kafka path: relayed like every request event, applied by
their read models' consumers, each model equal to its rebuild (`crm projections verify`)."""

from __future__ import annotations

from datetime import date

import pytest

from commands import attachments, contacts
from domain.values import Actor, Channel
from infra import views
from infra.attachments import ATTACHMENTS_DIR_VAR, DirectoryFileStore
from infra.runtime import Runtime
from projections import request_attachments
from tests.fakes import FakeClock
from tests.integration.kafka_support import COUNCIL, Driver, Pipeline, wait_until

DESK = Actor(id="cs", role="customer-service")


def test_contacts_and_attachments_flow_through_kafka_and_equal_their_rebuild(
    pipeline: Pipeline, rt: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ATTACHMENTS_DIR_VAR, raising=False)
    driver = Driver(rt, clock)
    reference = driver.lodge().reference
    for kind, channel in (("rates", Channel.PHONE), ("gipa", Channel.COUNTER)):
        contacts.log_contact(
            contacts.LogContact(council=COUNCIL, contact_type=kind, channel=channel, actor=DESK),
            rt.ports,
        )
    attachments.attach_file(
        attachments.AttachFile(
            council=COUNCIL,
            reference=reference,
            actor=DESK,
            filename="form.txt",
            media_type="text/plain",
            content=b"Application form, page 1",
        ),
        rt.ports,
        DirectoryFileStore.for_settings(rt.settings),
    )

    c = rt.ports.council(COUNCIL)
    day = clock().date()
    with pipeline.worker(rt):

        def applied() -> bool:
            with rt.read_engine.connect() as conn:
                rows = request_attachments.of_request(
                    conn, request_attachments.RequestAttachments(), COUNCIL, reference
                )
            stats = views.enquiry_stats(rt, c, "type", day, day)
            return len(rows) == 1 and sum(r["total"] for r in stats) == 3

        wait_until(applied, 120, "the contacts and the attachment applied from Kafka")
        pipeline.verify()
    assert [
        (r["type"], r["enquiries"], r["requests"])
        for r in views.enquiry_stats(rt, c, "type", day, day)
    ] == [("gipa", 1, 0), ("pothole", 0, 1), ("rates", 1, 0)]
    assert date.fromisoformat(views.enquiry_stats(rt, c, "channel", day, day)[0]["day"]) == day
