"""`crm show|history REF --as-at INSTANT`, `crm queue|sla|audit --as-at`, and `?as_at=` on the
staff API: the request and the views as the council had recorded them by then — every event
recorded at or before the instant, and nothing after; SLA states judged at that instant."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from infra import cli
from tests.conftest import add_staff, make_settings
from tests.http_support import served, sign_in

COUNCIL = "upper-lachlan"
Crm = Callable[..., tuple[int, str]]


def _crm(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database: str | None,
) -> Iterator[Crm]:
    for name in ("CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_COUNCIL", "CRM_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    if database:
        monkeypatch.setenv("CRM_DATABASE_URL", database)
    add_staff(
        make_settings(tmp_path / "data", database),
        COUNCIL,
        {"cs": ["customer-service"], "rec": ["records-officer"]},
    )
    logs = structlog.get_config()

    def run(*args: str, user: str = "cs") -> tuple[int, str]:
        capsys.readouterr()
        code = cli.main(["--council", COUNCIL, "--as", user, *args])
        return code, capsys.readouterr().out

    yield run
    structlog.configure(**logs)


@pytest.fixture
def crm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Crm]:
    yield from _crm(tmp_path, monkeypatch, capsys, None)


@pytest.fixture
def pg_crm(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pg_url: str,
) -> Iterator[Crm]:
    yield from _crm(tmp_path, monkeypatch, capsys, pg_url)


def test_show_and_history_as_at_an_instant_see_only_what_was_recorded_by_then(crm: Crm) -> None:
    before = datetime.now(UTC)
    _, out = crm(
        "lodge",
        "--category",
        "pothole",
        "--channel",
        "phone",
        "--description",
        "Pothole by the school",
        "--name",
        "Ivo Brantley",
        "--phone",
        "0400 777 888",
    )
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
        code, out = crm(
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "phone",
            "--description",
            description,
            "--name",
            "Ivo Brantley",
            "--phone",
            "0400 777 888",
        )
        assert code == 0
        return out.strip()

    def queue(team: str, *at: datetime) -> list[str]:
        code, out = crm(
            "queue", "--team", team, "--json", *[a for t in at for a in ("--as-at", t.isoformat())]
        )
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


def test_sla_and_audit_as_at_an_instant_are_the_views_as_they_stood_then(crm: Crm) -> None:
    sla_and_audit_as_at(crm)


def test_sla_and_audit_as_at_on_postgresql(pg_crm: Crm) -> None:
    sla_and_audit_as_at(pg_crm)


def sla_and_audit_as_at(crm: Crm) -> None:
    # a letter received twelve days ago, keyed in now: both its standards are already missed
    received = (datetime.now(UTC) - timedelta(days=12)).isoformat()
    code, out = crm(
        "lodge",
        "--category",
        "missed-bin",
        "--channel",
        "letter",
        "--description",
        "Bin missed on Tuesday",
        "--name",
        "Ivo Brantley",
        "--phone",
        "0400 777 888",
        "--received-at",
        received,
    )
    assert code == 0
    ref = out.strip()
    lodged = datetime.now(UTC)
    assert crm("close", ref, "--outcome", "completed", "--text", "Bin emptied")[0] == 0

    def sla(which: str, *args: str) -> list[str]:
        code, out = crm("sla", which, "--json", *args)
        assert code == 0
        return [row["reference"] for row in json.loads(out)]

    assert sla("breached", "--as-at", lodged.isoformat()) == [ref]
    then = json.loads(crm("sla", "breached", "--json", "--as-at", lodged.isoformat())[1])[0]
    assert then["state"] == "breached" and set(then["breaches"]) == {
        "completion",
        "acknowledgement",
    }
    assert sla("breached") == [] and sla("breached", "--now", lodged.isoformat()) == []
    assert sla("breached", "--as-at", (lodged - timedelta(minutes=5)).isoformat()) == []
    assert (
        crm("sla", "breached", "--as-at", lodged.isoformat(), "--now", lodged.isoformat())[0] == 2
    )

    def audit(*args: str) -> list[str]:
        code, out = crm("audit", "--ref", ref, "--json", *args, user="rec")
        assert code == 0
        return [row["event_type"] for row in json.loads(out)]

    assert audit("--as-at", lodged.isoformat()) == ["Lodged"]
    assert audit() == ["Lodged", "Closed"]
    assert audit("--as-at", (lodged - timedelta(minutes=5)).isoformat()) == []


def test_the_staff_api_answers_as_at_an_instant_too(tmp_path: Path) -> None:
    staff = {"cs": ["customer-service"], "rec": ["records-officer"]}
    with served(make_settings(tmp_path / "data"), staff, {}) as (client, _):
        cs, rec = sign_in(client, "cs"), sign_in(client, "rec")
        got = client.post(
            "/api/v1/requests",
            headers=cs,
            json={
                "category": "missed-bin",
                "channel": "phone",
                "description": "Bin missed",
                "name": "Ivo Brantley",
                "phone": "0400 777 888",
                "received_at": (datetime.now(UTC) - timedelta(days=12)).isoformat(),
            },
        )
        assert got.status_code == 201, got.text
        ref = got.json()["reference"]
        lodged = datetime.now(UTC).isoformat()
        closed = client.post(
            f"/api/v1/requests/{ref}/close",
            headers=cs,
            json={"outcome": "completed", "text": "Bin emptied"},
        )
        assert closed.status_code == 200, closed.text

        def get(path: str, who: dict[str, str], **params: str) -> Any:
            answer = client.get(path, headers=who, params=params)
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert [r["reference"] for r in get("/api/v1/sla/breached", cs, as_at=lodged)] == [ref]
        assert get("/api/v1/sla/breached", cs) == []
        assert get(f"/api/v1/requests/{ref}", cs, as_at=lodged)["status"] == "open"
        assert get(f"/api/v1/requests/{ref}", cs)["status"] == "closed"
        assert len(get(f"/api/v1/requests/{ref}/history", cs, as_at=lodged)) == 1
        assert [r["reference"] for r in get("/api/v1/queue", cs, team="waste", as_at=lodged)] == [
            ref
        ]
        assert [
            r["event_type"] for r in get("/api/v1/audit", rec, reference=ref, as_at=lodged)
        ] == ["Lodged"]
        both = client.get(
            "/api/v1/sla/breached", headers=cs, params={"as_at": lodged, "now": lodged}
        )
        assert both.status_code == 422
