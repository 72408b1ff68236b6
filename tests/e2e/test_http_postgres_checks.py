"""The staff API on PostgreSQL: the caller check (a held token and user, one indexed read) and a
held queue's look at the change mark are round trips to the database server there, so they run
on a worker thread and never hold the event loop (for a held queue's read, both in one
statement awaited on the event loop: `store_look`); on SQLite (local files) they stay on the
event loop. Either way the answers are the same: 401 without a valid token, 403 without the
permission (nothing written), the queue read from the store only when something new is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra import credentials, views
from infra.http import auth, staff_api
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.http_support import COUNCIL, served, sign_in, stored

LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 3 Mill Lane",
    "name": "Ben Example",
    "phone": "0400 000 111",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    staff = {"cs": ["customer-service"], "an": ["analyst"]}
    with served(make_settings(tmp_path / "data", url), staff) as both:
        yield both


def counting_hops(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    """The names of the functions `module` sends to a worker thread from now on."""
    hops: list[str] = []
    real = module.run_in_threadpool

    async def hop(f: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(f, "__name__", repr(f)))
        return await real(f, *args, **kwargs)

    monkeypatch.setattr(module, "run_in_threadpool", hop)
    return hops


def test_the_caller_check_runs_off_the_event_loop_on_postgresql_only(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rt = api
    cs, an = sign_in(client, "cs"), sign_in(client, "an")
    checks = counting_hops(monkeypatch, auth)
    got = client.post("/api/v1/requests", json=LODGE, headers=cs)
    assert got.status_code == 201, got.text
    expected = ["api_caller"] if rt.settings.is_postgres else []
    assert checks == expected
    before = stored(rt)
    refused = client.post("/api/v1/requests", json=LODGE, headers=an)
    assert refused.status_code == 403 and "may not run `lodge`" in refused.json()["detail"]
    assert stored(rt) == before
    assert client.post("/api/v1/requests", json=LODGE).status_code == 401
    forged = {"Authorization": "Bearer crm_" + "x" * 43}
    assert client.post("/api/v1/requests", json=LODGE, headers=forged).status_code == 401
    assert stored(rt) == before
    assert checks == expected * 3  # the 403 and the forged token's 401 were checked there too
    assert rt.credentials.revoke_tokens(COUNCIL, "cs", rt.clock()) == 1
    assert client.post("/api/v1/requests", json=LODGE, headers=cs).status_code == 401
    assert stored(rt) == before


def test_a_held_queue_is_answered_without_reading_the_store_on_either_backend(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rt = api
    monkeypatch.setattr(credentials, "BEARER_CACHE_SECONDS", 600.0)  # however slow the machine
    cs = sign_in(client, "cs")
    one = client.post("/api/v1/requests", json=LODGE, headers=cs).json()["reference"]
    reads: list[str | None] = []
    real = views.queue_plain

    def counted(rt: Runtime, c: Any, team: str | None, officer: str | None) -> Any:
        reads.append(team)
        return real(rt, c, team, officer)

    monkeypatch.setattr(views, "queue_plain", counted)
    pages = counting_hops(monkeypatch, staff_api)
    checks = counting_hops(monkeypatch, auth)

    def listed() -> list[str]:
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 200, got.text
        return [row["reference"] for row in got.json()]

    assert listed() == [one] and listed() == [one] and listed() == [one]
    assert reads == ["roads"]  # read once, then held
    # only the first read read the store, on a worker thread; the other two were answered in
    # front of the app (`queue_front`) on the event loop: on PostgreSQL from one round trip
    # awaited there (the user's last version and the change mark: `store_look`), on SQLite
    # reading local files
    assert len(pages) == 1
    if rt.settings.is_postgres:
        assert checks == ["api_caller"]  # the first: the queue not held, the route's check
    else:
        assert checks == []
    two = client.post("/api/v1/requests", json=LODGE, headers=cs).json()["reference"]
    assert sorted(listed()) == sorted([one, two]) and reads == ["roads", "roads"]
