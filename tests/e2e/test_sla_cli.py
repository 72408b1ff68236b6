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
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from infra.settings import PROJECT_ROOT
from tests.conftest import add_staff, make_settings

SCRUBBED = {
    "CRM_DATABASE_URL",
    "CRM_KAFKA_BOOTSTRAP",
    "CRM_COUNCIL",
    "CRM_ROLE",
    "CRM_CONFIG_DIR",
    "CRM_LOG_LEVEL",
    "CRM_SMTP_HOST",
}


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
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


def lodge(crm: Crm, *extra: str) -> tuple[str, datetime]:
    ran = crm(
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
        *extra,
    )
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
    assert f"notice acknowledgement queued for {ref}" in first.stdout
    assert f"notice progress queued for {ref}" in first.stdout
    assert "escalated" not in second.stdout and "nothing due" in second.stdout
    [row] = json.loads(escalated.stdout)
    assert (row["reference"], row["level"], row["escalations"]) == (ref, "general-manager", 4)
    assert json.loads(manager.stdout) == []  # it has gone past the manager
    assert [r["reference"] for r in json.loads(top.stdout)] == [ref]
    assert sorted(n["notice"] for n in json.loads(notices.stdout)) == [
        "acknowledgement",
        "progress",
    ]
    history = json.loads(crm("history", ref, "--json").stdout)
    # A sweep run by hand is recorded as the officer who ran it.
    assert {str(e["actor"]) for e in history if e["type"] == "Escalated"} == {
        str({"id": "jsmith", "role": "officer"})
    }


def test_a_bad_instant_is_refused_in_one_line(crm: Crm) -> None:
    ran = crm("sla", "at-risk", "--now", "next tuesday")

    assert ran.code == 2
    assert ran.stderr.startswith("crm: --now: not an instant") and "Traceback" not in ran.stderr


def test_a_friday_evening_request_never_acknowledged_escalates_for_each_breach_once(
    crm: Crm,
) -> None:
    """Seed 002 (Upper Lachlan): proactive escalation when standards are missed. Received
    Friday 27 November 2026 at 17:00 (after hours: day 0 is Monday 30 November) and never
    acknowledged: the 5th business day closes Monday 7 December 16:30 AEDT — to the team
    leader then. The 20th closes Wednesday 30 December (Christmas Friday and the Boxing Day
    Monday skipped); the completion ladder goes on from the team leader: the manager 5
    business days later, New Year's Day skipped, Thursday 7 January 2027 16:30 AEDT."""
    ref, _ = lodge(crm, "--received-at", "2026-11-27T17:00")
    shown = json.loads(crm("show", ref, "--json").stdout)
    assert shown["received_at"] == "2026-11-27T06:00:00+00:00"
    assert shown["acknowledge_by"] == "2026-12-07T05:30:00+00:00"
    assert shown["complete_by"] == "2026-12-30T05:30:00+00:00"

    def sweep(now: str) -> str:
        ran = crm("sla", "sweep", "--now", now)
        assert ran.code == 0, ran.stderr
        return ran.stdout

    assert "escalated" not in sweep("2026-12-07T16:29")
    at_ack = sweep("2026-12-07T16:30")
    assert f"escalated {ref} (upper-lachlan) to team-leader" in at_ack
    assert at_ack.startswith("2026-12-07 16:30 AEDT ")  # the council's local time
    assert "escalated" not in sweep("2026-12-07T16:30")
    assert "escalated" not in sweep("2026-12-30T16:30")
    assert "escalated" not in sweep("2027-01-07T16:29")
    assert f"escalated {ref} (upper-lachlan) to manager" in sweep("2027-01-07T16:30")
    assert "escalated" not in sweep("2027-01-07T16:30")

    history = json.loads(crm("history", ref, "--json").stdout)
    assert [
        (e["data"]["level"], e["data"]["standard"], e["data"]["due"])
        for e in history
        if e["type"] == "Escalated"
    ] == [
        ("team-leader", "acknowledgement", "2026-12-07T05:30:00+00:00"),
        ("manager", "completion", "2027-01-07T05:30:00+00:00"),
    ]


def test_show_prints_instants_in_the_councils_local_time_to_the_minute(crm: Crm) -> None:
    ref, _ = lodge(crm, "--received-at", "2026-11-27T17:00")

    shown = crm("show", ref)

    assert shown.code == 0, shown.stderr
    pairs = (line.split(None, 1) for line in shown.stdout.splitlines())
    lines = {p[0]: p[1] for p in pairs if len(p) == 2}
    assert lines["received_at"].strip() == "2026-11-27 17:00 AEDT"
    assert lines["acknowledge_by"].strip() == "2026-12-07 16:30 AEDT"
    assert "+00:00" not in shown.stdout


