"""`crm show|history REF --as-at INSTANT`: the request as the council had recorded it by then —
every event recorded at or before the instant, and nothing after."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from infra import cli
from tests.conftest import add_staff, make_settings

COUNCIL = "upper-lachlan"
Crm = Callable[..., tuple[int, str]]


@pytest.fixture
def crm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Crm]:
    for name in ("CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_COUNCIL", "CRM_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    add_staff(make_settings(tmp_path / "data"), COUNCIL, {"cs": ["customer-service"]})
    logs = structlog.get_config()

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = cli.main(["--council", COUNCIL, "--as", "cs", *args])
        return code, capsys.readouterr().out

    yield run
    structlog.configure(**logs)


def test_show_and_history_as_at_an_instant_see_only_what_was_recorded_by_then(crm: Crm) -> None:
    before = datetime.now(UTC)
    _, out = crm("lodge", "--category", "pothole", "--channel", "phone", "--description",
                 "Pothole by the school", "--name", "Ivo Brantley", "--phone", "0400 777 888")
    ref = out.strip()
    lodged = datetime.now(UTC)
    assert crm("note", ref, "Crew booked")[0] == 0
    noted = datetime.now(UTC)
    assert crm("acknowledge", ref)[0] == 0

    def show(at: datetime) -> dict[str, Any]:
        code, out = crm("show", ref, "--json", "--as-at", at.isoformat())
        assert code == 0
        return json.loads(out)

    then = show(lodged)
    assert (then["version"], then["notes"], then["acknowledged_at"]) == (1, 0, None)
    assert then["as_at"] == lodged.isoformat()
    assert then["customer"]["name"] == "Ivo Brantley"
    later = show(noted)
    assert (later["version"], later["notes"], later["acknowledged_at"]) == (2, 1, None)
    now = json.loads(crm("show", ref, "--json")[1])
    assert now["version"] == 3 and now["acknowledged_at"] and "as_at" not in now

    code, out = crm("history", ref, "--json", "--as-at", noted.isoformat())
    assert code == 0 and [e["type"] for e in json.loads(out)] == ["Lodged", "NoteAdded"]
    assert crm("show", ref, "--as-at", before.isoformat())[0] == 4  # not lodged yet
    assert crm("show", ref, "--as-at", "yesterday")[0] == 2


def test_the_queue_as_at_an_instant_is_the_queue_as_it_stood_then(crm: Crm) -> None:
    def lodge(description: str) -> str:
        code, out = crm("lodge", "--category", "pothole", "--channel", "phone", "--description",
                        description, "--name", "Ivo Brantley", "--phone", "0400 777 888")
        assert code == 0
        return out.strip()

    def queue(team: str, *at: datetime) -> list[str]:
        code, out = crm("queue", "--team", team, "--json",
                        *[a for t in at for a in ("--as-at", t.isoformat())])
        assert code == 0
        return [row["reference"] for row in json.loads(out)]

    first = lodge("Pothole on the bridge")
    one = datetime.now(UTC)
    second = lodge("Pothole on the hill")
    two = datetime.now(UTC)
    assert crm("assign", first, "--team", "water")[0] == 0
    three = datetime.now(UTC)
    assert crm("close", second, "--outcome", "completed", "--text", "Patched")[0] == 0

    assert queue("roads", one) == [first]
    assert queue("roads", two) == [first, second]
    assert (queue("roads", three), queue("water", three)) == ([second], [first])
    assert (queue("roads"), queue("water")) == ([], [first])
