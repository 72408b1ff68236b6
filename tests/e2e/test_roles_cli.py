"""Least privilege through the command line: for each role, exactly what it may do.

The table-driven test runs `crm`'s own entry point (`infra.cli.main`, what the `crm` script
calls) in this process for every role × a representative command of each action in
`tests/role_matrix.py`; the tests after it run `crm` in subprocesses for the refusals and the
recorded roles. A refusal exits 1 with one line on stderr and writes nothing to either store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from commands import requests as cmds
from domain.lodgement import Intake
from domain.values import Actor, Channel, ContactMethod, Customer
from infra import cli, views
from infra.directory import open_directory
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from infra.store import open_event_store
from tests.conftest import DUE_AHEAD, TEST_ADMIN, add_staff, make_settings
from tests.role_matrix import CHECKED, MAY, ROLES

COUNCIL = "upper-lachlan"
SCRUBBED = {
    "CRM_DATABASE_URL",
    "CRM_KAFKA_BOOTSTRAP",
    "CRM_COUNCIL",
    "CRM_ACTOR",
    "CRM_ROLE",
    "CRM_CONFIG_DIR",
    "CRM_LOG_LEVEL",
    "CRM_SMTP_HOST",
}
LODGE = [
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
NO_FILE = "/nonexistent/boston.csv"


@dataclass(frozen=True)
class Command:
    """A representative command of an action. `{ref}` is a request every case shares (lodged
    and acknowledged), `{fresh}` a request lodged for this case alone (`{closed}`: and
    closed); when allowed, the
    command exits `allowed` (an import of a missing file gets past the check, then stops)."""

    args: tuple[str, ...]
    allowed: int = 0


COMMANDS: dict[str, Command] = {
    "lodge": Command(tuple(LODGE)),
    "acknowledge": Command(("acknowledge", "{fresh}")),
    "assign": Command(("assign", "{fresh}", "--team", "water")),
    "note": Command(("note", "{ref}", "Rang the customer")),
    "delay": Command(("delay", "{ref}", "--reason", "Crew away", "--until", DUE_AHEAD)),
    "escalate": Command(("escalate", "{fresh}", "--reason", "Customer complained")),
    "close": Command(("close", "{fresh}", "--outcome", "completed", "--text", "Patched")),
    "publish": Command(("publish", "{fresh}", "--text", "Pothole reported in Spring St")),
    "show": Command(("show", "{ref}", "--json")),
    "history": Command(("history", "{ref}", "--json")),
    "queue": Command(("queue", "--team", "roads", "--json")),
    "sla": Command(("sla", "breached", "--json")),
    "sla-sweep": Command(("sla", "sweep")),
    "notices": Command(("notices", "--json")),
    "audit": Command(("audit", "--ref", "{ref}", "--json")),
    "import": Command(("import", NO_FILE, "--mapping", "config/mappings/boston311.toml"), 2),
    "kpi": Command(("kpi", "--by", "category", "--from", "2026-01-01", "--to", "2026-12-31")),
    "record": Command(("record", "verify", "--json")),
    "users": Command(("users", "list", "--json")),
    "apikeys": Command(("apikeys", "list", "--json")),
    "customer-find": Command(("customer", "find", "--phone", "0400 000 000", "--json")),
    "customer-show": Command(("customer", "show", "{customer}", "--json")),
    "customer-history": Command(("customer", "history", "{customer}", "--json")),
    "customer-update": Command(
        (
            "customer",
            "update",
            "{customer}",
            "--email",
            "ann@example.org",
            "--reason",
            "Confirmed by phone",
        )
    ),
    "customer-conduct": Command(("customer", "reviews-due", "--json")),
    "customer-access-log": Command(("customer", "access-log", "{customer}", "--json")),
    "projections": Command(("projections", "status", "--json")),
    "categories": Command(("categories", "--json")),
    "teams": Command(("teams", "--json")),
    "permissions": Command(("users", "permissions", "--json")),
    "timeline": Command(("timeline", "{ref}", "--format", "json")),
    "export": Command(
        ("record", "export", "--request", "{ref}", "--format", "csv", "--out", os.devnull)
    ),
    "reopen": Command(("reopen", "{closed}", "--reason", "Pothole opened up again")),
    "recategorise": Command(
        (
            "recategorise",
            "{fresh}",
            "--category",
            "road-damage",
            "--reason",
            "It is the road's shoulder",
        )
    ),
    "link": Command(("link", "{fresh}", "--duplicate-of", "{ref}")),
    "refer": Command(("refer", "{fresh}", "--agency", "transport-nsw", "--reason", "A state road")),
    "agencies": Command(("agencies", "--json")),
    "attach": Command(
        ("attach", "{ref}", str(PROJECT_ROOT / "pyproject.toml"), "--type", "text/plain")
    ),
    "attachments": Command(("attachments", "{ref}", "--json")),
    "contact": Command(("contact", "log", "--type", "rates", "--channel", "counter")),
    "stats": Command(("stats", "--by", "day,channel", "--json")),
    # allowed: refused by the rule (an open request is kept), exit 2, nothing erased
    "dispose": Command(("record", "dispose", "{fresh}", "--reason", "Retention ended"), 2),
    "alerts": Command(("alerts", "--json")),
    "complaint": Command(
        (
            "complaint",
            "subject",
            "{complaint}",
            "--officer",
            "as.officer",
            "--reason",
            "About their manner",
        )
    ),
    "complaint-report": Command(("complaint", "report", "--json")),
    "satisfaction": Command(("satisfaction", "{closed}", "--score", "4")),
    # allowed: refused by the rule (the customer has an open request), nothing erased
    "customer-erase": Command(("customer", "erase", "{customer}", "--reason", "Asked to"), 1),
}


def user_of(role: str) -> str:
    return f"as.{role}"


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


Crm = Callable[..., Ran]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Given a data folder where each role has a user of its own (`as.ROLE`, roads team), and
    `multi` holds officer then team-leader."""
    data = tmp_path_factory.mktemp("roles")
    staff = {user_of(role): [role] for role in ROLES}
    add_staff(
        make_settings(data),
        COUNCIL,
        {**staff, "multi": ["officer", "team-leader"], "gone": ["officer"]},
        teams={user: ["roads"] for user in staff},
    )
    return data


