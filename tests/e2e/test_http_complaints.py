"""The staff API's twins of `crm complaint …` and `crm satisfaction`: the same handlers, the
same refusals (4xx, nothing written), the complaints report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.http_support import served, sign_in, stored

COMPLAINT = {
    "category": "pothole",
    "channel": "email",
    "kind": "complaint",
    "description": "The crew left the hole half filled",
    "name": "Ann Lee",
    "email": "ann@example.org",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    staff = {
        "cs": ["customer-service"],
        "co": ["complaints-officer"],
        "off": ["officer"],
        "an": ["analyst"],
    }
    with served(make_settings(tmp_path / "data"), staff, {"off": ["roads"]}) as both:
        yield both


def test_a_complaint_is_handled_over_http_as_on_the_command_line(
    api: tuple[TestClient, Runtime],
) -> None:
    """Seed 002 (Upper Lachlan): a complaint about an officer; the defaults of a council that
    says nothing of kinds (every outcome allowed; no rating invited)."""
    client, rt = api
    cs, co, officer, analyst = (sign_in(client, u) for u in ("cs", "co", "off", "an"))
    got = client.post("/api/v1/requests", json=COMPLAINT, headers=cs)
    assert got.status_code == 201, got.text
    ref = got.json()["reference"]
    base = f"/api/v1/requests/{ref}"
    subject = {"officer": "off", "reason": "Left the job unfinished"}

    assert (
        client.post(f"{base}/complaint/subject", json=subject, headers=officer).status_code == 403
    )
    assert client.post(f"{base}/complaint/subject", json=subject, headers=co).status_code == 200
    before = stored(rt)
    refused = client.post(f"{base}/assign", json={"team": "roads", "officer": "off"}, headers=cs)
    assert refused.status_code == 422
    assert "cannot be assigned to them" in refused.json()["detail"]
    assert client.post(f"{base}/satisfaction", json={"score": 4}, headers=cs).status_code == 422
    assert stored(rt) == before

    assert (
        client.post(
            f"{base}/close", json={"outcome": "completed", "text": "Refilled"}, headers=cs
        ).status_code
        == 200
    )
    assert client.post(f"{base}/satisfaction", json={"score": 9}, headers=cs).status_code == 400
    assert stored(rt) == before + 1
    assert (
        client.post(
            f"{base}/satisfaction", json={"score": 4, "comment": "Fixed at last"}, headers=cs
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"{base}/complaint/review", json={"reason": "Wants an apology"}, headers=co
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"{base}/complaint/ombudsman",
            json={"reason": "Went to the Ombudsman", "their_reference": "OMB-9"},
            headers=co,
        ).status_code
        == 200
    )

    report = client.get("/api/v1/complaints/report", headers=analyst)
    assert report.status_code == 200, report.text
    total = report.json()["total"]
    assert (
        total["received"],
        total["closed"],
        total["internal_reviews"],
        total["ombudsman_referrals"],
    ) == (1, 1, 1, 1)
    assert client.get("/api/v1/complaints/report", headers=officer).status_code == 403
    history = [e["type"] for e in client.get(f"{base}/history", headers=co).json()]
    steps = [
        "ComplaintSubjectRecorded",
        "Closed",
        "SatisfactionRecorded",
        "ComplaintReviewRequested",
        "ComplaintReferredToOmbudsman",
    ]
    assert [t for t in history if t in steps] == steps
