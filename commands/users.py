"""Commands on staff users, one frozen dataclass and one handler each, over the directory.

Each handler loads the user, lets the aggregate decide, and saves: a refusal raises before
anything is written. Besides the user's own rules, a council always keeps an active
administrator, and its first administrator is bootstrapped only while it has no user at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.access import system_actor
from commands.ports import Directory
from domain.aggregates.staff_user import ADDED_TOPIC, StaffUser, staff_user_id
from domain.council import Council
from domain.errors import AssigneeRefused, InvalidCommand, UserRefused
from domain.permissions import ADMINISTRATOR
from domain.values import Actor

BOOTSTRAP_ACTOR = system_actor("users-bootstrap")


@dataclass(frozen=True, kw_only=True)
class AddUser:
    council: str
    user_id: str
    name: str
    roles: tuple[str, ...]
    teams: tuple[str, ...] = ()
    email: str | None = None
    phone: str | None = None
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class UserCommand:
    council: str
    user_id: str
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class GrantRole(UserCommand):
    role: str


@dataclass(frozen=True, kw_only=True)
class RevokeRole(UserCommand):
    role: str


@dataclass(frozen=True, kw_only=True)
class JoinTeam(UserCommand):
    team: str


@dataclass(frozen=True, kw_only=True)
class LeaveTeam(UserCommand):
    team: str


@dataclass(frozen=True, kw_only=True)
class DisableUser(UserCommand):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class EnableUser(UserCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class BootstrapAdministrator:
    council: str
    user_id: str
    name: str


def list_users(directory: Directory, council: str) -> list[StaffUser]:
    """The council's staff users, in the order they were added."""
    found = (directory.find(StaffUser, i) for i in directory.ids_of([ADDED_TOPIC]))
    return [u for u in found if u is not None and u.council == council]


def require_assignable(directory: Directory, council: Council, officer: str, team: str) -> None:
    """Refuses (`AssigneeRefused`, nothing written) an officer who is not an active staff user
    of the council holding a role that may work a request, or who does not work in `team`: an
    officer sees a request's contact details, and finds it on their queue, only through their
    own teams."""
    user = directory.find(StaffUser, staff_user_id(council.id, officer))
    if user is None:
        raise AssigneeRefused(
            f"no staff user {officer!r} in council {council.id}: a request is assigned to one "
            f"(see `crm users list`)"
        )
    if not user.active:
        raise AssigneeRefused(f"user {officer} is disabled: a request cannot be assigned to them")
    if not council.permissions.can_hold_work(user.roles):
        raise AssigneeRefused(
            f"user {officer} holds no role that works requests ({', '.join(user.roles)}): "
            f"a request cannot be assigned to them"
        )
    if team not in user.teams:
        raise AssigneeRefused(
            f"user {officer} does not work in team {team} (their teams: "
            f"{', '.join(user.teams) or 'none'}): assign the request to {team} alone, or add "
            f"them to it first (`crm users join {officer} {team}`)"
        )


def require_known_officer(directory: Directory, council: Council, officer: str) -> None:
    """Refuses (`InvalidCommand`, nothing written) an officer id that names no staff user of the
    council, active or not: a complaint may be about someone who has since left, but a mistyped
    id would record a subject the never-assign rule could not match."""
    if directory.find(StaffUser, staff_user_id(council.id, officer)) is None:
        raise InvalidCommand(
            f"no staff user {officer!r} in council {council.id}: name the officer by their "
            f"user id (see `crm users list`)"
        )


def _same(council: Council, named: str) -> None:
    if council.id != named:
        raise ValueError(f"a command for council {named} given the configuration of {council.id}")


def _load(directory: Directory, council: Council, cmd: UserCommand) -> StaffUser:
    _same(council, cmd.council)
    user = directory.find(StaffUser, staff_user_id(council.id, cmd.user_id))
    if user is None:
        raise UserRefused(f"no user {cmd.user_id!r} in council {council.id}")
    return user


def add_user(cmd: AddUser, directory: Directory, council: Council) -> StaffUser:
    _same(council, cmd.council)
    if directory.find(StaffUser, staff_user_id(council.id, cmd.user_id)) is not None:
        raise UserRefused(f"user {cmd.user_id.strip()} exists already in council {council.id}")
    user = StaffUser.add(
        council=council.id,
        user_id=cmd.user_id,
        name=cmd.name,
        roles=cmd.roles,
        teams=cmd.teams,
        email=cmd.email,
        phone=cmd.phone,
        known_roles=council.staff_roles,
        known_teams=council.teams.keys(),
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(user)
    return user


def grant_role(cmd: GrantRole, directory: Directory, council: Council) -> StaffUser:
    user = _load(directory, council, cmd)
    user.grant(
        role=cmd.role, known_roles=council.staff_roles, occurred_at=directory.now(), actor=cmd.actor
    )
    directory.save(user)
    return user


def join_team(cmd: JoinTeam, directory: Directory, council: Council) -> StaffUser:
    user = _load(directory, council, cmd)
    user.join_team(
        team=cmd.team,
        known_teams=council.teams.keys(),
        occurred_at=directory.now(),
        actor=cmd.actor,
    )
    directory.save(user)
    return user


def leave_team(cmd: LeaveTeam, directory: Directory, council: Council) -> StaffUser:
    user = _load(directory, council, cmd)
    user.leave_team(team=cmd.team, occurred_at=directory.now(), actor=cmd.actor)
    directory.save(user)
    return user


def _keeps_an_administrator(directory: Directory, user: StaffUser, doing: str) -> None:
    others = [
        u
        for u in list_users(directory, user.council)
        if u.active and ADMINISTRATOR in u.roles and u.user_id != user.user_id
    ]
    if user.active and ADMINISTRATOR in user.roles and not others:
        raise UserRefused(
            f"cannot {doing}: {user.user_id} is the council's last active administrator"
        )


def revoke_role(cmd: RevokeRole, directory: Directory, council: Council) -> StaffUser:
    user = _load(directory, council, cmd)
    if cmd.role == ADMINISTRATOR:
        _keeps_an_administrator(directory, user, f"revoke {cmd.role}")
    user.revoke(role=cmd.role, occurred_at=directory.now(), actor=cmd.actor)
    directory.save(user)
    return user


def disable_user(cmd: DisableUser, directory: Directory, council: Council) -> StaffUser:
    user = _load(directory, council, cmd)
    _keeps_an_administrator(directory, user, "disable the user")
    user.disable(reason=cmd.reason, occurred_at=directory.now(), actor=cmd.actor)
    directory.save(user)
    return user


def enable_user(cmd: EnableUser, directory: Directory, council: Council) -> StaffUser:
    user = _load(directory, council, cmd)
    user.enable(occurred_at=directory.now(), actor=cmd.actor)
    directory.save(user)
    return user


def bootstrap_administrator(
    cmd: BootstrapAdministrator, directory: Directory, council: Council
) -> StaffUser:
    """The council's first user, an administrator; refused once the council has any user."""
    _same(council, cmd.council)
    if list_users(directory, council.id):
        raise UserRefused(
            f"council {council.id} has users already: an administrator adds more "
            f"(crm --as ADMIN users add …)"
        )
    add = AddUser(
        council=council.id,
        user_id=cmd.user_id,
        name=cmd.name,
        roles=(ADMINISTRATOR,),
        actor=BOOTSTRAP_ACTOR,
    )
    return add_user(add, directory, council)
