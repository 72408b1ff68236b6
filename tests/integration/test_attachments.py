"""Documents kept with a request (seed 002: "documentation and forms associated with the request
will be housed in the CRM system"), on the embedded store and on PostgreSQL: a byte-for-byte
round trip, a tampered file refused on read, an erased customer's document unreadable, and
oversize or disallowed files refused with nothing recorded."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from commands import attachments as cmds
from commands import customers
from commands import requests as request_cmds
from commands.attachments import AttachmentRefused, AttachmentUnreadable
from commands.errors import ConcurrencyConflict
from consumers import operations
from consumers.store_reader import StoreReader
from domain.errors import NotPermitted
from domain.lodgement import make_intake
from domain.permissions import Viewer
from domain.values import Actor, Channel
from infra import views
from infra.attachments import ATTACHMENTS_DIR_VAR, DirectoryFileStore, TamperedFile
from infra.runtime import Runtime
from projections import registry

DESK = Actor(id="cs", role="customer-service")
CS = Viewer(
    user_id="cs", role="customer-service", roles=frozenset({"customer-service"}), teams=frozenset()
)
ANALYST = Viewer(user_id="an", role="analyst", roles=frozenset({"analyst"}), teams=frozenset())
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + os.urandom(1000)


@pytest.fixture(autouse=True)
def _store_beside_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ATTACHMENTS_DIR_VAR, raising=False)


def lodge(rt: Runtime) -> request_cmds.Lodged:
    intake = make_intake(
        category="pothole",
        channel=Channel.COUNTER,
        description="Hole outside 7 Vetch Lane",
        name="Odile Brackwater",
        phone="0400 222 333",
    )
    return request_cmds.lodge_request(
        request_cmds.LodgeRequest(council="upper-lachlan", intake=intake, actor=DESK), rt.ports
    )


def attach(
    rt: Runtime,
    reference: str,
    content: bytes = PNG,
    media_type: str = "image/png",
    filename: str = "Odile's photo.png",
) -> cmds.Attached:
    return cmds.attach_file(
        cmds.AttachFile(
            council="upper-lachlan",
            reference=reference,
            actor=DESK,
            filename=filename,
            media_type=media_type,
            content=content,
            note="Photo the resident brought in",
        ),
        rt.ports,
        DirectoryFileStore.for_settings(rt.settings),
    )


def stored_files(rt: Runtime) -> list[Path]:
    root = rt.settings.data_dir / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_an_attachment_survives_a_round_trip_byte_for_byte(any_runtime: Runtime) -> None:
    rt = any_runtime
    c = rt.ports.council("upper-lachlan")
    lodged = lodge(rt)
    done = attach(rt, lodged.reference)
    assert done.sha256 == hashlib.sha256(PNG).hexdigest() and done.size == len(PNG)

    [listed] = views.attachments(rt, c, CS, lodged.reference, "test")
    assert listed["filename"] == "Odile's photo.png" and listed["media_type"] == "image/png"
    assert listed["uploaded_by"] == "cs" and listed["size"] == len(PNG)
    row, content = views.attachment_content(rt, c, CS, done.sha256, "crm attachment get")
    assert content == PNG and row["reference"] == lodged.reference
    assert lodged.customer is not None
    assert "crm attachment get" in [e["via"] for e in rt.vault.access_log(c.id, lodged.customer)]

    [blob] = stored_files(rt)
    assert PNG[-200:] not in blob.read_bytes()  # sealed at rest
    stored = [e for e in StoreReader(rt.app).read(0, 100) if e.event_type == "AttachmentAdded"]
    assert "Odile" not in str(stored[0].data)  # the file name too
    [entry] = [
        r
        for r in views.audit(rt, c, CS, "test", reference=lodged.reference)
        if r["event_type"] == "AttachmentAdded"
    ]
    assert entry["summary"] == (
        f"Attached a document (image/png, {len(PNG):,} bytes, sha256 {done.sha256[:12]}…): "
        "Photo the resident brought in"
    )
    drifts = operations.verify(StoreReader(rt.app), rt.read_engine, list(registry.READ_MODELS))
    assert all(d.ok for d in drifts), drifts


def test_a_tampered_file_is_detected_on_read_and_refused(any_runtime: Runtime) -> None:
    rt = any_runtime
    c = rt.ports.council("upper-lachlan")
    done = attach(rt, lodge(rt).reference)
    [blob] = stored_files(rt)
    original = blob.read_bytes()
    altered = bytearray(original)
    altered[-1] ^= 0x01
    blob.write_bytes(bytes(altered))
    with pytest.raises(TamperedFile, match="was altered"):
        views.attachment_content(rt, c, CS, done.sha256, "test")
    blob.unlink()
    with pytest.raises(TamperedFile, match="is missing"):
        views.attachment_content(rt, c, CS, done.sha256, "test")
    blob.write_bytes(original)  # put back as it was: read intact again
    assert views.attachment_content(rt, c, CS, done.sha256, "test")[1] == PNG


def test_an_erased_customers_attachment_cannot_be_read(any_runtime: Runtime) -> None:
    rt = any_runtime
    c = rt.ports.council("upper-lachlan")
    lodged = lodge(rt)
    assert lodged.customer is not None
    done = attach(rt, lodged.reference)
    request_cmds.close_request(
        request_cmds.CloseRequest(
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
    with pytest.raises(AttachmentUnreadable, match="erased"):
        views.attachment_content(rt, c, CS, done.sha256, "test")
    [listed] = views.attachments(rt, c, CS, lodged.reference, "test")
    assert listed["filename"] == "[erased]" and listed["sha256"] == done.sha256


def test_oversize_disallowed_or_mislabelled_files_are_refused_and_nothing_is_recorded(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    ref = lodge(rt).reference
    head = StoreReader(rt.app).head()
    most = rt.ports.council("upper-lachlan").attachments.max_bytes
    assert most == 10 * 1024 * 1024  # Upper Lachlan's [attachments]
    with pytest.raises(AttachmentRefused, match="at most 10,485,760"):
        attach(rt, ref, content=PNG[:8] + bytes(most))
    with pytest.raises(AttachmentRefused, match="does not take application/x-msdownload"):
        attach(rt, ref, content=b"MZ\x90\x00", media_type="application/x-msdownload")
    with pytest.raises(AttachmentRefused, match="not image/jpeg"):
        attach(rt, ref, content=b"MZ\x90\x00", media_type="image/jpeg")
    assert StoreReader(rt.app).head() == head
    assert stored_files(rt) == []


def test_an_analyst_may_not_read_a_residents_document(sqlite_runtime: Runtime) -> None:
    rt = sqlite_runtime
    c = rt.ports.council("upper-lachlan")
    done = attach(rt, lodge(rt).reference)
    with pytest.raises(NotPermitted):
        views.attachment_content(rt, c, ANALYST, done.sha256, "test")


def test_a_document_whose_event_is_not_recorded_leaves_no_file(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = sqlite_runtime
    ref = lodge(rt).reference

    def another_change_won(_request: object) -> int:
        raise ConcurrencyConflict("changed meanwhile")

    monkeypatch.setattr(rt.ports, "save", another_change_won)
    with pytest.raises(ConcurrencyConflict):
        attach(rt, ref)
    assert stored_files(rt) == []
