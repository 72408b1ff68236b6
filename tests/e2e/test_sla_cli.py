"""`crm sla …` and `crm notices` through the real CLI, in subprocesses, on the embedded store.

The CLI lodges on the wall clock, so the instants given to `--now` are computed from the
lodgement the store recorded: 60 and 120 calendar days later, well past a pothole's 20 business
days (120: past its whole escalation chain), and before it, one minute after lodgement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from infra.settings import PROJECT_ROOT
from tests.conftest import add_staff, make_settings

SCRUBBED = {"CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_COUNCIL", "CRM_ROLE",
            "CRM_CONFIG_DIR", "CRM_LOG_LEVEL", "CRM_SMTP_HOST"}


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


Crm = Callable[..., Ran]


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update({"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_ACTOR": "jsmith"})
    add_staff(make_settings(tmp_path / "data"), "upper-lachlan", {"jsmith": ["officer"]})

    def run(*args: str) -> Ran:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", "--council", "upper-lachlan", *args],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


def lodge(crm: Crm, *extra: str) -> tuple[str, datetime]:
    ran = crm("lodge", "--category", "pothole", "--channel", "phone", "--description",
              "Deep pothole outside 12 Spring St", "--name", "Ann Lee", "--email",
              "ann@example.org", *extra)
    assert ran.code == 0, ran.stderr
    ref = ran.stdout.strip()
    shown = json.loads(crm("show", ref, "--json").stdout)
    return ref, datetime.fromisoformat(shown["lodged_at"])


def test_breached_lists_an_overdue_request_as_json_judged_at_the_given_instant(crm: Crm) -> None:
    ref, lodged = lodge(crm)
    later = (lodged + timedelta(days=60)).isoformat()
    early = (lodged + timedelta(minutes=1)).isoformat()

    breached = crm("sla", "breached", "--now", later, "--json")
    before = crm("sla", "breached", "--now", early, "--json")
    other_team = crm("sla", "breached", "--now", later, "--team", "water", "--json")

    assert breached.code == 0, breached.stderr
    [row] = json.loads(breached.stdout)
    assert row["reference"] == ref and row["state"] == "breached"
    assert "completion" in row["breaches"] and "acknowledgement" in row["breaches"]
    assert row["remaining_business_seconds"] < 0 and row["remaining"].startswith("overdue")
    assert json.loads(before.stdout) == []
    assert json.loads(other_team.stdout) == []


def test_sweep_escalates_and_notifies_what_is_due_once(crm: Crm) -> None:
    ref, lodged = lodge(crm)
    assert crm("acknowledge", ref).code == 0
    # 120 calendar days on, whatever the day of lodgement: past the pothole's 20 business days
    # and the general manager's 20 more, holidays included, so the whole chain is due.
    now = (lodged + timedelta(days=120)).isoformat()

    first = crm("sla", "sweep", "--now", now)
    second = crm("sla", "sweep", "--now", now)
    escalated = crm("sla", "escalated", "--now", now, "--json")
    manager = crm("sla", "escalated", "--now", now, "--role", "manager", "--json")
    top = crm("sla", "escalated", "--now", now, "--role", "general-manager", "--json")
    notices = crm("notices", "--ref", ref, "--json")

    assert first.code == 0, first.stderr
    for level in ("team-leader", "manager", "director", "general-manager"):
        assert f"escalated {ref} (upper-lachlan) to {level}" in first.stdout
    assert f"notice acknowledgement sent for {ref}" in first.stdout
    assert f"notice progress sent for {ref}" in first.stdout
    assert "escalated" not in second.stdout and "nothing due" in second.stdout
    [row] = json.loads(escalated.stdout)
    assert (row["reference"], row["level"], row["escalations"]) == (ref, "general-manager", 4)
    assert json.loads(manager.stdout) == []  # it has gone past the manager
    assert [r["reference"] for r in json.loads(top.stdout)] == [ref]
    assert sorted(n["notice"] for n in json.loads(notices.stdout)) == [
        "acknowledgement", "progress"]
    history = json.loads(crm("history", ref, "--json").stdout)
    # A sweep run by hand is recorded as the officer who ran it.
    assert {str(e["actor"]) for e in history if e["type"] == "Escalated"} == {
        str({"id": "jsmith", "role": "officer"})}


def test_a_bad_instant_is_refused_in_one_line(crm: Crm) -> None:
    ran = crm("sla", "at-risk", "--now", "next tuesday")

    assert ran.code == 2
    assert ran.stderr.startswith("crm: not an instant") and "Traceback" not in ran.stderr
