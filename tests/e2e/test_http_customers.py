"""Customer records over HTTP: a restricted customer's lodgement is flagged until the
restriction is lifted, reads are in the access log, and erasure works as on the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.http_support import served, sign_in

LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Pothole by the gate",
    "name": "Una Vexley",
    "phone": "0411 222 333",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    staff = {
        "cs": ["customer-service", "officer"],
        "co": ["complaints-officer"],
        "rec": ["records-officer"],
        "an": ["analyst"],
    }
    with served(make_settings(tmp_path / "data"), staff, {"cs": ["roads"]}) as (client, _rt):
        yield client


def test_a_restriction_flags_lodgements_until_lifted_and_erasure_ends_the_record(
    api: TestClient,
) -> None:
    cs, co, rec = (sign_in(api, u) for u in ("cs", "co", "rec"))
    first = api.post("/api/v1/requests", json=LODGE, headers=cs).json()
    number = first["customer"]
    assert first["restrictions"] == []
    [found] = api.get("/api/v1/customers", params={"phone": "+61 411 222 333"}, headers=cs).json()
    assert found == {"customer_id": number, "name": "Una Vexley", "preferred_contact": "phone"}
    made = api.post(
        f"/api/v1/customers/{number}/restrictions",
        headers=co,
        json={"channels": ["phone"], "review_by": "2099-01-31", "reason": "Abusive calls"},
    )
    assert made.status_code == 201, made.text
    flagged = api.post("/api/v1/requests", json={**LODGE, "customer": number}, headers=cs)
    assert flagged.status_code == 201 and len(flagged.json()["restrictions"]) == 1
    lifted = api.post(
        f"/api/v1/customers/{number}/restrictions/{made.json()['id']}/lift",
        headers=co,
        json={"reason": "Conduct improved"},
    )
    assert lifted.status_code == 204, lifted.text
    again = api.post("/api/v1/requests", json={**LODGE, "customer": number}, headers=cs)
    assert again.json()["restrictions"] == []
    history = api.get(f"/api/v1/customers/{number}/history", headers=cs).json()
    assert [e["type"] for e in history["events"]][-2:] == [
        "RestrictionImposed",
        "RestrictionLifted",
    ]
    assert {e["actor"]["id"] for e in history["events"][-2:]} == {"co"}

    refused = api.post(
        f"/api/v1/customers/{number}/erase", headers=rec, json={"reason": "Asked to be forgotten"}
    )
    assert refused.status_code == 422 and first["reference"] in refused.text
    for request in api.get("/api/v1/queue", headers=cs).json():
        closed = api.post(
            f"/api/v1/requests/{request['reference']}/close",
            headers=cs,
            json={"outcome": "completed", "text": "Done"},
        )
        assert closed.status_code == 200, closed.text
    erased = api.post(
        f"/api/v1/customers/{number}/erase", headers=rec, json={"reason": "Asked to be forgotten"}
    )
    assert erased.status_code == 200, erased.text
    shown = api.get(f"/api/v1/customers/{number}", headers=cs).json()
    assert shown["name"] == shown["phone"] == "[erased]"
    log = api.get(f"/api/v1/customers/{number}/access-log", headers=rec).json()
    assert ("cs", "GET /api/v1/customers?phone") in {(e["user_id"], e["via"]) for e in log}


def test_an_analyst_may_not_open_a_customer_record(api: TestClient) -> None:
    number = api.post("/api/v1/requests", json=LODGE, headers=sign_in(api, "cs")).json()["customer"]
    got = api.get(f"/api/v1/customers/{number}", headers=sign_in(api, "an"))
    assert got.status_code == 403 and "Una" not in got.text
