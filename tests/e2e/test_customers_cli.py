"""`crm customer …` end to end on the embedded default: a repeat caller is found by their phone,
each role sees what it may, every read of personal data is logged, and erasure leaves no
personal value in any file of the data folder while the history still replays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.aggregates.customer import customer_id
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from projections import registry
from tests.conftest import TEST_ADMIN, add_staff, make_settings

NAME, PHONE, EMAIL, STREET = "Zara Quillfeather", "0499 123 456", "zq@example.org", "9 Zedwood Rd"

Crm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    data = tmp_path / "data"
    add_staff(
        make_settings(data),
        "upper-lachlan",
        {"cs": ["customer-service"], "an": ["analyst"], "rec": ["records-officer"]},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["CRM_DATA_DIR"] = str(data)
    env["CRM_LOG_LEVEL"] = "DEBUG"  # every log line the commands write, to search them all
    logs = tmp_path / "stderr.log"

    def run(user: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", "--council", "upper-lachlan", "--as", user, *args],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        with logs.open("a") as f:
            f.write(done.stderr)
        return done

    return run


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_customers_details_are_seen_by_role_logged_and_erased_for_good(
    crm: Crm, tmp_path: Path
) -> None:
    ref = ok(
        crm(
            "cs",
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "phone",
            "--description",
            "Hole outside the house",
            "--name",
            NAME,
            "--phone",
            PHONE,
            "--email",
            EMAIL,
            "--customer-address",
            STREET,
        )
    ).strip()
    [found] = json.loads(ok(crm("cs", "customer", "find", "--phone", "+61 499 123 456", "--json")))
    number = found["customer_id"]
    assert found["name"] == NAME

    assert json.loads(ok(crm("cs", "customer", "show", number, "--json")))["phone"] == PHONE
    refused = crm("an", "customer", "show", number, "--json")
    assert refused.returncode == 1 and NAME not in refused.stdout + refused.stderr
    log = json.loads(ok(crm("rec", "customer", "access-log", number, "--json")))
    assert [(e["user_id"], e["via"]) for e in log] == [
        ("cs", "crm customer find --phone"),
        ("cs", "crm customer show"),
    ]

    refused = crm("rec", "customer", "erase", number, "--reason", "asked to be forgotten")
    assert refused.returncode == 1 and ref in refused.stderr  # still open: says which
    ok(crm("cs", "close", ref, "--outcome", "completed", "--text", "Patched"))
    history_before = json.loads(ok(crm("cs", "history", ref, "--json")))
    kpi = ["kpi", "--by", "category", "--from", "2020-01-01", "--to", "2099-12-31", "--json"]
    kpi_before = ok(crm("rec", *kpi))
    ok(crm("rec", "customer", "erase", number, "--reason", "asked to be forgotten"))
    assert ok(crm("rec", *kpi)) == kpi_before
    verified = ok(crm(TEST_ADMIN, "projections", "verify"))
    assert verified.count(": ok") == len(registry.READ_MODELS), verified

    shown = json.loads(ok(crm("cs", "customer", "show", number, "--json")))
    assert shown["name"] == shown["phone"] == "[erased]"
    history_after = json.loads(ok(crm("cs", "history", ref, "--json")))
    assert [e["type"] for e in history_after] == [e["type"] for e in history_before]
    everything = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    for value in (NAME, PHONE, EMAIL, STREET, "Zedwood", "Quillfeather", "0499123456"):
        assert value.encode() not in everything, value
    logs = (tmp_path / "stderr.log").read_text()
    assert f'"reference": "{ref}"' in logs  # every command's log lines were kept
    for value in (NAME, PHONE, EMAIL, STREET, "Zedwood", "Quillfeather", "Hole outside"):
        assert value not in logs, value
    assert crm("cs", "customer", "find", "--phone", PHONE, "--json").stdout.strip() == "[]"


def test_what_a_registration_left_half_way_is_not_found_and_is_erased_by_its_number(
    crm: Crm, tmp_path: Path
) -> None:
    """A process that died after writing a new customer's key and index entries, before
    saving the record: `find` passes over them, `customer erase` on the number destroys them."""
    number = "UL-C000042"
    runtime = Runtime(make_settings(tmp_path / "data"))
    key_id = customer_id("upper-lachlan", number)
    try:
        runtime.vault.new_customer(
            key_id, "upper-lachlan", number, {"name": NAME, "phone": PHONE}, datetime.now(UTC)
        )
        assert runtime.vault.find("upper-lachlan", "phone", PHONE) == [number]
    finally:
        runtime.close()
    assert json.loads(ok(crm("cs", "customer", "find", "--phone", PHONE, "--json"))) == []
    erased = ok(crm("rec", "customer", "erase", number.lower(), "--reason", "unfinished"))
    assert erased.strip() == (
        f"{number}: no record was saved; the key and index entries "
        "its registration left are destroyed"
    )
    again = crm("rec", "customer", "erase", number, "--reason", "unfinished")
    assert again.returncode == 4 and again.stderr.strip() == f"crm: no customer {number}"
    # The sweep finds such numbers itself, once they are old enough not to be under way.
    runtime = Runtime(make_settings(tmp_path / "data"))
    other = "UL-C000043"
    try:
        runtime.vault.new_customer(
            customer_id("upper-lachlan", other),
            "upper-lachlan",
            other,
            {"name": NAME, "email": EMAIL},
            datetime.now(UTC),
        )
    finally:
        runtime.close()
    assert ok(crm("rec", "customer", "erase-unsaved")) == ""  # too recent
    assert refused(crm("cs", "customer", "erase-unsaved", "--older-than", "0"))
    swept = ok(crm("rec", "customer", "erase-unsaved", "--older-than", "0"))
    assert swept == (
        f"{other}: no record was saved; the key and index entries its "
        "registration left are destroyed\n"
    )
    assert json.loads(ok(crm("cs", "customer", "find", "--phone", PHONE, "--json"))) == []
    saved = ok(
        crm(
            "cs",
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "phone",
            "--description",
            "Hole",
            "--name",
            NAME,
            "--phone",
            PHONE,
        )
    )
    assert saved.strip()
    assert ok(crm("rec", "customer", "erase-unsaved", "--older-than", "0")) == ""  # saved: kept
    assert len(json.loads(ok(crm("cs", "customer", "find", "--phone", PHONE, "--json")))) == 1
    runtime = Runtime(make_settings(tmp_path / "data"))
    try:
        assert not runtime.vault.holds(key_id, "upper-lachlan", number)
        assert not runtime.vault.holds(customer_id("upper-lachlan", other), "upper-lachlan", other)
    finally:
        runtime.close()


def refused(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == 1 and done.stdout == "" and len(done.stderr.splitlines()) == 1