@pytest.fixture
def in_process(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Crm]:
    """`crm --council upper-lachlan ARGS…` through `infra.cli.main`, as `user` (if given).
    `main` points the logs at this test's captured stderr: they are put back afterwards."""
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))

    def run(*args: str, user: str | None = None) -> Ran:
        capsys.readouterr()
        code = cli.main(["--council", COUNCIL, *(["--as", user] if user else []), *args])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    logs = structlog.get_config()
    yield run
    structlog.configure(**logs)


@pytest.fixture(scope="module")
def subprocess_crm(data_dir: Path) -> Crm:
    """`crm --council upper-lachlan ARGS…` in a subprocess; `env` adds to its environment."""
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    base["CRM_DATA_DIR"] = str(data_dir)

    def run(*args: str, env: dict[str, str] | None = None) -> Ran:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", "--council", COUNCIL, *args],
            env={**base, **(env or {})},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


def stored(data_dir: Path) -> tuple[int, int]:
    """The last positions of the request store and of the directory (0 when empty)."""
    settings = make_settings(data_dir)
    positions = []
    for app in (open_event_store(settings), open_directory(settings)):
        try:
            positions.append(app.recorder.max_notification_id() or 0)
        finally:
            app.close()
    return positions[0], positions[1]


def lodged(crm: Crm, *extra: str) -> str:
    ran = crm(*LODGE, *extra, user=TEST_ADMIN)
    assert ran.code == 0, ran.stderr
    return ran.stdout.strip()


@pytest.fixture(scope="module")
def shared_ref(data_dir: Path) -> str:
    """Given an open pothole request in the roads team, acknowledged by the administrator."""
    rt = Runtime(make_settings(data_dir))
    admin = Actor(id=TEST_ADMIN, role="administrator")
    try:
        intake = Intake(
            category="pothole",
            channel=Channel.PHONE,
            description="Pothole",
            customer=Customer(
                name="Ann Lee", phone="0400 000 000", preferred_contact=ContactMethod.PHONE
            ),
        )
        ref = cmds.lodge_request(
            cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=admin), rt.ports
        ).reference
        cmds.handle(cmds.AcknowledgeRequest(council=COUNCIL, reference=ref, actor=admin), rt.ports)
        return ref
    finally:
        rt.close()


