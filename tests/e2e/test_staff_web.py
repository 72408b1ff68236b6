"""The staff web pages end to end (TestClient): signing in and out with a cookie session, CSRF
refusal that writes nothing, forms limited to what the user's roles allow, redaction as the API
does it, a stale page refused with a clear message, and the security headers on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from infra.config import load_council
from infra.http.auth import SESSION_COOKIE
from infra.http.web import live
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.conftest import make_settings
from tests.fakes import FakeClock
from tests.http_support import COUNCIL, PASSWORD, served, sign_in, stored

LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 12 Spring St",
    "name": "Ann Lee",
    "phone": "0400 000 000",
}
ACTIONS = ("acknowledge", "assign", "note", "delay", "escalate", "close")


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    staff = {"cs": ["customer-service"], "an": ["analyst"], "off": ["officer"]}
    with served(make_settings(tmp_path / "data"), staff, {"off": ["roads"]}) as both:
        yield both


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def web_sign_in(client: TestClient, user: str, password: str = PASSWORD) -> None:
    form = client.get("/staff/sign-in")
    got = client.post(
        "/staff/sign-in",
        follow_redirects=False,
        data={"username": user, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert got.status_code == 303, got.text


def lodged(client: TestClient, **extra: object) -> str:
    got = client.post("/api/v1/requests", json={**LODGE, **extra}, headers=sign_in(client, "cs"))
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_the_session(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    first = client.get("/staff/queue", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/staff/sign-in"
    form = client.get("/staff/sign-in")
    wrong = client.post(
        "/staff/sign-in",
        data={"username": "off", "password": "not the password", "csrf_token": csrf_of(form.text)},
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    assert SESSION_COOKIE not in client.cookies
    form = client.get("/staff/sign-in")
    got = client.post(
        "/staff/sign-in",
        follow_redirects=False,
        data={"username": "off", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert got.status_code == 303
    cookie = next(
        c for c in got.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http (loopback); over https it is Secure, below
    token = client.cookies[SESSION_COOKIE]
    page = client.get("/staff/queue")
    assert page.status_code == 200 and "Work queue: Works and Operations" in page.text
    out = client.post(
        "/staff/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/staff/sign-in"
    client.cookies.set(SESSION_COOKIE, token)  # the old cookie, replayed: revoked
    again = client.get("/staff/queue", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/staff/sign-in"


def test_over_https_the_session_cookie_is_secure(tmp_path: Path) -> None:
    with served(make_settings(tmp_path / "data"), {"off": ["officer"]}) as (client, _):
        client.base_url = "https://testserver"  # type: ignore[assignment]
        form = client.get("/staff/sign-in")
        got = client.post(
            "/staff/sign-in",
            follow_redirects=False,
            data={"username": "off", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        cookie = next(
            c for c in got.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
        )
        assert got.status_code == 303 and "Secure" in cookie


def test_the_sign_in_form_needs_its_own_token(web: tuple[TestClient, Runtime]) -> None:
    client, _ = web
    got = client.post("/staff/sign-in", data={"username": "off", "password": PASSWORD})
    assert got.status_code == 403 and SESSION_COOKIE not in client.cookies


@pytest.mark.parametrize("token", [None, "forged", "other-session"])
def test_a_form_post_without_the_sessions_csrf_token_is_403_and_writes_nothing(
    web: tuple[TestClient, Runtime], token: str | None
) -> None:
    client, rt = web
    ref = lodged(client)
    if token == "other-session":  # a valid token of somebody else's session
        other = TestClient(client.app)
        web_sign_in(other, "cs")
        token = csrf_of(other.get("/staff/queue").text)
    web_sign_in(client, "off")
    before = stored(rt)
    data = {"version": "1"} if token is None else {"version": "1", "csrf_token": token}
    got = client.post(f"/staff/requests/{ref}/acknowledge", data=data, follow_redirects=False)
    assert got.status_code == 403 and "CSRF" in got.text
    assert stored(rt) == before
    out = client.post("/staff/sign-out", data=data, follow_redirects=False)
    assert out.status_code == 403  # signing out is a form POST too


def test_the_json_api_never_accepts_the_session_cookie(web: tuple[TestClient, Runtime]) -> None:
    client, rt = web
    web_sign_in(client, "cs")
    before = stored(rt)
    assert client.post("/api/v1/requests", json=LODGE).status_code == 401
    assert client.get("/api/v1/queue").status_code == 401
    assert stored(rt) == before


def test_an_officer_acts_from_the_request_page_and_a_stale_page_is_refused_clearly(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    ref = lodged(client)
    web_sign_in(client, "off")
    page = client.get(f"/staff/requests/{ref}")
    assert all(f'id="form-{a}"' in page.text for a in ACTIONS)
    assert "Ann Lee" in page.text  # an officer of the request's team sees the customer
    csrf = csrf_of(page.text)
    done = client.post(
        f"/staff/requests/{ref}/acknowledge", data={"version": "1", "csrf_token": csrf}
    )
    assert done.status_code == 200 and "Acknowledged." in done.text
    assert 'id="form-acknowledge"' not in done.text
    before = stored(rt)
    stale = client.post(
        f"/staff/requests/{ref}/note",
        data={"version": "1", "csrf_token": csrf, "text": "Rang back"},
    )
    assert stale.status_code == 409
    assert "changed while you had the page open" in stale.text and "version 2" in stale.text
    assert stored(rt) == before
    closed = client.post(
        f"/staff/requests/{ref}/close",
        data={"version": "2", "csrf_token": csrf, "outcome": "completed", "text": "Patched"},
    )
    assert closed.status_code == 200 and 'id="status">closed<' in closed.text
    assert 'id="form-note"' in closed.text and 'id="form-close"' not in closed.text
    assert [
        e["type"]
        for e in client.get(
            f"/api/v1/requests/{ref}/history", headers=sign_in(client, "off")
        ).json()
    ] == ["Lodged", "Acknowledged", "Closed"]
    before = stored(rt)
    refused = client.post(
        f"/staff/requests/{ref}/close",
        data={"version": "3", "csrf_token": csrf, "outcome": "completed", "text": "Again"},
    )
    assert refused.status_code == 422 and "Not saved" in refused.text
    assert stored(rt) == before


def test_an_analyst_sees_no_forms_and_redacted_fields_and_may_not_post(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    ref = lodged(client)
    web_sign_in(client, "an")
    page = client.get(f"/staff/requests/{ref}")
    assert page.status_code == 200
    assert "<form" in page.text  # signing out
    assert not any(f'id="form-{a}"' in page.text for a in ACTIONS)
    assert "Ann Lee" not in page.text and "0400" not in page.text
    assert "Deep pothole" not in page.text and "[redacted]" in page.text
    assert "Lodged" in page.text  # the timeline (history) is theirs to read
    before = stored(rt)
    got = client.post(
        f"/staff/requests/{ref}/acknowledge",
        data={"version": "1", "csrf_token": csrf_of(page.text)},
    )
    assert got.status_code == 403 and "may not run `acknowledge` as analyst" in got.text
    assert stored(rt) == before
    kpi = client.get("/staff/kpi", params={"by": "category"})
    assert kpi.status_code == 200 and '<svg id="chart-kpi-counts"' in kpi.text


def test_the_queue_shows_urgent_first_and_the_sla_state_in_words_and_colour(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    plain, urgent = lodged(client), lodged(client, urgent=True)
    web_sign_in(client, "off")
    page = client.get("/staff/queue").text
    assert page.index(f'data-reference="{urgent}"') < page.index(f'data-reference="{plain}"')
    assert '<span class="sla sla-on-track">On track</span>' in page
    everyone = client.get("/staff/queue", params={"team": ""}).text
    assert "Work queue: all teams" in everyone
    assert client.get("/staff/queue", params={"team": "no-such"}).status_code == 400
    part = client.get("/staff/queue/part", params={"team": "roads"}).text
    assert "<html" not in part and f'data-reference="{urgent}"' in part
    assert (
        client.post(
            f"/api/v1/requests/{urgent}/assign",
            headers=sign_in(client, "off"),
            json={"team": "roads", "officer": "off"},
        ).status_code
        == 200
    )
    mine = client.get("/staff/queue", params={"mine": "true"}).text
    assert f'data-reference="{urgent}"' in mine and f'data-reference="{plain}"' not in mine
    page = client.get(f"/staff/requests/{plain}").text
    assert re.search(r'id="sla"><span class="sla sla-on-track">On track</span>', page)
    missing = client.get("/staff/requests/UL-2026-999999")
    assert missing.status_code == 404 and "<h1>" in missing.text


def test_the_api_refuses_to_assign_to_anyone_but_a_staff_user_who_works_requests(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    ref = lodged(client)
    headers = sign_in(client, "off")
    for officer in ("nobody", "an"):  # unknown; an analyst
        refused = client.post(
            f"/api/v1/requests/{ref}/assign",
            headers=headers,
            json={"team": "roads", "officer": officer},
        )
        assert refused.status_code == 422, refused.text
    history = client.get(f"/api/v1/requests/{ref}/history", headers=headers).json()
    assert [e["type"] for e in history] == ["Lodged"]


def test_the_sla_dashboard_charts_breached_and_at_risk_by_team_and_category(tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    with served(
        make_settings(tmp_path / "data"),
        {"cs": ["customer-service"], "off": ["officer"]},
        {"off": ["roads"]},
        clock=clock,
    ) as (client, _):
        web_sign_in(client, "off")
        now = clock()
        clock.set(now - timedelta(days=60))  # lodged two months ago: breached now
        ref = lodged(client)
        clock.set(now)
        page = client.get("/staff/sla").text
        assert 'id="breached-count">1 breached' in page
        assert re.search(r'<svg id="chart-team"[^>]*role="img"', page)
        assert 'class="bar-breached"' in page and f">{ref}</a>" in page
        assert "Works and Operations" in page and "Pothole" in page
        queue = client.get("/staff/queue").text
        assert '<span class="sla sla-breached">Breached</span>' in queue


def test_every_page_carries_the_security_headers_and_no_inline_code(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    ref = lodged(client)
    web_sign_in(client, "cs")
    for path in ("/staff/sign-in", "/staff/queue", f"/staff/requests/{ref}", "/staff/sla"):
        got = client.get(path)
        assert got.status_code == 200, path
        h = got.headers
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert "script-src 'self'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Cache-Control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)", got.text), path
        assert " style=" not in got.text and "<style" not in got.text, path
        assert 'class="skip" href="#main"' in got.text
        labelled = set(re.findall(r'<label for="([^"]+)"', got.text))
        controls = set(re.findall(r'<(?:input|select|textarea) id="([^"]+)"', got.text))
        assert controls <= labelled, (path, controls - labelled)
    css = client.get("/staff/static/staff.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_each_role_sees_exactly_the_forms_its_permissions_allow(tmp_path: Path) -> None:
    c = load_council(PROJECT_ROOT / "config", COUNCIL)
    roles = [r for r in c.staff_roles if c.permissions.allows(r, "show")]
    assert {"analyst", "officer", "customer-service"} <= set(roles)
    staff = {"cs": ["customer-service"], **{f"u-{r}": [r] for r in roles}}
    with served(make_settings(tmp_path / "data"), staff) as (client, _):
        ref = lodged(client)
        for role in roles:
            client.cookies.clear()
            web_sign_in(client, f"u-{role}")
            page = client.get(f"/staff/requests/{ref}").text
            shown = {a for a in ACTIONS if f'id="form-{a}"' in page}
            assert shown == {a for a in ACTIONS if c.permissions.allows(role, a)}, role


def test_the_live_stream_announces_a_change_since_the_page_was_drawn(
    web: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rt = web
    monkeypatch.setattr(live, "LIFETIME", 0.0)  # one look, then the stream ends
    assert client.get("/staff/live").status_code == 401  # a stream never redirects
    web_sign_in(client, "off")
    quiet = client.get("/staff/live", params={"since": stored(rt)})
    assert quiet.headers["content-type"].startswith("text/event-stream")
    assert "event: ready" in quiet.text and "event: change" not in quiet.text
    drawn_at = stored(rt)
    lodged(client)
    news = client.get("/staff/live", params={"since": drawn_at})
    assert f"event: change\ndata: {stored(rt)}" in news.text


def test_the_pages_work_the_same_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    with served(
        make_settings(tmp_path / "data", pg_url),
        {"cs": ["customer-service"], "off": ["officer"]},
        {"off": ["roads"]},
    ) as (client, rt):
        ref = lodged(client)
        web_sign_in(client, "off")
        assert f'data-reference="{ref}"' in client.get("/staff/queue").text
        page = client.get(f"/staff/requests/{ref}")
        done = client.post(
            f"/staff/requests/{ref}/acknowledge",
            data={"version": "1", "csrf_token": csrf_of(page.text)},
        )
        assert done.status_code == 200 and "Acknowledged." in done.text
        assert 'id="breached-count">0 breached' in client.get("/staff/sla").text
        assert stored(rt) == 2