def test_a_receipt_time_in_the_future_is_refused_and_nothing_is_lodged(crm: Crm) -> None:
    ran = crm(
        "lodge",
        "--category",
        "pothole",
        "--channel",
        "letter",
        "--description",
        "Hole",
        "--name",
        "Ann Lee",
        "--email",
        "ann@example.org",
        "--received-at",
        "2999-01-01",
    )

    assert ran.code == 1 and "in the future" in ran.stderr and ran.stdout == ""


def test_a_delay_to_christmas_day_says_it_falls_due_on_the_next_business_day(crm: Crm) -> None:
    ref, _ = lodge(crm)

    christmas, said, close = next(case for case in CHRISTMASES if case[0] > date.today())

    ran = crm("delay", ref, "--reason", "Crew on leave", "--until", christmas.isoformat())

    assert ran.code == 0, ran.stderr
    assert ran.stdout.strip() == ref
    assert "not a business day" in ran.stderr and said in ran.stderr
    shown = json.loads(crm("show", ref, "--json").stdout)
    assert shown["complete_by"] == close


# The next Christmas Days, each checked by hand against NSW's holidays (a delay may lie at most
# two years ahead, so the test takes the first still to come): the business day after it, and
# that day's close (16:30 AEDT) in UTC.
CHRISTMASES = [
    # Saturday: Christmas observed on Monday 27, Boxing Day on Tuesday 28
    (date(2027, 12, 25), "Wednesday 29 December 2027", "2027-12-29T05:30:00+00:00"),
    # Monday: Boxing Day on Tuesday 26
    (date(2028, 12, 25), "Wednesday 27 December 2028", "2028-12-27T05:30:00+00:00"),
    # Tuesday: Boxing Day on Wednesday 26
    (date(2029, 12, 25), "Thursday 27 December 2029", "2029-12-27T05:30:00+00:00"),
    # Wednesday: Boxing Day on Thursday 26
    (date(2030, 12, 25), "Friday 27 December 2030", "2030-12-27T05:30:00+00:00"),
]


def test_an_urgent_request_shows_in_crm_alerts_at_lodgement_and_is_taken_with_ack(
    crm: Crm,
) -> None:
    ran = crm(
        "lodge",
        "--category",
        "tree-over-road",
        "--channel",
        "phone",
        "--description",
        "Gum tree across Goulburn Rd",
        "--name",
        "Ann Lee",
        "--phone",
        "0400 000 000",
    )
    assert ran.code == 0, ran.stderr
    ref = ran.stdout.strip()

    listed = crm("alerts", "--role", "team-leader", "--json")  # no sweep has run
    assert listed.code == 0, listed.stderr
    [alert] = json.loads(listed.stdout)
    assert (alert["reference"], alert["role"], alert["status"]) == (ref, "team-leader", "open")
    assert ref in crm("alerts").stdout

    taken = crm("alerts", "ack", str(alert["id"]))
    again = crm("alerts", "ack", str(alert["id"]))

    assert taken.code == 0 and "taken by jsmith" in taken.stdout
    assert again.code == 1 and "taken already" in again.stderr
    assert json.loads(crm("alerts", "--json").stdout) == []
    [kept] = json.loads(crm("alerts", "--all", "--json").stdout)
    assert (kept["status"], kept["taken_by"], kept["taken_role"]) == ("taken", "jsmith", "officer")


def test_a_letter_is_on_the_staff_work_list_until_marked_posted(crm: Crm) -> None:
    ran = crm(
        "lodge",
        "--category",
        "pothole",
        "--channel",
        "counter",
        "--description",
        "Pothole outside the school",
        "--name",
        "Ann Lee",
        "--customer-address",
        "12 Spring St, Crookwell NSW",
    )
    ref = ran.stdout.strip()
    assert crm("acknowledge", ref).code == 0
    swept = crm("sla", "sweep")
    assert f"notice acknowledgement queued for {ref}" in swept.stdout

    [pending] = json.loads(crm("notices", "--pending", "--json").stdout)
    assert (pending["reference"], pending["method"], pending["status"]) == (
        ref,
        "letter",
        "pending",
    )
    called = crm("notices", "done", str(pending["id"]), "--by", "called")
    posted = crm("notices", "done", str(pending["id"]), "--by", "posted", "--note", "2nd class")

    assert called.code == 1 and "cannot be called" in called.stderr
    assert posted.code == 0, posted.stderr
    assert json.loads(crm("notices", "--pending", "--json").stdout) == []
    [done] = json.loads(crm("notices", "--ref", ref, "--json").stdout)
    assert (done["status"], done["done_how"], done["done_by"], done["done_note"]) == (
        "done",
        "posted",
        "jsmith (officer)",
        "2nd class",
    )


def test_a_contact_method_without_its_detail_is_refused_at_lodgement(crm: Crm) -> None:
    ran = crm(
        "lodge",
        "--category",
        "pothole",
        "--channel",
        "phone",
        "--description",
        "Hole",
        "--name",
        "Ann Lee",
        "--phone",
        "0400 000 000",
        "--contact",
        "email",
    )

    assert ran.code == 1 and "gave no e-mail address" in ran.stderr and ran.stdout == ""
