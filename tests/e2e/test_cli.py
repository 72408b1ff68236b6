"""The real `crm` command in subprocesses, on the embedded SQLite store in a temporary folder.

Output goes to stdout; a refusal exits non-zero with one `crm: …` line on stderr, no traceback,
and writes nothing. The CLI runs on the wall clock, so dates given to it are far from today.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from infra.settings import PROJECT_ROOT
from infra.store import open_event_store
from tests.conftest import DUE_AHEAD, add_staff, make_settings

LIFECYCLE = ["Lodged", "Acknowledged", "Assigned", "NoteAdded", "Delayed", "Escalated", "Closed"]
REFERENCE = re.compile(r"[A-Z]+-\d{4}-\d{6}")
LONG_PAST = "2020-01-06"
IDENTIFIED_POTHOLE = [
    "lodge",
    "--category",
    "pothole",
    "--channel",
    "phone",
    "--description",
    "Deep pothole outside 12 Spring St",
    "--name",
    "Ann Lee",
    "--phone",
    "0400 000 000",
]


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


Crm = Callable[..., Ran]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Given a data folder where officers jsmith and kwong are staff users of Upper Lachlan."""
    data = tmp_path_factory.mktemp("crm-data")
    add_staff(
        make_settings(data),
        "upper-lachlan",
        {"jsmith": ["officer"], "kwong": ["officer"]},
        {"jsmith": ["roads"], "kwong": ["roads"]},
    )
    return data


@pytest.fixture(scope="module")
def crm(data_dir: Path) -> Crm:
    """Runs `crm --council upper-lachlan ARGS…` as officer jsmith on the embedded store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "CRM_DATABASE_URL",
            "CRM_KAFKA_BOOTSTRAP",
            "CRM_COUNCIL",
            "CRM_ROLE",
            "CRM_CONFIG_DIR",
            "CRM_LOG_LEVEL",
        }
    }
    env.update({"CRM_DATA_DIR": str(data_dir), "CRM_ACTOR": "jsmith"})

    def run(*args: str, council: str | None = "upper-lachlan", actor: str | None = "jsmith") -> Ran:
        run_env = dict(env)
        if actor is None:
            del run_env["CRM_ACTOR"]
        else:
            run_env["CRM_ACTOR"] = actor
        argv = [sys.executable, "-m", "infra.cli"]
        if council is not None:
            argv += ["--council", council]
        done = subprocess.run(
            [*argv, *args],
            env=run_env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


def stored_events(data_dir: Path) -> int:
    """The embedded store's last global position (0 when empty), read in-process."""
    app = open_event_store(make_settings(data_dir))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def lodged_reference(ran: Ran) -> str:
    assert ran.code == 0, ran.stderr
    assert REFERENCE.fullmatch(ran.stdout.rstrip("\n")), ran.stdout
    return ran.stdout.strip()


def ok(ran: Ran) -> Ran:
    assert ran.code == 0, ran.stderr
    return ran


@pytest.fixture(scope="module")
def acknowledged_ref(crm: Crm) -> str:
    """Given an open pothole request, acknowledged, at the officer level."""
    ref = lodged_reference(crm(*IDENTIFIED_POTHOLE))
    ok(crm("acknowledge", ref))
    return ref


@pytest.fixture(scope="module")
def closed_ref(crm: Crm) -> str:
    """Given a pothole request closed as completed without being acknowledged."""
    ref = lodged_reference(crm(*IDENTIFIED_POTHOLE))
    ok(crm("close", ref, "--outcome", "completed", "--text", "Patched"))
    return ref


# -- the lifecycle -----------------------------------------------------------------------------


def test_assigning_to_an_officer_who_is_not_a_staff_user_is_bad_input_and_writes_nothing(
    crm: Crm,
) -> None:
    ref = lodged_reference(ok(crm(*IDENTIFIED_POTHOLE)))

    refused = crm("assign", ref, "--team", "roads", "--officer", "nobody.here")

    assert refused.code == 2
    assert refused.stderr.strip() == (
        "crm: no staff user 'nobody.here' in council upper-lachlan: a request is assigned to "
        "one (see `crm users list`)"
    )
    history = json.loads(ok(crm("history", ref, "--json")).stdout)
    assert [e["type"] for e in history] == ["Lodged"]
    ok(crm("assign", ref, "--team", "roads", "--officer", "kwong"))