def customer_of(data_dir: Path, reference: str) -> str:
    """The customer number the request was lodged for."""
    rt = Runtime(make_settings(data_dir))
    try:
        customer = views.load_request(rt, rt.ports.council(COUNCIL), reference).customer
        assert customer is not None
        return customer.number
    finally:
        rt.close()


def refused_cleanly(ran: Ran, says: str) -> None:
    assert ran.code == 1, (ran.code, ran.stderr)
    assert ran.stdout == ""
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("crm: "), ran.stderr
    assert says in lines[0], lines[0]


# -- the table --------------------------------------------------------------------------------


def test_every_checked_action_has_a_command() -> None:
    assert set(COMMANDS) == set(CHECKED)


@pytest.mark.parametrize("action", CHECKED)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_exactly_what_the_table_says(
    in_process: Crm, data_dir: Path, shared_ref: str, role: str, action: str
) -> None:
    command = COMMANDS[action]
    fresh = lodged(in_process) if "{fresh}" in command.args else ""
    complaint = lodged(in_process, "--kind", "complaint") if "{complaint}" in command.args else ""
    closed = ""
    if "{closed}" in command.args:
        closed = lodged(in_process)
        done = in_process(
            "close", closed, "--outcome", "completed", "--text", "Patched", user=TEST_ADMIN
        )
        assert done.code == 0, done.stderr
    args = [
        a.replace("{ref}", shared_ref)
        .replace("{fresh}", fresh)
        .replace("{closed}", closed)
        .replace("{complaint}", complaint)
        .replace("{customer}", customer_of(data_dir, shared_ref))
        for a in command.args
    ]
    before = stored(data_dir)

    ran = in_process(*args, user=user_of(role))

    if action in MAY[role]:
        assert ran.code == command.allowed, ran.stderr
        assert "may not" not in ran.stderr
    else:
        refused_cleanly(ran, f"user {user_of(role)} may not run `{action}` as {role}")
        assert stored(data_dir) == before


def test_what_a_role_records_is_the_role_it_acted_in(in_process: Crm, shared_ref: str) -> None:
    for role in ROLES:
        if "note" in MAY[role]:
            assert in_process("note", shared_ref, f"Noted as {role}", user=user_of(role)).code == 0
    history = json.loads(in_process("history", shared_ref, "--json", user=TEST_ADMIN).stdout)
    recorded = {e["actor"]["id"]: e["actor"]["role"] for e in history if e["type"] == "NoteAdded"}
    for role in ROLES:
        if "note" in MAY[role]:
            assert recorded[user_of(role)] == role


# -- what each role sees ---------------------------------------------------------------------

# Written by hand from the issue: the desk, records, complaints and administrators always see a
# request's personal fields; officers and team leaders for their own team's requests (every
# `as.ROLE` user is in roads, the shared request's team); roles up the chain only once the
# request reached their level (the shared request is at the first level); analysts never.
SEES_PERSONAL = frozenset(
    {
        "customer-service",
        "officer",
        "team-leader",
        "records-officer",
        "complaints-officer",
        "administrator",
    }
)
VIEWS = {
    "show": ("show", "{ref}", "--json"),
    "history": ("history", "{ref}", "--json"),
    "audit": ("audit", "--ref", "{ref}", "--json"),
    "notices": ("notices", "--json"),
}


