"""The held work queue answered in front of the framework (`infra.http.queue_front`): a read of
a current queue is answered there, after the route's own caller check, with the route's own
answer; a refusal there is the app's own 401 or 403, at once (a revoked token, a disabled
user, a role taken away); anything else is passed on to the app and answered as before."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from commands import users
from domain.values import Actor
from infra import credentials
from infra.held import NotHeld
from infra.http import auth, staff_api, store_look
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, make_settings
from tests.http_support import COUNCIL, LODGE, served, sign_in

ADMIN = Actor(id=TEST_ADMIN, role="administrator")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    staff = {"cs": ["customer-service"], "rec": ["records-officer"]}
    with served(make_settings(tmp_path / "data", url), staff) as both:
        yield both


class Checks:
    """How many caller checks the front decided (`on_loop`: of those, how many from what was
    read ahead on the event loop, on PostgreSQL; `not_held`: tries there that were not
    covered, then decided the ordinary way), and how many the app's route decided."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.front = self.app = self.on_loop = self.not_held = 0
        real = auth.api_caller

        def by_front(*args: Any, **kwargs: Any) -> Any:
            try:
                return real(*args, **kwargs)
            except NotHeld:
                self.not_held += 1
                raise
            finally:
                if sys.exc_info()[0] is not NotHeld:
                    self.front += 1
                    looked = kwargs.get("looked", args[3] if len(args) > 3 else None)
                    self.on_loop += looked is not None

        def by_app(*args: Any, **kwargs: Any) -> Any:
            self.app += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(staff_api, "api_caller", by_front)  # what the front calls
        monkeypatch.setattr(auth, "api_caller", by_app)  # what the route's dependency calls

    def seen(self) -> tuple[int, int]:
        return self.front, self.app


