"""Over the staff API, a request disposed of at the end of its retention refuses every change
(422, saying so) and nothing is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from commands import requests as cmds
from commands import retention
from domain.lodgement import make_intake
from domain.values import Actor, Channel
from tests.conftest import TEST_ADMIN, make_settings
from tests.fakes import FakeClock
from tests.http_support import COUNCIL, served, sign_in, stored

ADMIN = Actor(id=TEST_ADMIN, role="administrator")


def test_a_disposed_request_refuses_notes_and_reopening_over_http(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2020, 3, 2, 1, 0, tzinfo=UTC))
    settings = make_settings(tmp_path / "data")
    with served(settings, {"rec": ["records-officer"]}, clock=clock) as (client, rt):
        intake = make_intake(
            category="barking-dog",
            channel=Channel.PHONE,
            description="Barking all night",
            name="Dee Vantongeren",
            phone="0400 222 001",
        )
        ref = cmds.lodge_request(
            cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=ADMIN), rt.ports
        ).reference
        cmds.handle(
            cmds.CloseRequest(
                council=COUNCIL, reference=ref, actor=ADMIN, outcome="completed", text="Done"
            ),
            rt.ports,
        )
        clock.set(datetime(2022, 3, 3, 1, 0, tzinfo=UTC))
        retention.dispose_request(
            retention.DisposeRequest(
                council=COUNCIL,
                reference=ref,
                reason="Disposal run 2022",
                actor=Actor(id="rec", role="records-officer"),
            ),
            rt.ports,
            lambda _c, _n: [],
        )
        before = stored(rt)
        headers = sign_in(client, TEST_ADMIN)
        for path, body in (
            ("notes", {"text": "Rang the owner"}),
            ("reopen", {"reason": "The dog barks again"}),
        ):
            got = client.post(f"/api/v1/requests/{ref}/{path}", json=body, headers=headers)
            assert got.status_code == 422, got.text
            assert f"request {ref} was disposed of on" in got.text
        assert stored(rt) == before
