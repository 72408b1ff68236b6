"""Least privilege over HTTP: the table of `tests/role_matrix.py`, the one the CLI's role test
runs, now against the staff API — every role × every action the API exposes. An action a role
may not do is `403` with the CLI's own reason, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from infra.runtime import Runtime
from tests.conftest import DUE_AHEAD, TEST_ADMIN, make_settings
from tests.http_support import LODGE, served, sign_in, stored
from tests.role_matrix import CHECKED, MAY, ROLES


@dataclass(frozen=True)
class Call:
    """A representative call of an action: `{ref}` a request every case shares, `{fresh}` one
    lodged for this case alone (`{closed}`: and closed; `{complaint}`: a complaint)."""

    method: str
    path: str
    json: dict[str, object] | None = None
    text: str | None = None  # a plain-text body (an attachment's bytes), instead of JSON
    allowed: int | None = None  # when allowed, this status (a rule's refusal), not 200/201


CALLS: dict[str, Call] = {
    "lodge": Call("POST", "/api/v1/requests", LODGE),
    "acknowledge": Call("POST", "/api/v1/requests/{fresh}/acknowledge"),
    "assign": Call("POST", "/api/v1/requests/{fresh}/assign", {"team": "water"}),
    "note": Call("POST", "/api/v1/requests/{ref}/notes", {"text": "Rang the customer"}),
    "delay": Call(
        "POST", "/api/v1/requests/{ref}/delay", {"reason": "Crew away", "until": DUE_AHEAD}
    ),
    "escalate": Call("POST", "/api/v1/requests/{fresh}/escalate", {"reason": "Complained"}),
    "close": Call(
        "POST", "/api/v1/requests/{fresh}/close", {"outcome": "completed", "text": "Patched"}
    ),
    "publish": Call(
        "POST",
        "/api/v1/requests/{fresh}/public-description",
        {"text": "Pothole reported on this road"},
    ),
    "show": Call("GET", "/api/v1/requests/{ref}"),
    "history": Call("GET", "/api/v1/requests/{ref}/history"),
    "queue": Call("GET", "/api/v1/queue?team=roads"),
    "sla": Call("GET", "/api/v1/sla/breached"),
    "notices": Call("GET", "/api/v1/notices"),
    "audit": Call("GET", "/api/v1/audit?reference={ref}"),
    "kpi": Call("GET", "/api/v1/kpi?by=category&from=2026-01-01&to=2026-12-31"),
    "categories": Call("GET", "/api/v1/categories"),
    "teams": Call("GET", "/api/v1/teams"),
    "customer-find": Call("GET", "/api/v1/customers?phone=0400%20000%20000"),
    "customer-show": Call("GET", "/api/v1/customers/{customer}"),
    "customer-history": Call("GET", "/api/v1/customers/{customer}/history"),
    "customer-update": Call(
        "POST",
        "/api/v1/customers/{customer}/details",
        {"email": "ann@example.org", "reason": "Confirmed by phone"},
    ),
    "customer-conduct": Call("GET", "/api/v1/customers/reviews-due"),
    "customer-access-log": Call("GET", "/api/v1/customers/{customer}/access-log"),
    "timeline": Call("GET", "/api/v1/requests/{ref}/timeline"),
    "export": Call("GET", "/api/v1/record/export?request={ref}&format=csv"),
    "reopen": Call("POST", "/api/v1/requests/{closed}/reopen", {"reason": "Opened up again"}),
    "recategorise": Call(
        "POST",
        "/api/v1/requests/{fresh}/recategorise",
        {"category": "road-damage", "reason": "The road's shoulder"},
    ),
    "link": Call("POST", "/api/v1/requests/{fresh}/link", {"duplicate_of": "{ref}"}),
    "refer": Call(
        "POST",
        "/api/v1/requests/{fresh}/refer",
        {"agency": "transport-nsw", "reason": "A state road"},
    ),
    "agencies": Call("GET", "/api/v1/agencies"),
    "attach": Call(
        "POST", "/api/v1/requests/{ref}/attachments?filename=note.txt", text="Site visit notes"
    ),
    "attachments": Call("GET", "/api/v1/requests/{ref}/attachments"),
    "contact": Call("POST", "/api/v1/contacts", {"type": "rates", "channel": "phone"}),
    "stats": Call("GET", "/api/v1/stats?by=day,channel"),
    "sla-sweep": Call("POST", "/api/v1/sla/sweep", {}),
    "record": Call("GET", "/api/v1/record/verify"),
    # allowed: refused by the rule (an open request is kept), nothing erased
    "dispose": Call(
        "POST", "/api/v1/requests/{fresh}/dispose", {"reason": "Retention ended"}, allowed=422
    ),
    "alerts": Call("GET", "/api/v1/alerts"),
    "complaint": Call(
        "POST",
        "/api/v1/requests/{complaint}/complaint/subject",
        {"officer": "as.officer", "reason": "About their manner"},
    ),
    "complaint-report": Call("GET", "/api/v1/complaints/report"),
    "satisfaction": Call("POST", "/api/v1/requests/{closed}/satisfaction", {"score": 4}),
    # allowed: refused by the rule (the customer has an open request), nothing erased
    "customer-erase": Call(
        "POST", "/api/v1/customers/{customer}/erase", {"reason": "Asked to"}, allowed=422
    ),
}


def user_of(role: str) -> str:
    return f"as.{role}"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    data = tmp_path_factory.mktemp("roles-http") / "data"
    staff = {user_of(role): [role] for role in ROLES}
    with served(
        make_settings(data), staff, {u: ["roads"] for u in staff}, public_burst=10_000
    ) as both:
        yield both


@pytest.fixture(scope="module")
def tokens(api: tuple[TestClient, Runtime]) -> dict[str, dict[str, str]]:
    client, _ = api
    return {user: sign_in(client, user) for user in [TEST_ADMIN, *map(user_of, ROLES)]}


@pytest.fixture(scope="module")
def lodge(api: tuple[TestClient, Runtime], tokens: dict[str, dict[str, str]]) -> Callable[..., str]:
    client, _ = api

    def new(kind: str = "service-request") -> str:
        got = client.post(
            "/api/v1/requests", json={**LODGE, "kind": kind}, headers=tokens[TEST_ADMIN]
        )
        assert got.status_code == 201, got.text
        return str(got.json()["reference"])

    return new


@pytest.fixture(scope="module")
def shared(api: tuple[TestClient, Runtime], tokens: dict[str, dict[str, str]]) -> tuple[str, str]:
    """A request every case shares, and its customer's number."""
    client, _ = api
    got = client.post("/api/v1/requests", json=LODGE, headers=tokens[TEST_ADMIN])
    assert got.status_code == 201, got.text
    return str(got.json()["reference"]), str(got.json()["customer"])


