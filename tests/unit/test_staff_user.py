"""The staff-user aggregate (given events / when a command / then events or a refusal), and the
user handlers and the permission check over the real directory store (SQLite)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands import users as cmds
from commands.access import authorize, system_actor
from domain.aggregates.staff_user import StaffUser, staff_user_id
from domain.council import Council
from domain.errors import DomainError, InvalidCommand, NotPermitted, UserRefused
from domain.values import Actor
from infra.config import load_council
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")
AT = datetime(2026, 3, 2, 10, 0, tzinfo=SYDNEY)
ADMIN = Actor(id="admin", role="administrator")
KNOWN_ROLES = ("customer-service", "officer", "team-leader", "administrator")


def added(**overrides: Any) -> StaffUser:
    fields: dict[str, Any] = {
        "council": "upper-lachlan",
        "user_id": "kwong",
        "name": "Kim Wong",
        "roles": ["officer"],
        "teams": ["roads"],
        "email": "kim@example.org",
        "phone": None,
        "known_roles": KNOWN_ROLES,
        "known_teams": ("roads", "water"),
        "occurred_at": AT,
        "actor": ADMIN,
    }
    fields.update(overrides)
    return StaffUser.add(**fields)


def refused(user: StaffUser, error: type[DomainError], says: str, do: Any) -> None:
    """Then the command is refused with `error` and the user records nothing."""
    before = (user.version, user.roles, user.active)
    with pytest.raises(error) as caught:
        do()
    assert says in str(caught.value)
    assert (user.version, user.roles, user.active) == before
    assert user.collect_events() == []


@pytest.fixture
def user() -> StaffUser:
    """Given officer kwong of the roads team, added by the administrator (events collected)."""
    u = added()
    u.collect_events()
    return u


# -- the aggregate ---------------------------------------------------------------------------


def test_adding_a_user_records_who_they_are_their_roles_and_who_added_them() -> None:
    u = added(roles=["officer", "team-leader", "officer"], user_id=" kwong ")

    [event] = u.collect_events()
    assert isinstance(event, StaffUser.Added)
    assert (event.user_id, event.roles, event.teams) == (
        "kwong",
        ("officer", "team-leader"),
        ("roads",),
    )
    assert (event.actor, event.occurred_at) == (ADMIN, AT)
    assert u.id == staff_user_id("upper-lachlan", "kwong") and u.active


@pytest.mark.parametrize(
    ("overrides", "error", "says"),
    [
        ({"roles": []}, InvalidCommand, "at least one role"),
        ({"roles": ["mayor"]}, UserRefused, "unknown role 'mayor'"),
        ({"teams": ["pixies"]}, UserRefused, "unknown team 'pixies'"),
        ({"name": " "}, InvalidCommand, "name must not be empty"),
        ({"user_id": "system:sla-watchdog"}, InvalidCommand, "not a user id"),
        ({"occurred_at": datetime(2026, 3, 2, 10, 0)}, InvalidCommand, "timezone"),
    ],
)
def test_adding_a_user_breaking_a_rule_is_refused(
    overrides: dict[str, Any], error: type[DomainError], says: str
) -> None:
    with pytest.raises(error, match=says):
        added(**overrides)


def test_granting_and_revoking_record_the_role_and_who_did_it(user: StaffUser) -> None:
    user.grant(role="team-leader", known_roles=KNOWN_ROLES, occurred_at=AT, actor=ADMIN)
    user.revoke(role="officer", occurred_at=AT, actor=ADMIN)

    granted, revoked = user.collect_events()
    assert isinstance(granted, StaffUser.RoleGranted) and granted.role == "team-leader"
    assert isinstance(revoked, StaffUser.RoleRevoked) and revoked.role == "officer"
    assert granted.actor == revoked.actor == ADMIN
    assert user.roles == ("team-leader",)


def test_joining_and_leaving_a_team_record_the_team_and_who_did_it(user: StaffUser) -> None:
    user.join_team(team="water", known_teams=("roads", "water"), occurred_at=AT, actor=ADMIN)
    user.leave_team(team="roads", occurred_at=AT, actor=ADMIN)

    joined, left = user.collect_events()
    assert isinstance(joined, StaffUser.JoinedTeam) and joined.team == "water"
    assert isinstance(left, StaffUser.LeftTeam) and left.team == "roads"
    assert joined.actor == left.actor == ADMIN
    assert user.teams == ("water",)


@pytest.mark.parametrize(
    ("do", "says"),
    [
        (
            lambda u: u.join_team(
                team="roads", known_teams=("roads",), occurred_at=AT, actor=ADMIN
            ),
            "already works in team roads",
        ),
        (
            lambda u: u.join_team(
                team="sewer", known_teams=("roads",), occurred_at=AT, actor=ADMIN
            ),
            "unknown team 'sewer'",
        ),
        (
            lambda u: u.leave_team(team="water", occurred_at=AT, actor=ADMIN),
            "does not work in team water",
        ),
    ],
)
def test_a_team_change_breaking_a_rule_is_refused(user: StaffUser, do: Any, says: str) -> None:
    teams = user.teams
    with pytest.raises(DomainError, match=says):
        do(user)
    assert user.teams == teams and user.collect_events() == []


def test_a_disabled_user_cannot_join_a_team(user: StaffUser) -> None:
    user.disable(reason=None, occurred_at=AT, actor=ADMIN)
    user.collect_events()
    refused(
        user,
        UserRefused,
        "is disabled",
        lambda: user.join_team(
            team="water", known_teams=("roads", "water"), occurred_at=AT, actor=ADMIN
        ),
    )


def test_a_role_held_cannot_be_granted_again(user: StaffUser) -> None:
    refused(
        user,
        UserRefused,
        "already holds the role officer",
        lambda: user.grant(role="officer", known_roles=KNOWN_ROLES, occurred_at=AT, actor=ADMIN),
    )


def test_an_unknown_role_cannot_be_granted(user: StaffUser) -> None:
    refused(
        user,
        UserRefused,
        "unknown role 'mayor'",
        lambda: user.grant(role="mayor", known_roles=KNOWN_ROLES, occurred_at=AT, actor=ADMIN),
    )


def test_a_role_not_held_cannot_be_revoked(user: StaffUser) -> None:
    refused(
        user,
        UserRefused,
        "does not hold the role team-leader",
        lambda: user.revoke(role="team-leader", occurred_at=AT, actor=ADMIN),
    )


def test_the_last_role_cannot_be_revoked(user: StaffUser) -> None:
    refused(
        user,
        UserRefused,
        "last role",
        lambda: user.revoke(role="officer", occurred_at=AT, actor=ADMIN),
    )


def test_a_disabled_user_is_not_disabled_twice_nor_granted_a_role(user: StaffUser) -> None:
    user.disable(reason="left the council", occurred_at=AT, actor=ADMIN)
    [event] = user.collect_events()
    assert isinstance(event, StaffUser.Disabled) and event.reason == "left the council"

    refused(
        user,
        UserRefused,
        "already disabled",
        lambda: user.disable(reason=None, occurred_at=AT, actor=ADMIN),
    )
    refused(
        user,
        UserRefused,
        "is disabled",
        lambda: user.grant(
            role="team-leader", known_roles=KNOWN_ROLES, occurred_at=AT, actor=ADMIN
        ),
    )


def test_a_disabled_user_can_be_enabled_once(user: StaffUser) -> None:
    user.disable(reason=None, occurred_at=AT, actor=ADMIN)
    user.enable(occurred_at=AT, actor=ADMIN)
    assert [type(e).__name__ for e in user.collect_events()] == ["Disabled", "Enabled"]
    assert user.active
    refused(user, UserRefused, "active already", lambda: user.enable(occurred_at=AT, actor=ADMIN))


# -- the handlers and the permission check, on the real directory store ----------------------


@pytest.fixture
def council() -> Council:
    return load_council(PROJECT_ROOT / "config", "upper-lachlan")


@pytest.fixture
def rt(sqlite_runtime: Runtime) -> Runtime:
    return sqlite_runtime


def bootstrap(rt: Runtime, council: Council) -> StaffUser:
    return cmds.bootstrap_administrator(
        cmds.BootstrapAdministrator(council=council.id, user_id="admin", name="Admin"),
        rt.directory_ports,
        council,
    )


def add(
    rt: Runtime, council: Council, user_id: str, *roles: str, teams: tuple[str, ...] = ()
) -> StaffUser:
    return cmds.add_user(
        cmds.AddUser(
            council=council.id, user_id=user_id, name=user_id, roles=roles, teams=teams, actor=ADMIN
        ),
        rt.directory_ports,
        council,
    )


def test_a_saved_user_reloads_equal_with_tuples_and_its_history(
    rt: Runtime, council: Council, clock: FakeClock
) -> None:
    bootstrap(rt, council)
    add(rt, council, "kwong", "officer", "team-leader", teams=("roads",))
    clock.advance(hours=1)
    cmds.grant_role(
        cmds.GrantRole(council=council.id, user_id="kwong", role="customer-service", actor=ADMIN),
        rt.directory_ports,
        council,
    )

    reloaded = rt.directory_ports.find(StaffUser, staff_user_id(council.id, "kwong"))
    assert reloaded is not None
    assert reloaded.roles == ("officer", "team-leader", "customer-service")
    assert reloaded.teams == ("roads",)
    events = list(rt.directory.repository.event_store.get(reloaded.id))
    assert [type(e).__name__ for e in events] == ["Added", "RoleGranted"]
    assert events[1].actor == ADMIN and events[1].occurred_at == clock()


def test_bootstrap_makes_the_first_administrator_as_a_system_actor_and_only_once(
    rt: Runtime, council: Council
) -> None:
    admin = bootstrap(rt, council)
    [event] = rt.directory.repository.event_store.get(admin.id)
    assert admin.roles == ("administrator",)
    assert event.actor == system_actor("users-bootstrap")
    with pytest.raises(UserRefused, match="has users already"):
        cmds.bootstrap_administrator(
            cmds.BootstrapAdministrator(council=council.id, user_id="other", name="Other"),
            rt.directory_ports,
            council,
        )


def test_users_are_listed_per_council(rt: Runtime, council: Council) -> None:
    bootstrap(rt, council)
    add(rt, council, "kwong", "officer")
    canterbury = load_council(PROJECT_ROOT / "config", "canterbury")
    cmds.bootstrap_administrator(
        cmds.BootstrapAdministrator(council=canterbury.id, user_id="admin", name="Admin"),
        rt.directory_ports,
        canterbury,
    )

    assert [u.user_id for u in cmds.list_users(rt.directory_ports, council.id)] == [
        "admin",
        "kwong",
    ]
    assert [u.user_id for u in cmds.list_users(rt.directory_ports, "canterbury")] == ["admin"]


def test_the_last_active_administrator_is_kept(rt: Runtime, council: Council) -> None:
    bootstrap(rt, council)
    d = rt.directory_ports
    with pytest.raises(UserRefused, match="last active administrator"):
        cmds.disable_user(
            cmds.DisableUser(council=council.id, user_id="admin", actor=ADMIN), d, council
        )
    add(rt, council, "second", "administrator")
    cmds.disable_user(
        cmds.DisableUser(council=council.id, user_id="admin", actor=ADMIN), d, council
    )
    with pytest.raises(UserRefused, match="last active administrator"):
        cmds.revoke_role(
            cmds.RevokeRole(
                council=council.id, user_id="second", role="administrator", actor=ADMIN
            ),
            d,
            council,
        )


def test_a_user_is_added_once(rt: Runtime, council: Council) -> None:
    bootstrap(rt, council)
    add(rt, council, "kwong", "officer")
    with pytest.raises(UserRefused, match="exists already"):
        add(rt, council, "kwong", "team-leader")


def test_authorize_picks_the_first_role_that_allows_the_action(
    rt: Runtime, council: Council
) -> None:
    bootstrap(rt, council)
    add(rt, council, "kwong", "analyst", "officer", teams=("roads",))
    d = rt.directory_ports

    assert authorize(d, council, "kwong", None, "kpi").role == "analyst"
    viewer = authorize(d, council, "kwong", None, "close")
    assert (viewer.role, viewer.roles, viewer.teams) == (
        "officer",
        frozenset({"analyst", "officer"}),
        frozenset({"roads"}),
    )
    assert authorize(d, council, "kwong", "officer", "show").actor == Actor(
        id="kwong", role="officer"
    )


@pytest.mark.parametrize(
    ("user_id", "role", "action", "says"),
    [
        (None, None, "lodge", "say who is acting"),
        ("ghost", None, "lodge", "no user 'ghost' in council upper-lachlan"),
        ("gone", None, "lodge", "user gone is disabled"),
        ("kwong", "team-leader", "lodge", "does not hold the role team-leader"),
        ("kwong", None, "audit", "may not run `audit` as officer"),
        ("kwong", "officer", "users", "may not run `users` as officer"),
    ],
)
def test_authorize_refuses_in_one_line(
    rt: Runtime, council: Council, user_id: str | None, role: str | None, action: str, says: str
) -> None:
    bootstrap(rt, council)
    add(rt, council, "kwong", "officer")
    add(rt, council, "gone", "officer")
    cmds.disable_user(
        cmds.DisableUser(council=council.id, user_id="gone", actor=ADMIN),
        rt.directory_ports,
        council,
    )

    with pytest.raises(NotPermitted) as caught:
        authorize(rt.directory_ports, council, user_id, role, action)
    assert says in str(caught.value) and "\n" not in str(caught.value)
