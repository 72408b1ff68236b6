"""Errors on the staff web and the residents' portal are HTML pages in their own look (a
heading, one sentence, where to go next, never a trace); the APIs keep JSON (Open311 its own
error list)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from infra.http import open311, portal
from infra.http.app import create_app
from tests.e2e.test_staff_web import web_sign_in
from tests.open311_support import Prepared, Served, prepare, serving


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(tmp_path_factory.mktemp("errors"))


@pytest.fixture
def site(tmp_path: Path, prepared: Prepared) -> Iterator[Served]:
    with serving(tmp_path, prepared) as s:
        yield s


def is_page(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert "<h1>" in text and 'role="alert"' in text and "Traceback" not in text
    for word in words:
        assert word in text, word
    return text


def test_the_portals_errors_are_pages(site: Served) -> None:
    c = site.client
    is_page(c.get("/portal/nowhere"), 404, "Not found", "Report a problem")
    is_page(c.get("/portal", params={"jurisdiction_id": "atlantis"}), 404, "atlantis")
    is_page(c.put("/portal"), 405)
    is_page(c.post("/portal", data={"description": "x" * 5000}), 422, "description")
    too_big = c.post(
        "/portal",
        content=b"a=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    is_page(too_big, 413, "Too much to send")


def test_the_staff_webs_errors_are_pages_and_the_apis_stay_json(site: Served) -> None:
    c = site.client
    web_sign_in(c, "cs")
    is_page(c.get("/staff/no-such-page"), 404, "Not found", "Back to the work queue")
    is_page(c.get("/staff/requests/UL-2026-999999"), 404)
    api = c.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    bad = c.get("/api/v1/queue", params={"team": "x" * 65}, headers=site.staff_headers())
    assert bad.status_code == 422 and isinstance(bad.json()["detail"], list)
    o311 = c.get("/open311/v2/services/nothing.json")
    assert o311.status_code == 404 and o311.json()[0]["code"] == 404


def test_too_many_requests_are_a_page_on_the_portal_and_json_on_open311(site: Served) -> None:
    app = create_app(site.rt, ["upper-lachlan"], public_rate=0.001, public_burst=1)
    with TestClient(app) as c:
        assert c.get("/portal").status_code == 200
        is_page(c.get("/portal"), 429, "Too many requests")
        o311 = c.get("/open311/v2/services.json")
        assert o311.status_code == 429
        assert o311.headers["content-type"].startswith("application/json")


def test_a_failure_is_a_page_without_a_trace_and_json_on_the_apis(
    site: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a disk fell off at /var/lib/secret")

    monkeypatch.setattr(portal, "_submit_context", broken)
    monkeypatch.setattr(open311, "_service", broken)
    app = create_app(site.rt, ["upper-lachlan"], public_rate=1000.0, public_burst=1000)
    with TestClient(app, raise_server_exceptions=False) as c:
        text = is_page(c.get("/portal"), 500, "Something went wrong on our side")
        assert "disk fell off" not in text and "secret" not in text
        api = c.get("/open311/v2/services.json")
        assert api.status_code == 500 and "disk" not in api.text
        assert api.headers["content-type"].startswith("application/json")