def test_an_officer_is_assigned_only_within_a_team_they_work_in(crm: Crm) -> None:
    ref = lodged_reference(ok(crm(*IDENTIFIED_POTHOLE)))

    refused = crm("assign", ref, "--team", "parks", "--officer", "kwong")
    assert refused.code == 2
    assert refused.stderr.strip() == (
        "crm: user kwong does not work in team parks (their teams: roads): assign the request "
        "to parks alone, or add them to it first (`crm users join kwong parks`)"
    )
    assert [e["type"] for e in json.loads(ok(crm("history", ref, "--json")).stdout)] == ["Lodged"]

    joined = ok(crm("users", "join", "kwong", "parks", actor="admin"))
    assert joined.stdout.strip() == "kwong: joined team parks (roles: officer; teams: roads, parks)"
    ok(crm("assign", ref, "--team", "parks", "--officer", "kwong"))
    left = ok(crm("users", "leave", "kwong", "parks", actor="admin"))
    assert left.stdout.strip() == "kwong: left team parks (roles: officer; teams: roads)"
    assert crm("assign", ref, "--team", "parks", "--officer", "jsmith").code == 2

    changes = json.loads(ok(crm("users", "history", "kwong", "--json", actor="admin")).stdout)
    assert [(c["type"], c["data"], c["actor"]["id"]) for c in changes[-2:]] == [
        ("JoinedTeam", {"team": "parks"}, "admin"),
        ("LeftTeam", {"team": "parks"}, "admin"),
    ]


def test_a_request_goes_through_its_whole_lifecycle_and_its_history_lists_every_event(
    crm: Crm,
) -> None:
    lodged = crm(*IDENTIFIED_POTHOLE)
    assert lodged.code == 0, lodged.stderr
    assert lodged.stdout.count("\n") == 1
    ref = lodged_reference(lodged)

    for args in (
        ["acknowledge", ref],
        ["assign", ref, "--team", "roads", "--officer", "kwong"],
        ["note", ref, "Inspected the site", "--kind", "outgoing", "--channel", "email"],
        ["delay", ref, "--reason", "Asphalt on order", "--until", DUE_AHEAD],
        ["escalate", ref, "--reason", "Customer complained"],
        ["close", ref, "--outcome", "completed", "--text", "Patched"],
    ):
        assert ok(crm(*args)).stdout == ref + "\n", args

    history = json.loads(ok(crm("history", ref, "--json")).stdout)
    # Other events (notices) may come between the seven; the seven come in lifecycle order.
    assert [e["type"] for e in history if e["type"] in LIFECYCLE] == LIFECYCLE
    assert [e["version"] for e in history] == list(range(1, len(history) + 1))
    instants = [datetime.fromisoformat(e["occurred_at"]) for e in history]
    assert all(t.utcoffset() is not None for t in instants)
    assert instants == sorted(instants)
    assert all(e["actor"] == {"id": "jsmith", "role": "officer"} for e in history)
    by_type = {e["type"]: e for e in history}
    assert by_type["Lodged"]["data"]["reference"] == ref
    assert by_type["Assigned"]["data"]["officer"] == "kwong"


def test_show_reports_a_closed_request_with_its_outcome(crm: Crm, closed_ref: str) -> None:
    shown = json.loads(ok(crm("show", closed_ref, "--json")).stdout)

    assert shown["reference"] == closed_ref
    assert (shown["status"], shown["outcome"]) == ("closed", "completed")
    assert shown["team"] == "roads"


def test_the_acting_officer_can_be_given_with_as_instead_of_the_environment(
    crm: Crm, acknowledged_ref: str
) -> None:
    # --as is a global option, like --council: both go before the subcommand.
    ok(
        crm(
            "--council",
            "upper-lachlan",
            "--as",
            "kwong",
            "note",
            acknowledged_ref,
            "Rang back",
            council=None,
            actor=None,
        )
    )

    history = json.loads(ok(crm("history", acknowledged_ref, "--json")).stdout)
    [note] = [e for e in history if e["type"] == "NoteAdded"]
    assert note["actor"] == {"id": "kwong", "role": "officer"}


ONLY_A_LOCATION = [
    "lodge",
    "--category",
    "pothole",
    "--channel",
    "letter",
    "--description",
    "Pothole",
    "--address",
    "12 Spring St, Crookwell",
]


def test_upper_lachlan_refuses_a_lodgement_that_gives_only_where_the_problem_is(
    crm: Crm, data_dir: Path
) -> None:
    # Seed 002: anonymous requests are not actioned; where the problem is identifies no one.
    before = stored_events(data_dir)

    ran = crm(*ONLY_A_LOCATION)

    assert ran.code == 1 and "anonymous" in ran.stderr
    assert stored_events(data_dir) == before


def test_canterbury_takes_a_lodgement_with_only_a_location_as_anonymous(
    crm: Crm, data_dir: Path
) -> None:
    # Seed 001: anonymous requests are logged, resolution not guaranteed.
    add_staff(make_settings(data_dir), "canterbury", {"jsmith": ["officer"]})
    ref = lodged_reference(crm(*ONLY_A_LOCATION, council="canterbury"))

    [lodged, *_] = json.loads(ok(crm("history", ref, "--json", council="canterbury")).stdout)
    assert lodged["data"]["customer"] is None
    assert lodged["data"]["resolution_not_guaranteed"] is True
    assert lodged["data"]["location"]["address"] == "12 Spring St, Crookwell"


# -- refusals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    args: list[str]
    code: int
    says: str
    given: str | None = "acknowledged_ref"
    council: str | None = "upper-lachlan"
    actor: str | None = "jsmith"


