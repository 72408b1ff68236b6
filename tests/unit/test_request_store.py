"""Every command on a request loads it and saves it through `commands.request_store`: the
version the caller decided on is checked by each (not only by the basic commands), and a
request saved with another answers the first one's result."""

from __future__ import annotations

from typing import Any

import pytest

from commands import attachments, complaints, corrections
from commands import requests as cmds
from commands.errors import StaleVersion
from commands.request_store import get_request, load_request, save_request
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer
from infra.attachments import DirectoryFileStore
from infra.runtime import Runtime

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="t.lead", role="team-leader")


def lodge(rt: Runtime) -> cmds.Result:
    intake = Intake(
        category="pothole",
        channel=Channel.PHONE,
        description="Deep pothole outside 12 Spring St",
        customer=Customer(name="Ann Lee", phone="0400 000 000"),
    )
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    )


def on(result: cmds.Result, **more: Any) -> dict[str, Any]:
    return {"council": COUNCIL, "reference": result.reference, "actor": OFFICER, **more}


def test_a_stale_version_is_refused_by_every_kind_of_command_and_nothing_is_written(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    lodged = lodge(rt)
    stale = on(lodged, expected_version=lodged.version - 1)
    files = DirectoryFileStore.for_settings(rt.settings)
    attempts = [
        lambda: cmds.acknowledge_request(cmds.AcknowledgeRequest(**stale), rt.ports),
        lambda: corrections.reopen_request(
            corrections.ReopenRequest(**stale, reason="Again"), rt.ports
        ),
        lambda: complaints.record_satisfaction(
            complaints.RecordSatisfaction(**stale, score=4), rt.ports
        ),
        lambda: attachments.attach_file(
            attachments.AttachFile(
                **stale, filename="a.pdf", media_type="application/pdf", content=b"%PDF-1.4"
            ),
            rt.ports,
            files,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(StaleVersion):
            attempt()
    assert get_request(rt.ports, COUNCIL, lodged.reference).version == lodged.version


def test_a_request_saved_with_another_answers_its_own_result(sqlite_runtime: Runtime) -> None:
    rt = sqlite_runtime
    first, second = lodge(rt), lodge(rt)
    a = load_request(rt.ports, cmds.AcknowledgeRequest(**on(first)))
    b = load_request(rt.ports, cmds.AcknowledgeRequest(**on(second)))
    a.acknowledge(occurred_at=rt.ports.now(), actor=OFFICER)
    b.acknowledge(occurred_at=rt.ports.now(), actor=OFFICER)

    result = save_request(rt.ports, a, b)

    assert (result.reference, result.version) == (first.reference, first.version + 1)
    assert get_request(rt.ports, COUNCIL, second.reference).version == second.version + 1