def lodge(client: TestClient, headers: dict[str, str]) -> str:
    got = client.post("/api/v1/requests", json=LODGE, headers=headers)
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def test_a_held_queue_is_answered_by_the_front_with_the_routes_own_answer(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    refs = {lodge(client, cs) for _ in range(3)}
    checks = Checks(monkeypatch)
    first = client.get("/api/v1/queue?team=roads&limit=2", headers=cs)
    assert first.status_code == 200, first.text
    assert checks.seen() == (1, 1)  # not held yet: the front passed it on, the app read it
    again = client.get("/api/v1/queue?team=roads&limit=2", headers=cs)
    assert checks.seen() == (2, 1)  # held: answered by the front alone
    assert again.content == first.content and len(again.json()) == 2
    for name in (
        "content-type",
        "cache-control",
        "link",
        "x-content-type-options",
        "content-security-policy",
        "x-frame-options",
    ):
        assert again.headers[name] == first.headers[name], name
    assert 'rel="next"' in again.headers["link"]
    rest = client.get(again.headers["link"].split(">")[0].lstrip("<"), headers=cs)
    assert rest.status_code == 200
    assert {r["reference"] for r in again.json() + rest.json()} == refs
    refs.add(lodge(client, cs))  # the queue changed: never answered as it was
    whole = client.get("/api/v1/queue?team=roads", headers=cs).json()
    assert {r["reference"] for r in whole} == refs


def test_a_revoked_token_is_refused_by_the_front_at_once(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
    assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200  # held
    checks = Checks(monkeypatch)
    assert rt.credentials.revoke_tokens(COUNCIL, "cs", rt.clock()) == 1
    got = client.get("/api/v1/queue?team=roads", headers=cs)
    assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer"
    assert "revoked" in got.json()["detail"] and got.headers["x-content-type-options"]
    assert checks.seen() == (1, 0)  # refused by the front, as the app refuses
    missing = client.get("/api/v1/queue?team=roads")
    assert missing.status_code == 401 and missing.json()["detail"] == "sign in: no bearer token"
    assert checks.seen() == (1, 0)


def test_a_user_disabled_or_whose_role_is_taken_away_elsewhere_is_refused_at_once(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changed through another process's runtime (as `crm users disable` would): the next read
    of the held queue is refused, though the token and the user were held."""
    client, rt = api
    cs = sign_in(client, "cs")
    for _ in range(2):
        assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
    checks = Checks(monkeypatch)
    other = Runtime(rt.settings)
    try:
        council = other.ports.council(COUNCIL)
        users.grant_role(
            users.GrantRole(council=COUNCIL, user_id="cs", role="records-officer", actor=ADMIN),
            other.directory_ports,
            council,
        )
        users.revoke_role(
            users.RevokeRole(council=COUNCIL, user_id="cs", role="customer-service", actor=ADMIN),
            other.directory_ports,
            council,
        )
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 403 and "may not run `queue`" in got.json()["detail"]
        assert checks.seen() == (1, 0)
        assert checks.on_loop == 0  # on PostgreSQL: the user's last version was not the held one
        users.grant_role(
            users.GrantRole(council=COUNCIL, user_id="cs", role="customer-service", actor=ADMIN),
            other.directory_ports,
            council,
        )
        assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
        users.disable_user(
            users.DisableUser(council=COUNCIL, user_id="cs", actor=ADMIN),
            other.directory_ports,
            council,
        )
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 403 and "disabled" in got.json()["detail"]
    finally:
        other.close()


def test_a_user_without_the_permission_gets_the_apps_403_from_the_front(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = api
    rec = sign_in(client, "rec")
    checks = Checks(monkeypatch)
    got = client.get("/api/v1/queue?team=roads", headers=rec)
    assert checks.seen() == (1, 0)
    monkeypatch.undo()
    from_app = client.get("/api/v1/queue?team=roads&as_at=2026-01-05T00:00:00Z", headers=rec)
    assert got.status_code == from_app.status_code == 403
    assert got.json() == from_app.json() and "may not run `queue`" in got.json()["detail"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("team=roads&as_at=2026-01-05T00:00:00Z", 200),  # the past: the app reads it
        ("team=roads&as_role=customer-service", 200),
        ("team=roads&unknown=1", 200),
        ("team=roads&team=water", 200),
        ("team=", 200),
        ("team=" + "r" * 65, 422),
        ("team=roads&limit=0", 422),
        ("team=roads&limit=1001", 422),
        ("team=roads&limit=ten", 422),
        ("team=roads&cursor=not-a-cursor", 400),
    ],
)
def test_any_other_query_is_passed_on_to_the_app(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch, query: str, status: int
) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    lodge(client, cs)
    for _ in range(2):  # held
        assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
    checks = Checks(monkeypatch)
    got = client.get(f"/api/v1/queue?{query}", headers=cs)
    assert got.status_code == status, got.text
    assert checks.app == 1  # the app checked and answered it


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/queue/", 307),
        ("GET", "/api/v1/queues", 404),
        ("POST", "/api/v1/queue", 405),
        ("GET", "/API/v1/queue", 404),
    ],
)
def test_another_path_or_method_is_passed_on_to_the_app(
    api: tuple[TestClient, Runtime],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    status: int,
) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    checks = Checks(monkeypatch)
    got = client.request(method, path + "?team=roads", headers=cs, follow_redirects=False)
    assert got.status_code == status and checks.front == 0


def test_the_route_is_still_documented(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/v1/queue"]["get"]["parameters"]}
    assert {"team", "officer", "limit", "cursor", "as_at"} <= names


def test_on_postgresql_a_held_read_is_decided_on_the_event_loop_from_one_round_trip(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker thread: the check and the change mark from one statement awaited on the loop
    (`store_look`); on SQLite, the same check on the loop reading local files."""
    client, rt = api
    monkeypatch.setattr(credentials, "BEARER_CACHE_SECONDS", 600.0)  # however slow the machine
    cs = sign_in(client, "cs")
    lodge(client, cs)
    for _ in range(2):  # held
        assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
    hops: list[Any] = []
    monkeypatch.setattr(auth, "run_in_threadpool", lambda *a: hops.append(a))
    checks = Checks(monkeypatch)
    got = client.get("/api/v1/queue?team=roads", headers=cs)
    assert got.status_code == 200 and len(got.json()) == 1
    assert checks.seen() == (1, 0) and checks.not_held == 0 and hops == []
    assert checks.on_loop == int(rt.settings.is_postgres)
    assert (client.app.state.store_look is None) == (not rt.settings.is_postgres)  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_the_event_loops_connections_lost_and_restored(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its connections ended by the database server: the read in flight is answered the
    ordinary way (on a worker thread), the next on the loop again over a new connection."""
    monkeypatch.setattr(credentials, "BEARER_CACHE_SECONDS", 600.0)  # however slow the machine
    staff = {"cs": ["customer-service"]}
    with served(make_settings(tmp_path / "data", pg_url), staff) as (client, rt):
        cs = sign_in(client, "cs")
        lodge(client, cs)
        for _ in range(2):
            assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
        look = client.app.state.store_look  # type: ignore[attr-defined]
        opened = look.opened
        with psycopg.connect(pg_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                (store_look.APPLICATION_NAME,),
            ).fetchall()
            assert len(ended) == store_look.CONNECTIONS
            gone = time.monotonic() + 10  # wait until the server has ended them all
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (store_look.APPLICATION_NAME,),
            ).fetchone() != (0,):
                assert time.monotonic() < gone
        checks = Checks(monkeypatch)
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 200 and len(got.json()) == 1
        assert checks.seen() == (1, 0) and checks.on_loop == 0  # the ordinary way
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 200 and len(got.json()) == 1
        assert checks.seen() == (2, 0) and checks.on_loop == 1  # on the loop again
        assert look.opened == opened + 1
        users.disable_user(  # and as safe as ever over the new connection
            users.DisableUser(council=COUNCIL, user_id="cs", actor=ADMIN),
            rt.directory_ports,
            rt.ports.council(COUNCIL),
        )
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 403 and "disabled" in got.json()["detail"]


@pytest.mark.postgres
def test_a_token_revoked_elsewhere_is_refused_at_the_next_held_read(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look reads the token's row with the rest: a revocation made by another process
    (here straight in the database, as `crm users revoke-tokens` does) is refused at once,
    though this process holds the token's check; and a check held longer than the cache's
    5 seconds is still decided on the loop, from the row as read."""
    monkeypatch.setattr(credentials, "BEARER_CACHE_SECONDS", 600.0)  # however slow the machine
    staff = {"cs": ["customer-service"]}
    with served(make_settings(tmp_path / "data", pg_url), staff) as (client, _rt):
        cs = sign_in(client, "cs")
        lodge(client, cs)
        for _ in range(2):
            assert client.get("/api/v1/queue?team=roads", headers=cs).status_code == 200
        monkeypatch.setattr(credentials, "BEARER_CACHE_SECONDS", 0.0)  # every check "old"
        hops: list[Any] = []
        real_hop = auth.run_in_threadpool

        def hop(*args: Any) -> Any:
            hops.append(args)
            return real_hop(*args)

        monkeypatch.setattr(auth, "run_in_threadpool", hop)
        checks = Checks(monkeypatch)
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 200 and len(got.json()) == 1
        assert checks.seen() == (1, 0) and checks.on_loop == 1 and hops == []
        monkeypatch.setattr(credentials, "BEARER_CACHE_SECONDS", 600.0)
        with psycopg.connect(pg_url, autocommit=True) as other:
            revoked = other.execute(
                "UPDATE crm_tokens SET revoked_at = now() AT TIME ZONE 'UTC'"
                " WHERE user_id = 'cs' AND revoked_at IS NULL"
            ).rowcount
        assert revoked == 1
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 401 and "revoked" in got.json()["detail"]
        assert checks.on_loop == 2 and hops == []
        got = client.get("/api/v1/queue?team=roads", headers=cs)  # and the ordinary way too
        assert got.status_code == 401