@pytest.mark.parametrize(
    ("role", "view"), [(role, view) for role in ROLES for view in VIEWS if view in MAY[role]]
)
def test_each_role_sees_a_requests_personal_fields_exactly_when_allowed(
    in_process: Crm, shared_ref: str, role: str, view: str
) -> None:
    if view == "notices":  # the sweep issues the acknowledgement notice (once)
        assert in_process("sla", "sweep", user=TEST_ADMIN).code in (0, 1)
    args = [a.replace("{ref}", shared_ref) for a in VIEWS[view]]
    ran = in_process(*args, user=user_of(role))
    assert ran.code == 0, ran.stderr
    opened = json.loads(in_process(*args, user=TEST_ADMIN).stdout)
    sealed = "sealed:v1:" in ran.stdout
    if role in SEES_PERSONAL:
        assert json.loads(ran.stdout) == opened and not sealed
        seen = "0400 000 000" if view == "notices" else "Ann Lee"  # a notice carries no name
        assert seen in ran.stdout
    else:
        assert "Ann Lee" not in ran.stdout and "400 000" not in ran.stdout and not sealed
        assert "[redacted]" in ran.stdout
        number = json.loads(in_process("show", shared_ref, "--json", user=TEST_ADMIN).stdout)[
            "customer_id"
        ]
        assert number not in ran.stdout  # a pseudonym stands in for the customer's number


def test_an_officer_sees_only_their_own_teams_requests_personal_fields(
    subprocess_crm: Crm, shared_ref: str
) -> None:
    ran = subprocess_crm(
        "--as",
        TEST_ADMIN,
        "users",
        "add",
        "parks.officer",
        "--name",
        "Parks Officer",
        "--role",
        "officer",
        "--team",
        "parks",
    )
    assert ran.code == 0, ran.stderr
    shown = json.loads(subprocess_crm("--as", "parks.officer", "show", shared_ref, "--json").stdout)
    assert shown["customer"]["name"] == shown["description"] == "[redacted]"
    assert shown["reference"] == shared_ref and shown["team"] == "roads"


def test_a_manager_sees_personal_fields_once_the_request_reaches_their_level(
    subprocess_crm: Crm,
) -> None:
    ran = subprocess_crm("--as", TEST_ADMIN, *LODGE)
    assert ran.code == 0, ran.stderr
    ref = ran.stdout.strip()
    before = json.loads(subprocess_crm("--as", user_of("manager"), "show", ref, "--json").stdout)
    for _ in ("team-leader", "manager"):
        ran = subprocess_crm("--as", TEST_ADMIN, "escalate", ref, "--reason", "Missed target")
        assert ran.code == 0, ran.stderr
    after = json.loads(subprocess_crm("--as", user_of("manager"), "show", ref, "--json").stdout)
    assert (before["level"], after["level"]) == ("officer", "manager")
    assert before["customer"]["name"] == "[redacted]"
    assert after["customer"]["name"] == "Ann Lee"
    assert after["description"] == "Deep pothole outside 12 Spring St"


def test_every_opening_of_personal_fields_is_in_the_access_log(
    subprocess_crm: Crm, shared_ref: str
) -> None:
    number = json.loads(subprocess_crm("--as", TEST_ADMIN, "show", shared_ref, "--json").stdout)[
        "customer_id"
    ]
    for role in ("analyst", "records-officer"):
        assert (
            subprocess_crm("--as", user_of(role), "audit", "--ref", shared_ref, "--json").code == 0
        )
    log = json.loads(
        subprocess_crm("--as", TEST_ADMIN, "customer", "access-log", number, "--json").stdout
    )
    vias = {(e["user_id"], e["via"]) for e in log}
    assert (user_of("records-officer"), "crm audit") in vias
    assert (TEST_ADMIN, "crm show") in vias
    assert not any(e["user_id"] == user_of("analyst") for e in log)  # nothing was opened
    assert "Ann Lee" not in json.dumps(log)


# -- refusals through the real process -------------------------------------------------------


REFUSALS = {
    "no acting user": ([], {}, "say who is acting"),
    "an unknown user": (["--as", "ghost"], {}, "no user 'ghost' in council upper-lachlan"),
    "a disabled user": (["--as", "gone"], {}, "user gone is disabled"),
    "a role the user does not hold": (
        ["--as", "multi", "--role", "administrator"],
        {},
        "does not hold the role administrator",
    ),
    "a role not held, from the environment": (
        ["--as", "multi"],
        {"CRM_ROLE": "analyst"},
        "does not hold the role analyst",
    ),
}


@pytest.fixture(scope="module")
def gone_disabled(subprocess_crm: Crm) -> None:
    ran = subprocess_crm("--as", TEST_ADMIN, "users", "disable", "gone", "--reason", "left")
    assert ran.code == 0, ran.stderr


