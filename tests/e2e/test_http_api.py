"""The staff API end to end on the embedded default: signing in, the request commands and views,
conditional commands (`If-Match`), retried POSTs (`Idempotency-Key`), and bad input answered
with a 4xx that writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog.testing
from fastapi.testclient import TestClient

from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.conftest import TEST_ADMIN, make_settings
from tests.http_support import COUNCIL, PASSWORD, served, sign_in, stored

LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 12 Spring St",
    "name": "Ann Lee",
    "phone": "0400 000 000",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    staff = {
        "cs": ["customer-service"],
        "an": ["analyst"],
        "rec": ["records-officer"],
        "off": ["officer"],
    }
    with served(make_settings(tmp_path / "data"), staff, {"off": ["roads"]}) as both:
        yield both


def lodged(client: TestClient, headers: dict[str, str], **extra: object) -> str:
    got = client.post("/api/v1/requests", json={**LODGE, **extra}, headers=headers)
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def test_signing_in_gives_a_token_and_nothing_else_does(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    assert client.get("/api/v1/queue").status_code == 401
    bad = client.post("/api/v1/token", data={"username": "cs", "password": "wrong password!"})
    assert bad.status_code == 401
    unknown = client.post("/api/v1/token", data={"username": "ghost", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.json() == bad.json()  # says nothing more
    headers = sign_in(client, "cs")
    assert client.get("/api/v1/me", headers=headers).json()["roles"] == ["customer-service"]
    forged = {"Authorization": "Bearer crm_" + "x" * 43}
    assert client.get("/api/v1/queue", headers=forged).status_code == 401
    assert client.delete("/api/v1/token", headers=headers).status_code == 204
    assert client.get("/api/v1/queue", headers=headers).status_code == 401  # revoked


def test_a_valid_token_without_the_permission_is_403_and_writes_nothing(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    before = stored(rt)
    got = client.post("/api/v1/requests", json=LODGE, headers=sign_in(client, "an"))
    assert got.status_code == 403 and "may not run `lodge` as analyst" in got.json()["detail"]
    assert stored(rt) == before


def test_a_request_is_lodged_worked_and_shown_as_each_reader_may_see_it(
    api: tuple[TestClient, Runtime],
) -> None:
    client, _ = api
    cs, analyst, officer = (sign_in(client, u) for u in ("cs", "an", "off"))
    got = client.post("/api/v1/requests", json=LODGE, headers=cs)
    assert got.status_code == 201 and got.headers["ETag"] == '"1"'
    ref = got.json()["reference"]
    assert got.headers["Location"] == f"/api/v1/requests/{ref}"
    assert client.post(f"/api/v1/requests/{ref}/acknowledge", headers=officer).status_code == 200
    assert [
        r["reference"]
        for r in client.get("/api/v1/queue", params={"team": "roads"}, headers=officer).json()
    ] == [ref]
    shown = client.get(f"/api/v1/requests/{ref}", headers=officer)
    assert shown.headers["ETag"] == '"2"' and shown.json()["customer"]["name"] == "Ann Lee"
    hidden = client.get(f"/api/v1/requests/{ref}", headers=analyst).json()
    assert hidden["customer"]["name"] == hidden["description"] == "[redacted]"
    closed = client.post(
        f"/api/v1/requests/{ref}/close",
        headers=officer,
        json={"outcome": "completed", "text": "Patched"},
    )
    assert closed.status_code == 200, closed.text
    assert [
        e["type"] for e in client.get(f"/api/v1/requests/{ref}/history", headers=officer).json()
    ] == ["Lodged", "Acknowledged", "Closed"]
    assert client.get("/api/v1/queue", params={"team": "roads"}, headers=officer).json() == []


def test_a_command_on_a_stale_version_is_412_with_the_current_one(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    assert (
        client.post(
            f"/api/v1/requests/{ref}/acknowledge", headers={**cs, "If-Match": '"1"'}
        ).status_code
        == 200
    )
    before = stored(rt)
    stale = client.post(
        f"/api/v1/requests/{ref}/notes",
        json={"text": "Rang back"},
        headers={**cs, "If-Match": '"1"'},
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    assert stale.headers["ETag"] == '"2"'
    assert stored(rt) == before


def test_a_retried_lodgement_returns_the_first_answer_and_lodges_once(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    cs = {**sign_in(client, "cs"), "Idempotency-Key": "portal-7f3a"}
    first = client.post("/api/v1/requests", json=LODGE, headers=cs)
    after_first = stored(rt)
    again = client.post("/api/v1/requests", json=LODGE, headers=cs)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(rt) == after_first
    other = client.post("/api/v1/requests", json={**LODGE, "description": "Another"}, headers=cs)
    assert other.status_code == 400 and "different request body" in other.json()["detail"]
    rows = (
        rt.credentials.engine.connect().exec_driver_sql("SELECT * FROM crm_idempotency").fetchall()
    )
    assert "Ann Lee" not in repr(rows) and "0400" not in repr(rows)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({**LODGE, "category": "graffiti"}, 422, "unknown category"),
        ({**LODGE, "name": None, "phone": None}, 422, "does not action anonymous requests"),
        ({**LODGE, "channel": "carrier-pigeon"}, 422, "channel"),
        ({**LODGE, "extra": 1}, 422, "extra"),
        ({**LODGE, "description": "x" * 5000}, 422, "description"),
    ],
)
def test_bad_input_is_a_4xx_that_says_why_and_writes_nothing(
    api: tuple[TestClient, Runtime], body: dict[str, object], status: int, says: str
) -> None:
    client, rt = api
    before = stored(rt)
    got = client.post("/api/v1/requests", json=body, headers=sign_in(client, "cs"))
    assert got.status_code == status and says in got.text, got.text
    assert stored(rt) == before


def test_a_body_over_the_bound_is_413_and_malformed_json_is_422(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    cs = {**sign_in(client, "cs"), "Content-Type": "application/json"}
    before = stored(rt)
    big = client.post("/api/v1/requests", content=b"{" + b" " * 70_000 + b"}", headers=cs)
    assert big.status_code == 413
    broken = client.post("/api/v1/requests", content=b'{"category": ', headers=cs)
    assert broken.status_code == 422
    assert client.get("/api/v1/requests/NO-SUCH-1", headers=cs).status_code == 404
    assert stored(rt) == before


def test_every_response_carries_the_security_headers(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    got = client.get("/api/v1/queue")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in got.headers["Content-Security-Policy"]


def test_the_access_log_names_the_route_and_status_not_the_path(
    api: tuple[TestClient, Runtime],
) -> None:
    client, _ = api
    configured = structlog.get_config()
    structlog.reset_defaults()  # every level: a `crm` run earlier in the session keeps WARNING
    try:
        with structlog.testing.capture_logs() as logs:
            assert client.get("/api/v1/requests/UL-2026-000042").status_code == 401
            assert client.get("/healthz").status_code == 200
    finally:
        structlog.configure(**configured)
    lines = [e for e in logs if e["event"] == "http_request"]
    assert [(e["path"], e["status"]) for e in lines] == [
        ("/api/v1/requests/{reference}", 401),
        ("/healthz", 200),
    ]
    assert all(e["method"] == "GET" and e["ms"] >= 0 for e in lines)
    assert "UL-2026-000042" not in repr(logs)


def test_sign_in_is_rate_limited_per_client(tmp_path: Path) -> None:
    with served(make_settings(tmp_path / "data"), {}, public_rate=0.001, public_burst=3) as (
        client,
        _,
    ):
        codes = [
            client.post("/api/v1/token", data={"username": "x", "password": "y"}).status_code
            for _ in range(5)
        ]
    assert codes == [401, 401, 401, 429, 429]


def test_crm_users_token_and_passwd_give_working_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    with served(settings, {"cs": ["customer-service"]}) as (client, _):
        env = {
            "CRM_DATA_DIR": str(settings.data_dir),
            "CRM_COUNCIL": COUNCIL,
            "PATH": "/usr/bin:/bin",
        }

        def crm(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "infra.cli", *args],
                input=stdin,
                env=env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        made = crm("--as", "cs", "users", "token", "cs", "--days", "1")
        assert made.returncode == 0, made.stderr
        [token] = made.stdout.splitlines()
        got = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and got.json()["user_id"] == "cs"
        refused = crm("--as", "cs", "users", "token", TEST_ADMIN)
        assert refused.returncode == 1 and refused.stdout == ""
        short = crm("--as", "cs", "users", "passwd", "cs", stdin="short\n")
        assert short.returncode == 2 and "at least 12" in short.stderr
        assert (
            crm(
                "--as", "cs", "users", "passwd", "cs", stdin="a much longer passphrase\n"
            ).returncode
            == 0
        )
        assert sign_in(client, "cs", "a much longer passphrase")
        revoked = crm("--as", TEST_ADMIN, "users", "revoke-tokens", "cs")
        assert revoked.returncode == 0 and "2 tokens revoked" in revoked.stdout
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )
        assert "crm_" not in json.dumps(crm("--as", TEST_ADMIN, "users", "list", "--json").stdout)


@pytest.mark.parametrize(
    ("period", "status"), [(("2026-01-01", "9999-12-31"), 422), (("2026-02-01", "2026-01-01"), 400)]
)
def test_a_period_outside_the_calendar_is_422_and_a_backwards_one_400(
    api: tuple[TestClient, Runtime], period: tuple[str, str], status: int
) -> None:
    client, _ = api
    got = client.get(
        "/api/v1/kpi",
        params={"by": "category", "from": period[0], "to": period[1]},
        headers=sign_in(client, "rec"),
    )
    assert got.status_code == status, got.text
    if status == 422:
        [error] = got.json()["detail"]
        assert error["loc"] == ["query", "to"] and "must lie between 1900 and 9000" in error["msg"]


def test_crm_apikeys_prints_a_key_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    with served(settings, {"cs": ["customer-service"]}) as (_, rt):
        env = {
            "CRM_DATA_DIR": str(settings.data_dir),
            "CRM_COUNCIL": COUNCIL,
            "PATH": "/usr/bin:/bin",
        }

        def crm(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "infra.cli", *args],
                env=env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        added = crm("--as", TEST_ADMIN, "apikeys", "add", "fixmystreet", "--channel", "mobile-app")
        assert added.returncode == 0, added.stderr
        [key] = added.stdout.splitlines()
        assert rt.credentials.api_key(key) is not None
        assert rt.credentials.api_key(key).channel == "mobile-app"  # type: ignore[union-attr]
        listed = crm("--as", TEST_ADMIN, "apikeys", "list", "--json")
        assert key not in listed.stdout and json.loads(listed.stdout)[0]["name"] == "fixmystreet"
        stored_rows = (
            rt.credentials.engine.connect().exec_driver_sql("SELECT * FROM crm_api_keys").fetchall()
        )
        assert key not in repr(stored_rows)
        assert crm("--as", "cs", "apikeys", "add", "other").returncode == 1
        assert crm("--as", TEST_ADMIN, "apikeys", "add", "fixmystreet").returncode == 2
        assert crm("--as", TEST_ADMIN, "apikeys", "revoke", "fixmystreet").returncode == 0
        assert rt.credentials.api_key(key) is None


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-05:00"]
)
def test_an_as_at_near_the_ends_of_the_calendar_is_422_not_a_server_error(
    api: tuple[TestClient, Runtime], instant: str
) -> None:
    client, _ = api
    headers = sign_in(client, "an")
    reference = lodged(client, sign_in(client, "cs"))
    for path, params in [
        ("/api/v1/queue", {"team": "roads"}),
        (f"/api/v1/requests/{reference}", {}),
        ("/api/v1/sla/breached", {}),
    ]:
        got = client.get(path, params={**params, "as_at": instant}, headers=headers)
        assert got.status_code == 422, (path, got.status_code, got.text)
        [error] = got.json()["detail"]
        assert error["loc"] == ["query", "as_at"], got.text
        assert "must lie between 1900 and 9000" in error["msg"]
