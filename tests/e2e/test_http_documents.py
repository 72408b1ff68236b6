"""The staff API's documents and enquiries: an upload read back byte for byte, the body limit
and the council's rules on uploads, a tampered file refused, and an enquiry counted in the
daily statistics (seed 002's documents and enquiries; seed 004's daily statistics)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from infra.attachments import ATTACHMENTS_DIR_VAR
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, make_settings
from tests.http_support import served, sign_in, stored

LODGE = {
    "category": "pothole",
    "channel": "counter",
    "description": "Hole in Tansy Rd",
    "name": "Ines Marrowby",
    "phone": "0400 333 444",
}
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(5000)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Runtime]]:
    monkeypatch.delenv(ATTACHMENTS_DIR_VAR, raising=False)
    with served(make_settings(tmp_path / "data"), {"cs": ["customer-service"]}) as both:
        yield both


def lodged(client: TestClient, headers: dict[str, str]) -> str:
    got = client.post("/api/v1/requests", json=LODGE, headers=headers)
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def test_an_upload_is_read_back_byte_for_byte(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    got = client.post(
        f"/api/v1/requests/{ref}/attachments?filename=photo.jpg&note=From+Ines",
        content=JPEG,
        headers={**cs, "Content-Type": "image/jpeg"},
    )
    assert got.status_code == 201, got.text
    sha = got.json()["sha256"]
    assert sha == hashlib.sha256(JPEG).hexdigest()
    [listed] = client.get(f"/api/v1/requests/{ref}/attachments", headers=cs).json()
    assert (listed["filename"], listed["size"], listed["note"]) == (
        "photo.jpg",
        len(JPEG),
        "From Ines",
    )
    back = client.get(f"/api/v1/attachments/{sha}", headers=cs)
    assert back.status_code == 200 and back.content == JPEG
    assert back.headers["content-type"] == "image/jpeg"
    assert back.headers["x-content-sha256"] == sha
    assert client.get(f"/api/v1/attachments/{'0' * 64}", headers=cs).status_code == 404


def test_uploads_over_the_limit_or_of_a_type_not_taken_are_refused_with_nothing_recorded(
    api: tuple[TestClient, Runtime], tmp_path: Path
) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    before = stored(rt)
    url = f"/api/v1/requests/{ref}/attachments?filename=x"
    too_big = client.post(
        url,
        content=b"\xff\xd8\xff" + bytes(10 * 1024 * 1024),
        headers={**cs, "Content-Type": "image/jpeg"},
    )
    assert too_big.status_code == 413, too_big.text
    exe = client.post(
        url, content=b"MZ\x90\x00", headers={**cs, "Content-Type": "application/x-msdownload"}
    )
    assert exe.status_code == 422 and "does not take" in exe.json()["detail"]
    liar = client.post(url, content=b"MZ\x90\x00", headers={**cs, "Content-Type": "image/png"})
    assert liar.status_code == 422 and "not image/png" in liar.json()["detail"]
    # anything but an upload keeps the 64 KiB limit
    note = client.post(f"/api/v1/requests/{ref}/notes", json={"text": "x" * 70_000}, headers=cs)
    assert note.status_code == 413
    assert stored(rt) == before
    assert not list((tmp_path / "data" / "attachments").rglob("*"))


def test_a_tampered_file_is_refused_with_a_conflict(
    api: tuple[TestClient, Runtime], tmp_path: Path
) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    sha = client.post(
        f"/api/v1/requests/{ref}/attachments?filename=p.jpg",
        content=JPEG,
        headers={**cs, "Content-Type": "image/jpeg"},
    ).json()["sha256"]
    [blob] = [p for p in (tmp_path / "data" / "attachments").rglob("*") if p.is_file()]
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    got = client.get(f"/api/v1/attachments/{sha}", headers=cs)
    assert got.status_code == 409 and "altered" in got.json()["detail"]


def test_an_enquiry_is_logged_and_counted(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    got = client.post(
        "/api/v1/contacts", json={"type": "certificate", "channel": "counter"}, headers=cs
    )
    assert got.status_code == 201 and got.json()["reference"].startswith("UL-E")
    bad = client.post(
        "/api/v1/contacts", json={"type": "pothole", "channel": "counter"}, headers=cs
    )
    assert bad.status_code == 400 and "unknown enquiry type" in bad.json()["detail"]
    rows = client.get(
        "/api/v1/stats?by=day,type&from=2000-01-01&to=2100-01-01",
        headers=sign_in(client, TEST_ADMIN),
    ).json()
    assert [(r["type"], r["enquiries"]) for r in rows] == [("certificate", 1)]
    # a period's end before the calendar's span is refused, never reckoned back from
    early = client.get("/api/v1/stats?to=0001-01-03", headers=sign_in(client, TEST_ADMIN))
    assert early.status_code == 422 and "must lie between 1900 and 9000" in early.text