def test_the_api_exposes_every_request_command_and_view_the_cli_checks() -> None:
    cli_only = {"import", "users", "projections", "permissions", "apikeys"}
    assert set(CALLS) == set(CHECKED) - cli_only


@pytest.mark.parametrize("action", CALLS)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_over_http_exactly_what_the_table_says(
    api: tuple[TestClient, Runtime],
    tokens: dict[str, dict[str, str]],
    lodge: Callable[..., str],
    shared: tuple[str, str],
    role: str,
    action: str,
) -> None:
    client, rt = api
    call = CALLS[action]
    fresh = lodge() if "{fresh}" in call.path else ""
    complaint = lodge("complaint") if "{complaint}" in call.path else ""
    closed = ""
    if "{closed}" in call.path:
        closed = lodge()
        done = client.post(
            f"/api/v1/requests/{closed}/close",
            headers=tokens[TEST_ADMIN],
            json={"outcome": "completed", "text": "Patched"},
        )
        assert done.status_code == 200, done.text
    path = (
        call.path.replace("{ref}", shared[0])
        .replace("{fresh}", fresh)
        .replace("{closed}", closed)
        .replace("{customer}", shared[1])
        .replace("{complaint}", complaint)
    )
    body = (
        None
        if call.json is None
        else {
            k: v.replace("{ref}", shared[0]) if isinstance(v, str) else v
            for k, v in call.json.items()
        }
    )
    before = stored(rt)

    plain = {"Content-Type": "text/plain"} if call.text is not None else {}
    got: Response = client.request(
        call.method, path, json=body, content=call.text, headers={**tokens[user_of(role)], **plain}
    )

    if action in MAY[role]:
        expected = (call.allowed,) if call.allowed else (200, 201)
        assert got.status_code in expected, (got.status_code, got.text)
    else:
        assert got.status_code == 403, (got.status_code, got.text)
        assert f"user {user_of(role)} may not run `{action}` as {role}" in got.json()["detail"]
        assert stored(rt) == before
