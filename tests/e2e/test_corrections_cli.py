"""`crm reopen | recategorise | link | refer | agencies` through the CLI's own entry point:
what each prints, and that a refused or bad command is one line on stderr, exit 1 or 2, with
nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from infra import cli
from infra.store import open_event_store
from tests.conftest import add_staff, make_settings

COUNCIL = "upper-lachlan"
SCRUBBED = (
    "CRM_DATABASE_URL",
    "CRM_KAFKA_BOOTSTRAP",
    "CRM_COUNCIL",
    "CRM_ACTOR",
    "CRM_ROLE",
    "CRM_CONFIG_DIR",
    "CRM_LOG_LEVEL",
)
LODGE = (
    "lodge",
    "--category",
    "pothole",
    "--channel",
    "phone",
    "--description",
    "Deep pothole outside 12 Spring St",
    "--name",
    "Ann Lee",
    "--email",
    "ann@example.org",
    "--contact",
    "email",
)


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def crm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Path, object]]:
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    add_staff(
        make_settings(tmp_path), COUNCIL, {"cs": ["customer-service"], "lead": ["team-leader"]}
    )
    logs = structlog.get_config()
    yield tmp_path, capsys
    structlog.configure(**logs)


def run(capsys: pytest.CaptureFixture[str], *args: str, user: str = "lead") -> Ran:
    capsys.readouterr()
    code = cli.main(["--council", COUNCIL, "--as", user, *args])
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def head(data: Path) -> int:
    app = open_event_store(make_settings(data))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def one_line(ran: Ran, code: int, says: str) -> None:
    assert (ran.code, ran.stdout) == (code, ""), ran
    assert len(ran.stderr.splitlines()) == 1 and says in ran.stderr, ran.stderr


def test_the_corrections_on_the_command_line(crm: tuple[Path, object]) -> None:
    data, capsys = crm
    assert isinstance(capsys, pytest.CaptureFixture)
    first, second, third = (run(capsys, *LODGE).stdout.strip() for _ in range(3))

    assert run(capsys, "link", second, "--duplicate-of", first).stdout.strip() == second
    assert (
        run(
            capsys, "recategorise", third, "--category", "road-damage", "--reason", "The shoulder"
        ).code
        == 0
    )
    assert run(capsys, "close", first, "--outcome", "completed", "--text", "Patched").code == 0
    reopened = run(capsys, "reopen", first, "--reason", "Opened up again", "--json")
    assert json.loads(reopened.stdout)["reference"] == first
    shown = json.loads(run(capsys, "show", first, "--json").stdout)
    assert (shown["status"], shown["reopens"], shown["duplicates"]) == ("open", 1, [second])
    assert json.loads(run(capsys, "show", second, "--json").stdout)["duplicate_of"] == first
    assert (
        run(capsys, "refer", third, "--agency", "transport-nsw", "--reason", "A state road").code
        == 0
    )
    timeline = run(capsys, "timeline", first, "--format", "json")
    assert timeline.code == 0, timeline.stderr
    assert "Reopened (was completed): Opened up again" in timeline.stdout
    audit = run(capsys, "audit", "--ref", second, "--json", user="admin")
    assert f"Closed as a duplicate of {first}" in audit.stdout
    listed = json.loads(run(capsys, "agencies", "--json").stdout)
    assert "transport-nsw" in {a["code"] for a in listed}
    kpi = json.loads(
        run(
            capsys,
            "kpi",
            "--by",
            "category",
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "--json",
            user="admin",
        ).stdout
    )
    by_category = {g["category_code"]: (g["duplicates"], g["distinct_hazards"]) for g in kpi}
    assert by_category == {"pothole": (1, 1), "road-damage": (0, 1)}

    before = head(data)
    one_line(
        run(capsys, "refer", first, "--agency", "nasa", "--reason", "?"), 2, "unknown agency 'nasa'"
    )
    one_line(run(capsys, "reopen", first, "--reason", "Again"), 1, "is open: nothing to reopen")
    one_line(
        run(capsys, "link", first, "--duplicate-of", second), 1, f"itself a duplicate of {first}"
    )
    one_line(
        run(capsys, "reopen", second, "--reason", "x", user="cs"),
        1,
        "may not run `reopen` as customer-service",
    )
    one_line(
        run(capsys, "recategorise", first, "--category", "volcano", "--reason", "?"),
        2,
        "unknown category 'volcano'",
    )
    assert head(data) == before
