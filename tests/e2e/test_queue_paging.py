"""The work queue over HTTP, paged: `limit` (default 100, at most 1,000) and `cursor`, the next
page in a `Link` header, the body a JSON list of rows each with its `reference`; the queue held
ready in the server process is never stale (a change through this server or any other writer of
the store shows at once); a token's check is cached, but a revocation through this server takes
effect at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from commands import requests as cmds
from domain.lodgement import make_intake
from domain.values import Actor, Channel
from infra import views
from infra.http import queue_cache, staff_api
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.http_support import COUNCIL, LODGE, served, sign_in


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    with served(make_settings(tmp_path / "data"), {"cs": ["customer-service"]}) as both:
        yield both


def lodge(client: TestClient, headers: dict[str, str], **extra: object) -> str:
    got = client.post("/api/v1/requests", json={**LODGE, **extra}, headers=headers)
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert found, link
    return found.group(1)


def test_pages_follow_the_link_header_through_the_whole_queue_in_order(
    api: tuple[TestClient, Runtime],
) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    refs = [lodge(client, cs) for _ in range(4)] + [lodge(client, cs, urgent=True)]
    whole = client.get("/api/v1/queue", params={"team": "roads", "limit": 1000}, headers=cs)
    assert whole.status_code == 200 and next_link(whole) is None
    order = [row["reference"] for row in whole.json()]
    assert sorted(order) == sorted(refs) and order[0] == refs[-1]  # urgent first
    pages, url = [], "/api/v1/queue?team=roads&limit=2"
    while url is not None:
        got = client.get(url, headers=cs)
        assert got.status_code == 200 and got.headers["content-type"] == "application/json"
        rows = got.json()
        assert isinstance(rows, list) and all("reference" in row for row in rows)
        pages.append([row["reference"] for row in rows])
        url = next_link(got)
        assert url is None or url.startswith("http://testserver/api/v1/queue?")
    assert pages == [order[0:2], order[2:4], order[4:5]]
    default = client.get("/api/v1/queue", params={"team": "roads"}, headers=cs)
    assert [r["reference"] for r in default.json()] == order and next_link(default) is None


def test_a_change_between_pages_moves_no_other_row(api: tuple[TestClient, Runtime]) -> None:
    client, _ = api
    cs = sign_in(client, "cs")
    for _ in range(4):
        lodge(client, cs)
    first = client.get("/api/v1/queue?team=roads&limit=2", headers=cs)
    seen = [r["reference"] for r in first.json()]
    closed = client.post(
        f"/api/v1/requests/{seen[0]}/close",
        headers=cs,
        json={"outcome": "completed", "text": "Patched"},
    )
    assert closed.status_code == 200, closed.text
    url = next_link(first)
    assert url is not None
    rest = [r["reference"] for r in client.get(url, headers=cs).json()]
    assert len(rest) == 2 and not set(rest) & set(seen)


def test_the_held_queue_is_never_stale(api: tuple[TestClient, Runtime]) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    one = lodge(client, cs)
    assert [r["reference"] for r in client.get("/api/v1/queue?team=roads", headers=cs).json()] == [
        one
    ]
    # another writer of the same store (the CLI, another server process)
    other = Runtime(rt.settings)
    try:
        two = cmds.lodge_request(
            cmds.LodgeRequest(
                council=COUNCIL,
                actor=Actor(id="cs", role="customer-service"),
                intake=make_intake(
                    category="pothole",
                    channel=Channel.PHONE,
                    description="Another",
                    name="Bo Lee",
                    phone="0400 000 001",
                ),
            ),
            other.ports,
        ).reference
    finally:
        other.close()
    listed = [r["reference"] for r in client.get("/api/v1/queue?team=roads", headers=cs).json()]
    assert sorted(listed) == sorted([one, two])


def test_a_queue_with_nothing_new_is_answered_from_the_held_rows_without_reading_the_store(
    api: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server answers a held queue on its event loop (one look at the change mark) and
    reads the store again, on a worker thread, only once something new is stored."""
    client, _ = api
    cs = sign_in(client, "cs")
    one = lodge(client, cs)
    reads: list[str | None] = []
    real = views.queue_plain

    def counted(rt: Runtime, c: Any, team: str | None, officer: str | None) -> Any:
        reads.append(team)
        return real(rt, c, team, officer)

    monkeypatch.setattr(views, "queue_plain", counted)
    on_threads: list[object] = []
    real_hop = staff_api.run_in_threadpool

    async def hop(f: Any, *args: Any, **kwargs: Any) -> Any:
        on_threads.append(f)
        return await real_hop(f, *args, **kwargs)

    monkeypatch.setattr(staff_api, "run_in_threadpool", hop)

    def listed() -> list[str]:
        got = client.get("/api/v1/queue?team=roads", headers=cs)
        assert got.status_code == 200, got.text
        return [r["reference"] for r in got.json()]

    assert listed() == [one] and reads == ["roads"] and len(on_threads) == 1
    assert listed() == [one] and listed() == [one]
    assert reads == ["roads"] and len(on_threads) == 1  # held: answered on the event loop
    two = lodge(client, cs)
    assert sorted(listed()) == sorted([one, two])
    assert reads == ["roads", "roads"] and len(on_threads) == 2
    assert sorted(listed()) == sorted([one, two]) and len(on_threads) == 2


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 1001}, 422, "limit"),
        ({"cursor": "not-a-cursor"}, 400, "cursor"),
        ({"cursor": "W10"}, 400, "cursor"),
    ],
)
def test_a_bad_limit_or_cursor_is_refused(
    api: tuple[TestClient, Runtime], params: dict[str, object], status: int, says: str
) -> None:
    client, _ = api
    got = client.get(
        "/api/v1/queue", params={"team": "roads", **params}, headers=sign_in(client, "cs")
    )
    assert got.status_code == status and says in got.text


