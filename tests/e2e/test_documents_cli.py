"""`crm contact log`, `crm stats`, `crm attach`, `crm attachments` and `crm attachment get` as
a user runs them: one line out, errors in one line with the documented exit codes, and a
document returned byte for byte, to a file or to stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.settings import PROJECT_ROOT
from tests.conftest import add_staff, make_settings

Crm = Callable[..., subprocess.CompletedProcess[bytes]]
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    data = tmp_path / "data"
    add_staff(make_settings(data), "upper-lachlan", {"cs": ["customer-service"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["CRM_DATA_DIR"] = str(data)

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "infra.cli", "--council", "upper-lachlan", "--as", "cs", *args],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        )

    return run


def ok(done: subprocess.CompletedProcess[bytes]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def test_a_document_goes_in_and_comes_back_byte_for_byte(crm: Crm, tmp_path: Path) -> None:
    ref = ok(
        crm(
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "letter",
            "--description",
            "Letter about a hole",
            "--name",
            "Tobias Wrenfield",
            "--address",
            "3 Sorrel St",
            "--customer-address",
            "3 Sorrel St",
        )
    ).strip()
    letter = tmp_path / "letter from Tobias.pdf"
    letter.write_bytes(PDF)
    sha = ok(crm("attach", ref, str(letter), "--note", "Scanned letter")).strip()
    assert len(sha) == 64
    [listed] = json.loads(ok(crm("attachments", ref, "--json")))
    assert listed["filename"] == "letter from Tobias.pdf" and listed["size"] == len(PDF)
    back = tmp_path / "back.pdf"
    ok(crm("attachment", "get", sha, "--out", str(back)))
    assert back.read_bytes() == PDF
    assert crm("attachment", "get", sha).stdout == PDF

    missing = crm("attachment", "get", "f" * 64)
    assert missing.returncode == 4 and missing.stderr.decode().startswith("crm: no attachment")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x90\x00")
    refused = crm("attach", ref, str(exe))
    assert refused.returncode == 1 and b"does not take" in refused.stderr
    assert len(refused.stderr.decode().splitlines()) == 1
    assert len(json.loads(ok(crm("attachments", ref, "--json")))) == 1  # nothing recorded


def test_an_enquiry_is_logged_and_counted_by_day(crm: Crm) -> None:
    reference = ok(crm("contact", "log", "--type", "permit", "--channel", "counter")).strip()
    assert reference.startswith("UL-E")
    unknown = crm("contact", "log", "--type", "pothole", "--channel", "counter")
    assert unknown.returncode == 2 and b"unknown enquiry type 'pothole'" in unknown.stderr
    rows = json.loads(ok(crm("stats", "--by", "day,channel", "--json")))
    assert [(r["channel"], r["enquiries"], r["requests"]) for r in rows] == [("counter", 1, 0)]
    bad = crm("stats", "--by", "week")
    assert bad.returncode == 2 and b"day,type or day,channel" in bad.stderr
