"""The enquiry statistics and the request attachments read models, event by event: a
redelivered event changes nothing, a letter keyed in later counts on the day it was received,
events they do not keep are passed over."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from projections.enquiry_statistics import EnquiryStatistics, StatsQuery, daily, of_customer
from projections.envelope import Envelope
from projections.request_attachments import RequestAttachments, by_hash, of_request

SYDNEY = ZoneInfo("Australia/Sydney")
ACTOR = {"id": "cs", "role": "customer-service"}


def env(
    event_type: str, request_id: str, reference: str, version: int, at: str, **data: Any
) -> Envelope:
    return Envelope(
        schema_version=2,
        council="upper-lachlan",
        position=version,
        event_type=event_type,
        request_id=request_id,
        reference=reference,
        version=version,
        occurred_at=at,
        recorded_at=at,
        actor=ACTOR,
        data=data,
    )


CONTACT = env(
    "ContactLogged",
    "00000000-0000-0000-0000-000000000001",
    "UL-E2026-000001",
    1,
    "2026-03-02T01:00:00+00:00",
    contact_type="rates",
    channel="phone",
    customer_id="UL-C000007",
    note=None,
)
LETTER = env(
    "Lodged",
    "00000000-0000-0000-0000-000000000002",
    "UL-2026-000001",
    1,
    "2026-03-04T01:00:00+00:00",
    category="pothole",
    channel="letter",
    kind="service-request",
    received_at="2026-03-02T03:00:00+00:00",
    customer=None,
)
NOTE = env(
    "NoteAdded",
    "00000000-0000-0000-0000-000000000002",
    "UL-2026-000001",
    2,
    "2026-03-04T02:00:00+00:00",
    text="Rang",
    note_kind="action",
    channel=None,
)
SHA = "a" * 64
ATTACHED = env(
    "AttachmentAdded",
    "00000000-0000-0000-0000-000000000002",
    "UL-2026-000001",
    3,
    "2026-03-04T03:00:00+00:00",
    sha256=SHA,
    blob="b" * 64,
    media_type="image/png",
    size=12,
    filename="sealed:v1:x",
    note=None,
)


def applied(model: Any, engine: sa.Engine, envelopes: list[Envelope]) -> None:
    model.create(engine)
    with engine.begin() as conn:
        model.apply(conn, envelopes)


def test_each_contact_and_request_counts_once_on_its_local_day(engine: sa.Engine) -> None:
    model = EnquiryStatistics()
    applied(model, engine, [CONTACT, LETTER, NOTE, ATTACHED])
    applied(model, engine, [CONTACT, LETTER])  # redelivered: nothing changes
    q = StatsQuery(
        council="upper-lachlan",
        by="type",
        zone=SYDNEY,
        start=datetime(2026, 3, 1, tzinfo=SYDNEY),
        end=datetime(2026, 3, 5, tzinfo=SYDNEY),
    )
    with engine.connect() as conn:
        assert daily(conn, model, q) == [
            {"day": "2026-03-02", "type": "pothole", "enquiries": 0, "requests": 1, "total": 1},
            {"day": "2026-03-02", "type": "rates", "enquiries": 1, "requests": 0, "total": 1},
        ]
        assert [
            c["reference"] for c in of_customer(conn, model, "upper-lachlan", "UL-C000007")
        ] == ["UL-E2026-000001"]
    assert (
        date(2026, 3, 2)
        == datetime.fromisoformat(LETTER.data["received_at"]).astimezone(SYDNEY).date()
    )


def test_an_attachment_is_one_row_however_often_it_is_delivered(engine: sa.Engine) -> None:
    model = RequestAttachments()
    applied(model, engine, [LETTER, NOTE, ATTACHED, CONTACT])
    applied(model, engine, [ATTACHED])
    with engine.connect() as conn:
        [row] = of_request(conn, model, "upper-lachlan", "UL-2026-000001")
        assert (row["sha256"], row["size"], row["uploaded_by"]) == (SHA, 12, "cs")
        assert by_hash(conn, model, "upper-lachlan", SHA) == [row]
        assert by_hash(conn, model, "kalamunda", SHA) == []
