"""The permission table, who sees personal data, and the council's `[permissions]` overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.permissions import (
    ACTIONS,
    BASE_ROLES,
    PUBLIC_ACTIONS,
    REQUEST_COMMANDS,
    Permissions,
    Viewer,
    default_permissions,
    sees_customer_record,
    sees_personal,
)
from domain.values import Actor
from infra.cli.users import permission_markdown
from infra.config import ConfigError, load_council
from infra.settings import PROJECT_ROOT
from tests.unit.test_config import CONFIG_DIR, VALID, write_council

CHAIN = ("officer", "team-leader", "manager", "director", "general-manager")
TABLE = default_permissions(CHAIN)


def viewer(role: str, teams: tuple[str, ...] = ()) -> Viewer:
    return Viewer(user_id="u", role=role, roles=frozenset({role}), teams=frozenset(teams))


# -- the default table -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer-service", "officer", "team-leader"])
def test_the_front_line_may_run_every_request_command_and_the_work_views(role: str) -> None:
    for action in [
        *REQUEST_COMMANDS,
        "queue",
        "show",
        "history",
        "sla",
        "sla-sweep",
        "alerts",
        "notices",
        "timeline",
        "customer-find",
        "customer-update",
    ]:
        assert TABLE.allows(role, action), action
    for action in ("audit", "import", "kpi", "users", "projections", "customer-erase"):
        assert not TABLE.allows(role, action), action


def test_records_officers_keep_the_record_but_do_not_work_requests() -> None:
    for action in (
        "audit",
        "import",
        "kpi",
        "export",
        "record",
        "show",
        "history",
        "customer-access-log",
        "customer-erase",
        "timeline",
    ):
        assert TABLE.allows("records-officer", action), action
    for action in (*REQUEST_COMMANDS, "queue", "sla-sweep", "users"):
        assert not TABLE.allows("records-officer", action), action


def test_analysts_read_figures_and_history_and_change_nothing() -> None:
    assert {a for a in ACTIONS if TABLE.allows("analyst", a)} == {
        "kpi",
        "sla",
        "queue",
        "show",
        "history",
        "audit",
        "timeline",
        "stats",
        "complaint-report",
        *PUBLIC_ACTIONS,
    }


def test_complaints_officers_also_declare_a_customers_conduct() -> None:
    assert TABLE.allows("complaints-officer", "customer-conduct")
    assert TABLE.allows("complaints-officer", "close")
    assert not TABLE.allows("complaints-officer", "customer-erase")


def test_complaints_officers_handle_complaints_and_the_front_line_records_ratings() -> None:
    """Complaint handling (subject officer, review, Ombudsman) is the complaints officers'
    (and administrators'); a rating is recorded by whoever takes the customer's call."""
    assert {r for r in TABLE.roles if TABLE.allows(r, "complaint")} == {
        "complaints-officer",
        "administrator",
    }
    for role in ("customer-service", "officer", "complaints-officer"):
        assert TABLE.allows(role, "satisfaction"), role
    assert not TABLE.allows("analyst", "satisfaction")
    assert not TABLE.allows("records-officer", "satisfaction")


def test_administrators_may_do_everything_but_dispose_of_records() -> None:
    assert {a for a in ACTIONS if not TABLE.allows("administrator", a)} == {"dispose"}


def test_every_chain_role_has_what_a_team_leader_has_and_the_general_manager_more() -> None:
    chain = default_permissions(("officer", "supervisor", "coordinator", "general-manager"))
    leader = chain.by_role["team-leader"]
    assert chain.by_role["supervisor"] == chain.by_role["coordinator"] == leader
    assert chain.by_role["general-manager"] == leader | {"customer-conduct"}


def test_the_catalogue_is_public_and_an_unknown_role_may_do_nothing_else() -> None:
    assert all(TABLE.allows("nobody", a) for a in PUBLIC_ACTIONS)
    assert not any(TABLE.allows("nobody", a) for a in ACTIONS - PUBLIC_ACTIONS)


def test_every_role_in_the_table_allows_only_known_actions() -> None:
    assert set(BASE_ROLES) <= set(TABLE.roles)
    assert all(actions <= ACTIONS for actions in TABLE.by_role.values())


def test_replacing_a_roles_actions_leaves_the_others() -> None:
    changed = TABLE.replacing({"analyst": ["kpi"], "auditor": ["audit"]})
    assert changed.by_role["analyst"] == {"kpi"}
    assert changed.allows("auditor", "audit") and not changed.allows("auditor", "kpi")
    assert changed.by_role["officer"] == TABLE.by_role["officer"]


# -- personal data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["customer-service", "records-officer", "complaints-officer", "administrator"]
)
def test_the_desk_records_complaints_and_administrators_always_see_personal_data(
    role: str,
) -> None:
    assert sees_personal(viewer(role), team=None, level=None, chain=CHAIN)
    assert sees_customer_record(viewer(role))


@pytest.mark.parametrize("role", ["officer", "team-leader"])
def test_officers_and_team_leaders_see_personal_data_of_their_own_teams_requests(
    role: str,
) -> None:
    roads = viewer(role, ("roads",))
    assert sees_personal(roads, team="roads", level="officer", chain=CHAIN)
    assert not sees_personal(roads, team="water", level="officer", chain=CHAIN)
    assert not sees_personal(roads, team=None, level="officer", chain=CHAIN)
    assert not sees_customer_record(roads)


def test_a_manager_sees_personal_data_once_the_request_reached_their_level_or_higher() -> None:
    manager = viewer("manager", ("roads",))
    assert not sees_personal(manager, team="roads", level="team-leader", chain=CHAIN)
    assert sees_personal(manager, team="water", level="manager", chain=CHAIN)
    assert sees_personal(manager, team="water", level="general-manager", chain=CHAIN)
    assert not sees_personal(viewer("general-manager"), team=None, level="director", chain=CHAIN)


@pytest.mark.parametrize("role", ["analyst", "nobody", "system"])
def test_analysts_and_anyone_else_never_see_personal_data(role: str) -> None:
    for level in CHAIN:
        assert not sees_personal(viewer(role, ("roads",)), team="roads", level=level, chain=CHAIN)
    assert not sees_customer_record(viewer(role))


def test_the_viewers_actor_carries_the_role_they_act_in() -> None:
    v = Viewer(
        user_id="kwong",
        role="team-leader",
        roles=frozenset({"officer", "team-leader"}),
        teams=frozenset(),
    )
    assert v.actor == Actor(id="kwong", role="team-leader")


# -- the council's configuration -------------------------------------------------------------


def test_a_council_without_a_permissions_table_gets_the_defaults_for_its_chain() -> None:
    canterbury = load_council(CONFIG_DIR, "canterbury")
    assert canterbury.permissions == default_permissions(canterbury.roles)
    # Seed 001 §7.4.4: the General Manager declares a customer's conduct unreasonable.
    assert canterbury.permissions.allows("general-manager", "customer-conduct")
    assert canterbury.permissions.allows("supervisor", "escalate")
    assert {"supervisor", "general-manager", "analyst"} <= set(canterbury.staff_roles)


def test_a_permissions_table_replaces_a_roles_actions_and_adds_roles(tmp_path: Path) -> None:
    write_council(
        tmp_path, VALID + '\n[permissions]\nanalyst = ["kpi"]\nauditor = ["audit", "history"]\n'
    )
    council = load_council(tmp_path, "testshire")
    assert council.permissions.by_role["analyst"] == {"kpi"}
    assert council.permissions.allows("auditor", "history")
    assert "auditor" in council.staff_roles
    assert (
        council.permissions.by_role["officer"]
        == default_permissions(council.roles).by_role["officer"]
    )


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('analyst = ["kpi", "launch-missiles"]', "unknown action(s) 'launch-missiles'"),
        ('analyst = "kpi"', "must be a list of action names"),
        ("analyst = [1]", "must be a list of action names"),
    ],
)
def test_a_bad_permissions_table_is_refused_naming_the_file_and_field(
    tmp_path: Path, table: str, says: str
) -> None:
    path = write_council(tmp_path, VALID + f"\n[permissions]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_council(tmp_path, "testshire")
    message = str(caught.value)
    assert str(path) in message and "permissions.analyst" in message and says in message


def test_a_permissions_value_is_a_plain_mapping_of_frozensets() -> None:
    assert isinstance(TABLE, Permissions)
    assert all(isinstance(v, frozenset) for v in TABLE.by_role.values())


def test_the_readmes_permission_table_is_the_one_the_code_prints() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- permissions:begin -->\n")[1].split("\n<!-- permissions:end -->")[0]
    assert shown == permission_markdown(load_council(CONFIG_DIR, "upper-lachlan"))
