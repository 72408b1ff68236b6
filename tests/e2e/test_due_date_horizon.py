"""A due date a user sets — the completion date agreed at lodgement, a delay's new expected
completion date — more than the council's `due_date_horizon_days` (two years) ahead is refused
naming the field or flag — a 422 on the staff API, exit 2 on the command line — and nothing is
written; one within it is taken. On the embedded store and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from infra.runtime import Runtime
from tests.e2e.test_calendar_ends import LODGE, Crm, _lodged, api, crm  # noqa: F401
from tests.http_support import sign_in, stored

TODAY = datetime.now(ZoneInfo("Australia/Sydney")).date()
WITHIN = (TODAY + timedelta(days=700)).isoformat()
FAR = ["8999-12-29", (TODAY + timedelta(days=732)).isoformat()]


def test_the_staff_api_refuses_a_due_date_past_the_horizon_and_writes_nothing(
    api: tuple[TestClient, Runtime],  # noqa: F811
) -> None:
    client, rt = api
    ref, _ = _lodged(client)
    head = sign_in(client, "cs")
    for day in FAR:
        before = stored(rt)
        got = client.post(
            "/api/v1/requests", json={**LODGE, "agreed_completion": day}, headers=head
        )
        assert got.status_code == 422, got.text
        assert f"the agreed completion date {day} is too far ahead" in got.json()["detail"]
        got = client.post(
            f"/api/v1/requests/{ref}/delay",
            headers=head,
            json={"reason": "Asphalt supply delayed", "until": day},
        )
        assert got.status_code == 422, got.text
        assert f"the new expected completion date {day} is too far ahead" in got.json()["detail"]
        assert stored(rt) == before, day
    got = client.post(
        f"/api/v1/requests/{ref}/delay",
        headers=head,
        json={"reason": "Asphalt supply delayed", "until": WITHIN},
    )
    assert got.status_code == 200, got.text
    got = client.post("/api/v1/requests", json={**LODGE, "agreed_completion": WITHIN}, headers=head)
    assert got.status_code == 201, got.text


def test_the_command_line_refuses_a_due_date_past_the_horizon_and_writes_nothing(
    crm: Crm,  # noqa: F811
) -> None:
    lodge = ["lodge", "--json", *[a for k, v in LODGE.items() for a in (f"--{k}", v)]]
    code, out = crm(*lodge)
    assert code == 0, out
    ref = json.loads(out)["reference"]
    recorded = ("audit", "--from", "2000-01-01", "--to", "2100-01-01", "--json")
    before = crm(*recorded, user="an")
    assert before[0] == 0 and ref in before[1], before
    for day in FAR:
        code, out = crm(*lodge, "--agreed-completion", day)
        assert code == 2 and f"agreed completion date {day} is too far ahead" in out, out
        code, out = crm("delay", ref, "--reason", "Supply", "--until", day)
        assert code == 2 and f"new expected completion date {day} is too far ahead" in out, out
        assert "Traceback" not in out
    assert crm(*recorded, user="an") == before  # nothing written
    code, out = crm("delay", ref, "--reason", "Supply", "--until", WITHIN)
    assert code == 0, out
