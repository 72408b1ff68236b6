"""The record chain while the server runs on the embedded default: given the staff API
serving, when requests are lodged and worked over HTTP and nobody queries anything, then the
chain's head follows the event store within moments — the record is kept continuously, not
only when someone reads."""

from __future__ import annotations

import time
from pathlib import Path

from consumers import record_follower
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.http_support import served, sign_in, stored

LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 3 Wattle St",
    "name": "Imogen Vale",
    "phone": "0400 333 444",
}


def chained_through(rt: Runtime) -> int:
    with rt.record_engine.connect() as conn:
        head = record_follower.CHAIN.head(conn, "requests")
    return 0 if head is None else head.position


def wait_chained(rt: Runtime, position: int, timeout_s: float = 20.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (seen := chained_through(rt)) < position and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition, with a deadline
    return seen


def test_the_chain_head_follows_commands_made_over_http(tmp_path: Path) -> None:
    with served(make_settings(tmp_path / "data"), {"cs": ["customer-service"]}) as (client, rt):
        cs = sign_in(client, "cs")
        got = client.post("/api/v1/requests", json=LODGE, headers=cs)
        assert got.status_code == 201, got.text
        first = stored(rt)
        assert first > 0 and wait_chained(rt, first) == first
        ref = got.json()["reference"]
        assert client.post(f"/api/v1/requests/{ref}/acknowledge", headers=cs).status_code == 200
        assert (
            client.post(
                f"/api/v1/requests/{ref}/notes", headers=cs, json={"text": "Rang the caller back"}
            ).status_code
            == 200
        )
        last = stored(rt)
        assert last > first and wait_chained(rt, last) == last
