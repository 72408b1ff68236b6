"""The staff API's alerts, notices work list, SLA sweep and record routes (the CLI's `alerts`,
`notices done`, `sla sweep` and `record verify|anchor|due-for-disposal|dispose`), and the
`Idempotency-Key` on every POST: a retry answers the first result and acts once; the same key
with another body or on another route is refused; while the first attempt runs, 409."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from infra import record_anchor
from infra.http import idempotency
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.http_support import COUNCIL, LODGE, served, sign_in, stored

LETTER = {**LODGE, "customer_address": "12 Spring St, Crookwell NSW", "contact": "letter"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    staff = {
        "cs": ["customer-service"],
        "tl": ["team-leader"],
        "rec": ["records-officer"],
        "co": ["complaints-officer"],
    }
    data = tmp_path_factory.mktemp("http-operations") / "data"
    with served(make_settings(data), staff, {u: ["roads"] for u in staff}) as both:
        yield both


def lodged(client: TestClient, body: dict[str, object] = LODGE) -> str:
    got = client.post("/api/v1/requests", json=body, headers=sign_in(client, "cs"))
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def test_an_urgent_requests_alert_is_listed_and_taken_once(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    ref = lodged(client, {**LODGE, "urgent": True})
    tl = sign_in(client, "tl")
    [alert] = [a for a in client.get("/api/v1/alerts", headers=tl).json() if a["reference"] == ref]
    assert alert["role"] == "team-leader" and alert["status"] == "open"
    keyed = {**tl, "Idempotency-Key": f"take-{alert['id']}"}
    taken = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=keyed)
    assert taken.status_code == 200 and taken.json()["taken_by"] == "tl"
    again = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=keyed)
    assert again.json() == taken.json() and again.headers["Idempotent-Replayed"] == "true"
    twice = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=tl)
    assert twice.status_code == 422 and "taken already" in twice.json()["detail"]
    assert ref not in [a["reference"] for a in client.get("/api/v1/alerts", headers=tl).json()]
    everything = client.get("/api/v1/alerts", params={"all": "true"}, headers=tl).json()
    assert [a["status"] for a in everything if a["reference"] == ref] == ["taken"]
    history = client.get(f"/api/v1/requests/{ref}/history", headers=tl).json()
    assert [e["type"] for e in history].count("AlertTaken") == 1  # recorded once, by tl


def test_a_sweep_queues_the_letter_and_marking_it_posted_is_recorded_once(
    api: tuple[TestClient, Runtime],
) -> None:
    client, _ = api
    ref = lodged(client, LETTER)
    tl = sign_in(client, "tl")
    assert client.post(f"/api/v1/requests/{ref}/acknowledge", headers=tl).status_code == 200
    swept = client.post("/api/v1/sla/sweep", headers=tl)  # no body: sweeps at the present
    assert swept.status_code == 200, swept.text
    assert any(ref in line for line in swept.json()["actions"]), swept.json()
    again = client.post("/api/v1/sla/sweep", json={}, headers=tl)  # the notice went once
    assert again.status_code == 200 and not any(ref in a for a in again.json()["actions"])
    [letter] = [
        n
        for n in client.get("/api/v1/notices", params={"reference": ref}, headers=tl).json()
        if n["method"] == "letter"
    ]
    done = client.post(
        f"/api/v1/notices/{letter['id']}/done",
        headers=tl,
        json={"by": "posted", "note": "Second-class post"},
    )
    assert done.status_code == 200 and done.json()["status"] != letter["status"]
    assert "recipient" not in done.json()
    again = client.post(f"/api/v1/notices/{letter['id']}/done", headers=tl, json={"by": "posted"})
    assert again.status_code == 422 and "not pending" in again.json()["detail"]
    wrong = client.post(f"/api/v1/notices/{letter['id']}/done", headers=tl, json={"by": "faxed"})
    assert wrong.status_code == 422


def test_the_record_verifies_is_anchored_with_the_councils_key_and_keeps_an_open_request(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    ref = lodged(client)
    rec = sign_in(client, "rec")
    checked = client.get("/api/v1/record/verify", headers=rec)
    assert checked.status_code == 200 and checked.json()["ok"] is True
    assert checked.headers["X-Record-Verified"] == "true"
    assert checked.json()["logs"]["requests"]["event_count"] >= 1
    keyless = client.post("/api/v1/record/anchor", headers=rec)
    assert keyless.status_code == 422 and "crm record keygen" in keyless.json()["detail"]
    record_anchor.generate(record_anchor.key_path(rt.settings, COUNCIL))
    anchored = client.post("/api/v1/record/anchor", headers=rec)
    assert anchored.status_code == 201, anchored.text
    public = record_anchor.load_public(record_anchor.key_path(rt.settings, COUNCIL))
    assert record_anchor.read(json.dumps(anchored.json()), public, COUNCIL)
    due = client.get("/api/v1/record/due-for-disposal", headers=rec)
    assert due.status_code == 200 and ref not in [r["reference"] for r in due.json()]
    before = stored(rt)
    kept = client.post(
        f"/api/v1/requests/{ref}/dispose", headers=rec, json={"reason": "Retention ended"}
    )
    assert kept.status_code == 422 and stored(rt) == before
    officer = client.post(
        f"/api/v1/requests/{ref}/dispose",
        headers=sign_in(client, "tl"),
        json={"reason": "Retention ended"},
    )
    assert officer.status_code == 403 and stored(rt) == before


def test_every_post_takes_an_idempotency_key_a_retry_acts_once(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    ref = lodged(client)
    contact = {**cs, "Idempotency-Key": "contact-1"}
    first = client.post(
        "/api/v1/contacts", json={"type": "rates", "channel": "phone"}, headers=contact
    )
    after = stored(rt)
    again = client.post(
        "/api/v1/contacts", json={"type": "rates", "channel": "phone"}, headers=contact
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = client.post(
        "/api/v1/contacts", json={"type": "permit", "channel": "phone"}, headers=contact
    )
    assert other.status_code == 400 and "different request body" in other.json()["detail"]
    upload = {**cs, "Idempotency-Key": "upload-1", "Content-Type": "text/plain"}
    path = f"/api/v1/requests/{ref}/attachments?filename=notes.txt"
    kept = client.post(path, content=b"Site notes", headers=upload)
    assert kept.status_code == 201, kept.text
    assert client.post(path, content=b"Site notes", headers=upload).json() == kept.json()
    assert len(client.get(f"/api/v1/requests/{ref}/attachments", headers=cs).json()) == 1
    changed = client.post(path, content=b"Other notes", headers=upload)
    assert changed.status_code == 400
    # the same key on another request's route is another request: refused, never replayed
    note = {**cs, "Idempotency-Key": "note-1"}
    assert (
        client.post(
            f"/api/v1/requests/{ref}/notes", json={"text": "Rang"}, headers=note
        ).status_code
        == 200
    )
    elsewhere = client.post(
        f"/api/v1/requests/{lodged(client)}/notes", json={"text": "Rang"}, headers=note
    )
    assert elsewhere.status_code == 400
    co = {**sign_in(client, "co"), "Idempotency-Key": "declare-1"}
    number = client.get(f"/api/v1/requests/{ref}", headers=cs).json()["customer_id"]
    declared = [
        client.post(
            f"/api/v1/customers/{number}/declarations",
            headers=co,
            json={
                "conduct": "unreasonable-persistence",
                "reason": "Daily calls",
                "review_by": "2099-01-31",
            },
        )
        for _ in range(2)
    ]
    assert declared[0].status_code == declared[1].status_code == 201, declared[0].text
    assert declared[0].json() == declared[1].json()
    assert after < stored(rt)  # the note was recorded; each retry above added nothing more


def test_a_retry_while_the_first_attempt_runs_is_a_conflict_and_acts_not(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    body = json.dumps({"type": "rates", "channel": "counter"}).encode()
    # the first attempt has claimed the key and is still running
    assert (
        rt.credentials.begin(
            COUNCIL,
            "user:cs",
            "slow-1",
            idempotency.fingerprint("POST", "/api/v1/contacts", "", body),
            rt.clock(),
        )
        is None
    )
    before = stored(rt)
    got = client.post(
        "/api/v1/contacts",
        content=body,
        headers={**cs, "Idempotency-Key": "slow-1", "Content-Type": "application/json"},
    )
    assert got.status_code == 409 and "still being handled" in got.json()["detail"]
    assert stored(rt) == before


def test_erasing_unsaved_registrations_is_for_those_who_erase_customers(
    api: tuple[TestClient, Runtime],
) -> None:
    client, _ = api
    got = client.post(
        "/api/v1/customers/erase-unsaved",
        json={"older_than_minutes": 0},
        headers=sign_in(client, "rec"),
    )
    assert got.status_code == 200 and got.json() == {"erased": []}  # every record was saved
    refused = client.post("/api/v1/customers/erase-unsaved", json={}, headers=sign_in(client, "cs"))
    assert refused.status_code == 403 and "customer-erase" in refused.json()["detail"]