def test_a_revocation_through_this_server_takes_effect_at_once(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    cs = sign_in(client, "cs")
    assert client.get("/api/v1/queue", headers=cs).status_code == 200  # its check now cached
    assert rt.credentials.revoke_tokens(COUNCIL, "cs", rt.clock()) == 1
    assert client.get("/api/v1/queue", headers=cs).status_code == 401
    again = sign_in(client, "cs")
    assert client.get("/api/v1/queue", headers=again).status_code == 200
    assert client.delete("/api/v1/token", headers=again).status_code == 204
    assert client.get("/api/v1/queue", headers=again).status_code == 401


def test_cursors_round_trip_and_order_like_the_read_model() -> None:
    rows = [
        {
            "reference": "UL-2026-000003",
            "urgent": False,
            "complete_by": None,
            "lodged_at": "2026-12-01T09:00:00+11:00",
        },
        {
            "reference": "UL-2026-000002",
            "urgent": False,
            "complete_by": "2026-12-20T05:30:00+00:00",
            "lodged_at": "2026-12-01T09:00:00+11:00",
        },
        {
            "reference": "UL-2026-000001",
            "urgent": True,
            "complete_by": "2026-12-21T16:30:00+11:00",
            "lodged_at": "2026-12-01T08:00:00+11:00",
        },
    ]
    rows.append(
        {
            "reference": "UL-2026-000004",
            "urgent": False,
            "priority": True,
            "complete_by": None,
            "lodged_at": "2026-12-01T10:00:00+11:00",
        }
    )
    ordered = sorted(rows, key=queue_cache.sort_key)  # urgent, then a complaint, then by due
    assert [r["reference"][-1] for r in ordered] == ["1", "4", "2", "3"]
    key = queue_cache.sort_key(rows[1])
    assert queue_cache.decode_cursor(queue_cache.encode_cursor(key)) == key
