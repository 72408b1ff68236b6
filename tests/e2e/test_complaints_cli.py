"""`crm complaint …`, `crm satisfaction` and `crm kpi`'s satisfaction figure, through `crm`'s
own entry point on the embedded store: exit codes, one-line refusals, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from infra import cli
from infra.settings import PROJECT_ROOT
from infra.store import open_event_store
from tests.conftest import add_staff, make_settings

Crm = Callable[..., tuple[int, str, str]]
SCRUBBED = (
    "CRM_DATABASE_URL",
    "CRM_KAFKA_BOOTSTRAP",
    "CRM_COUNCIL",
    "CRM_ACTOR",
    "CRM_ROLE",
    "CRM_CONFIG_DIR",
    "CRM_LOG_LEVEL",
    "CRM_SMTP_HOST",
)


@pytest.fixture
def crm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Crm]:
    data = tmp_path / "data"
    for council in ("canterbury", "kalamunda"):
        add_staff(
            make_settings(data),
            council,
            {
                "desk": ["customer-service", "officer"],
                "co": ["complaints-officer"],
                "an": ["analyst"],
                "jsmith": ["officer"],
            },
            # jsmith works in the team the complaint goes to: only the subject rule refuses him
            {"jsmith": ["compliance"]} if council == "canterbury" else None,
        )
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    monkeypatch.chdir(PROJECT_ROOT)

    def run(*args: str, user: str = "desk", council: str = "canterbury") -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(["--council", council, "--as", user, *args])
        except SystemExit as usage:  # argparse's own exit, as the `crm` script would see it
            code = int(usage.code or 0)
        out, err = capsys.readouterr()
        return code, out.strip(), err.strip()

    logs = structlog.get_config()
    yield run
    structlog.configure(**logs)


def events(data: Path) -> int:
    app = open_event_store(make_settings(data))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def test_a_complaint_on_the_command_line(crm: Crm, tmp_path: Path) -> None:
    """Seed 001 §4 (Canterbury): a complaint about an officer, its outcome letter's outcomes,
    review and Ombudsman referral; refusals exit 1 (a rule) or 2 (bad input) in one line."""
    code, ref, _ = crm(
        "lodge",
        "--kind",
        "complaint",
        "--category",
        "noise",
        "--channel",
        "email",
        "--description",
        "Officer was rude",
        "--name",
        "Pat Doe",
        "--email",
        "pat@example.org",
    )
    assert code == 0
    assert crm("complaint", "subject", ref, "--officer", "jsmith", "--reason", "Rude")[0] == 1
    assert (
        crm("complaint", "subject", ref, "--officer", "jsmith", "--reason", "Rude", user="co")[0]
        == 0
    )
    before = events(tmp_path / "data")
    code, _, err = crm("assign", ref, "--team", "compliance", "--officer", "jsmith")
    assert code == 1 and err == (
        f"crm: complaint {ref} is about jsmith: it cannot be assigned to them"
    )
    code, _, err = crm("close", ref, "--outcome", "completed", "--text", "Done")
    assert code == 1 and "accepted: not-upheld, partly-upheld, referred, upheld, withdrawn" in err
    assert events(tmp_path / "data") == before
    assert crm("close", ref, "--outcome", "upheld", "--text", "Apology given")[0] == 0
    assert crm("satisfaction", ref, "--score", "0")[0] == 2
    assert crm("satisfaction", ref, "--score", "five")[0] == 2
    assert crm("satisfaction", ref, "--score", "5")[0] == 0
    assert (
        crm("complaint", "review", ref, "--reason", "Wants more", "--on", "2099-01-01", user="co")[
            0
        ]
        == 1
    )
    assert crm("complaint", "review", ref, "--reason", "Wants more", user="co")[0] == 0
    assert (
        crm(
            "complaint",
            "review-decision",
            ref,
            "--decision",
            "partly-upheld",
            "--text",
            "Varied",
            user="co",
        )[0]
        == 0
    )
    assert (
        crm(
            "complaint",
            "ombudsman",
            ref,
            "--reason",
            "Went on",
            "--their-reference",
            "OMB-1",
            user="co",
        )[0]
        == 0
    )
    code, out, _ = crm("complaint", "report", "--json", user="an")
    report = json.loads(out)
    assert code == 0 and report["total"]["received"] == 1
    assert [g["outcome"] for g in report["by_outcome"]] == ["upheld"]
    assert report["complaints"][0]["subject_officer"] == "jsmith"
    code, out, _ = crm("complaint", "report", user="an")
    assert code == 0 and "Noise from neighbours or premises" in out


def test_kpi_reports_customer_satisfaction_beside_the_councils_target(crm: Crm) -> None:
    """Kalamunda (seed 003, Measures 1.1): customer_satisfaction_pct = 80 in [kpi_targets]."""
    refs = []
    for _ in range(2):
        code, ref, _ = crm(
            "lodge",
            "--category",
            "missed-bin",
            "--channel",
            "phone",
            "--description",
            "Bin missed",
            "--name",
            "Pat Doe",
            "--phone",
            "0400 000 000",
            council="kalamunda",
        )
        assert (
            crm("close", ref, "--outcome", "completed", "--text", "Collected", council="kalamunda")[
                0
            ]
            == 0
        )
        refs.append(ref)
    crm("satisfaction", refs[0], "--score", "5", council="kalamunda")
    crm("satisfaction", refs[1], "--score", "4", council="kalamunda")
    code, out, _ = crm(
        "kpi",
        "--by",
        "kind",
        "--from",
        "2000-01-01",
        "--to",
        "2999-12-31",
        user="an",
        council="kalamunda",
    )
    assert code == 0 and "sat%" in out and "100.0" in out
    assert "sat% ≥ 80" in out and "sat% met" in out