@pytest.mark.parametrize("case", REFUSALS)
def test_a_command_is_refused_for(
    subprocess_crm: Crm, data_dir: Path, gone_disabled: None, case: str
) -> None:
    options, env, says = REFUSALS[case]
    before = stored(data_dir)

    ran = subprocess_crm(*options, *LODGE, env=env)

    refused_cleanly(ran, says)
    assert stored(data_dir) == before


def test_a_user_of_one_council_is_unknown_in_another(subprocess_crm: Crm, data_dir: Path) -> None:
    before = stored(data_dir)
    ran = subprocess_crm("--council", "canterbury", "--as", user_of("officer"), "queue")
    refused_cleanly(ran, "no user 'as.officer' in council canterbury")
    assert stored(data_dir) == before


def test_the_event_records_the_role_chosen_or_the_first_that_allows(
    subprocess_crm: Crm, shared_ref: str
) -> None:
    assert subprocess_crm("--as", "multi", "note", shared_ref, "first").code == 0
    assert (
        subprocess_crm("--as", "multi", "--role", "team-leader", "note", shared_ref, "chosen").code
        == 0
    )
    assert (
        subprocess_crm(
            "--as", "multi", "note", shared_ref, "from env", env={"CRM_ROLE": "team-leader"}
        ).code
        == 0
    )

    history = json.loads(subprocess_crm("--as", "multi", "history", shared_ref, "--json").stdout)
    notes = {e["data"]["text"]: e["actor"] for e in history if e["type"] == "NoteAdded"}
    assert notes["first"] == {"id": "multi", "role": "officer"}
    assert notes["chosen"] == notes["from env"] == {"id": "multi", "role": "team-leader"}


# -- managing users --------------------------------------------------------------------------


def test_bootstrap_is_refused_once_the_council_has_a_user(
    subprocess_crm: Crm, data_dir: Path
) -> None:
    before = stored(data_dir)
    ran = subprocess_crm("users", "bootstrap", "usurper", "--name", "Usurper")
    refused_cleanly(ran, "council upper-lachlan has users already")
    assert stored(data_dir) == before


@pytest.mark.parametrize("role", [r for r in ROLES if r != "administrator"])
def test_only_an_administrator_adds_a_user(subprocess_crm: Crm, data_dir: Path, role: str) -> None:
    before = stored(data_dir)
    ran = subprocess_crm(
        "--as", user_of(role), "users", "add", "sneaky", "--name", "S", "--role", "administrator"
    )
    refused_cleanly(ran, f"may not run `users` as {role}")
    assert stored(data_dir) == before


def test_a_users_history_shows_who_granted_and_revoked_which_role_and_when(
    subprocess_crm: Crm,
) -> None:
    admin = ("--as", TEST_ADMIN)
    added = subprocess_crm(
        *admin,
        "users",
        "add",
        "kwong",
        "--name",
        "Kim Wong",
        "--role",
        "officer",
        "--role",
        "customer-service",
        "--team",
        "roads",
        "--email",
        "kim@example.org",
        "--phone",
        "0400 000 111",
    )
    assert added.code == 0, added.stderr
    assert subprocess_crm(*admin, "users", "grant", "kwong", "team-leader").code == 0
    assert subprocess_crm(*admin, "users", "revoke", "kwong", "officer").code == 0
    again = subprocess_crm(*admin, "users", "revoke", "kwong", "officer")
    refused_cleanly(again, "does not hold the role officer")

    history = json.loads(subprocess_crm(*admin, "users", "history", "kwong", "--json").stdout)
    assert [(e["type"], e["data"].get("role")) for e in history] == [
        ("Added", None),
        ("RoleGranted", "team-leader"),
        ("RoleRevoked", "officer"),
    ]
    assert all(e["actor"] == {"id": TEST_ADMIN, "role": "administrator"} for e in history)
    assert all(e["occurred_at"] for e in history)
    assert history[0]["data"]["email"] == "kim@example.org"
    [user] = [
        u
        for u in json.loads(subprocess_crm(*admin, "users", "list", "--json").stdout)
        if u["user_id"] == "kwong"
    ]
    assert (user["roles"], user["teams"], user["active"]) == (
        ["customer-service", "team-leader"],
        ["roads"],
        True,
    )