REFUSALS = {
    "second-acknowledge": Refusal(["acknowledge", "{ref}"], 1, "was acknowledged"),
    "second-close": Refusal(
        ["close", "{ref}", "--outcome", "completed", "--text", "Again"],
        1,
        "already closed",
        given="closed_ref",
    ),
    "acknowledge-after-close": Refusal(
        ["acknowledge", "{ref}"], 1, "is closed", given="closed_ref"
    ),
    "escalate-to-the-current-level": Refusal(
        ["escalate", "{ref}", "--reason", "Late", "--level", "officer"], 1, "not above"
    ),
    "escalate-to-an-unknown-level": Refusal(
        ["escalate", "{ref}", "--reason", "Late", "--level", "mayor"],
        1,
        "not in the escalation chain",
    ),
    "delay-to-a-past-date": Refusal(
        ["delay", "{ref}", "--reason", "Crew away", "--until", LONG_PAST], 1, "not later than now"
    ),
    "note-with-empty-text": Refusal(["note", "{ref}", "  "], 1, "must not be empty"),
    "close-with-an-unknown-outcome": Refusal(
        ["close", "{ref}", "--outcome", "fixed", "--text", "Done"], 1, "unknown outcome 'fixed'"
    ),
    "assign-to-an-unknown-team": Refusal(
        ["assign", "{ref}", "--team", "pixies"], 1, "unknown team 'pixies'"
    ),
    "lodge-in-an-unknown-category": Refusal(
        [
            "lodge",
            "--category",
            "graffiti",
            "--channel",
            "phone",
            "--description",
            "Tag",
            "--name",
            "Ann",
        ],
        1,
        "unknown category 'graffiti'",
        given=None,
    ),
    "lodge-through-social-media": Refusal(
        [
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "social-media",
            "--description",
            "Hole",
            "--name",
            "Ann",
        ],
        1,
        "social-media",
        given=None,
    ),
    "lodge-anonymously": Refusal(
        ["lodge", "--category", "pothole", "--channel", "phone", "--description", "Hole"],
        1,
        "anonymous",
        given=None,
    ),
    "unknown-reference": Refusal(
        ["acknowledge", "UL-2026-999999"], 4, "no request UL-2026-999999", given=None
    ),
    "unknown-council": Refusal(
        ["note", "{ref}", "Hello"],
        2,
        "no configuration for council 'atlantis'",
        council="atlantis",
    ),
    "lodge-without-an-acting-officer": Refusal(
        IDENTIFIED_POTHOLE, 1, "say who is acting", given=None, actor=None
    ),
    "note-without-an-acting-officer": Refusal(
        ["note", "{ref}", "Hello"], 1, "say who is acting", actor=None
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_command_exits_non_zero_with_one_line_on_stderr_and_writes_nothing(
    crm: Crm, data_dir: Path, request: pytest.FixtureRequest, case: str
) -> None:
    refusal = REFUSALS[case]
    ref = request.getfixturevalue(refusal.given) if refusal.given else ""
    before = stored_events(data_dir)

    ran = crm(
        *[a.replace("{ref}", ref) for a in refusal.args],
        council=refusal.council,
        actor=refusal.actor,
    )

    assert ran.code == refusal.code, ran.stderr
    assert "Traceback" not in ran.stderr
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("crm: ")
    assert refusal.says in lines[0]
    assert stored_events(data_dir) == before


def test_a_delay_with_a_date_that_is_not_a_date_is_a_usage_error_that_writes_nothing(
    crm: Crm, data_dir: Path, acknowledged_ref: str
) -> None:
    before = stored_events(data_dir)

    ran = crm("delay", acknowledged_ref, "--reason", "Crew away", "--until", "next tuesday")

    assert ran.code == 2
    assert "Traceback" not in ran.stderr
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        "crm: delay: argument --until: not a date (YYYY-MM-DD): 'next tuesday' (see --help)"
    ]
    assert stored_events(data_dir) == before


# -- the catalogue -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def categories(crm: Crm) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok(crm("categories", "--json")).stdout)
    return rows


@pytest.fixture(scope="module")
def teams(crm: Crm) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok(crm("teams", "--json")).stdout)
    return rows


def test_categories_json_lists_each_category_with_its_code_name_and_team(
    categories: list[dict[str, Any]],
) -> None:
    assert isinstance(categories, list) and categories
    assert all({"code", "name", "team"} <= row.keys() for row in categories)
    by_code = {row["code"]: row for row in categories}
    assert by_code["pothole"]["team"] == "roads"
    assert by_code["tree-over-road"]["urgent"] is True


def test_teams_json_lists_each_team_with_its_code_and_name(teams: list[dict[str, Any]]) -> None:
    assert isinstance(teams, list) and teams
    assert all(set(row) == {"code", "name"} for row in teams)
    assert "roads" in {row["code"] for row in teams}


def test_every_category_is_routed_to_a_team_the_council_lists(
    categories: list[dict[str, Any]], teams: list[dict[str, Any]]
) -> None:
    assert {row["team"] for row in categories} <= {row["code"] for row in teams}
