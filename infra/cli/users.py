"""`crm users …`: a council's staff users and their roles, kept as events with their history.

Every subcommand needs an acting administrator (action `users`), except `bootstrap`, which
creates a council's first administrator while it has no user at all, `permissions`, the
council's permission table, which is public like its catalogue, and `passwd`, `token` and
`revoke-tokens`, which a user may also run on their own account.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta
from typing import Any

from commands import users as cmds
from commands.access import authorize_for_user
from domain.aggregates.staff_user import StaffUser, staff_user_id
from domain.council import Council
from domain.errors import UserRefused
from domain.permissions import ACTION_DOCS, Viewer
from infra.cli.common import authorized, council, emit_json, emit_table, runtime
from projections.envelope import event_data, event_type, to_plain

COLUMNS = ["user_id", "name", "roles", "teams", "active", "email", "phone"]


def _row(user: StaffUser) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "name": user.name,
        "roles": list(user.roles),
        "teams": list(user.teams),
        "active": user.active,
        "email": user.email,
        "phone": user.phone,
        "version": user.version,
    }


def _done(user: StaffUser, what: str) -> None:
    print(
        f"{user.user_id}: {what} (roles: {', '.join(user.roles)}; "
        f"teams: {', '.join(user.teams) or 'none'}{'' if user.active else '; disabled'})"
    )


def run_add(args: argparse.Namespace) -> None:
    c = council(args)
    who = authorized(args, c, "users")
    cmd = cmds.AddUser(
        council=c.id,
        user_id=args.id,
        name=args.name,
        roles=tuple(args.roles),
        teams=tuple(args.teams),
        email=args.email,
        phone=args.phone,
        actor=who.actor,
    )
    _done(cmds.add_user(cmd, runtime(args).directory_ports, c), "added")


def run_change(args: argparse.Namespace) -> None:
    c = council(args)
    who = authorized(args, c, "users")
    base = {"council": c.id, "user_id": args.id, "actor": who.actor}
    directory = runtime(args).directory_ports
    if args.users_command == "grant":
        user = cmds.grant_role(cmds.GrantRole(**base, role=args.granted), directory, c)
    elif args.users_command == "revoke":
        user = cmds.revoke_role(cmds.RevokeRole(**base, role=args.granted), directory, c)
    elif args.users_command == "join":
        user = cmds.join_team(cmds.JoinTeam(**base, team=args.team), directory, c)
    elif args.users_command == "leave":
        user = cmds.leave_team(cmds.LeaveTeam(**base, team=args.team), directory, c)
    elif args.users_command == "disable":
        user = cmds.disable_user(cmds.DisableUser(**base, reason=args.reason), directory, c)
    else:
        user = cmds.enable_user(cmds.EnableUser(**base), directory, c)
    done = {
        "grant": "granted",
        "revoke": "revoked",
        "join": "joined team",
        "leave": "left team",
        "disable": "disabled",
        "enable": "enabled",
    }[args.users_command]
    what = {"grant": "granted", "revoke": "granted", "join": "team", "leave": "team"}.get(
        args.users_command
    )
    _done(user, done + (f" {getattr(args, what)}" if what else ""))


def run_list(args: argparse.Namespace) -> None:
    c = council(args)
    authorized(args, c, "users")
    rows = [_row(u) for u in cmds.list_users(runtime(args).directory_ports, c.id)]
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            [{**r, "roles": ",".join(r["roles"]), "teams": ",".join(r["teams"])} for r in rows],
            COLUMNS,
        )


def run_history(args: argparse.Namespace) -> None:
    """Every event of the user: what changed, when, and who did it in which role."""
    c = council(args)
    authorized(args, c, "users")
    rt = runtime(args)
    uid = staff_user_id(c.id, args.id)
    if rt.directory_ports.find(StaffUser, uid) is None:
        raise UserRefused(f"no user {args.id!r} in council {c.id}")
    events: list[Any] = list(rt.directory.repository.event_store.get(uid))
    rows = [
        {
            "type": event_type(e),
            "version": e.originator_version,
            "occurred_at": e.occurred_at.isoformat(),
            "actor": {"id": e.actor.id, "role": e.actor.role},
            "data": event_data(e),
        }
        for e in events
    ]
    if args.json:
        emit_json(to_plain(rows))
    else:
        emit_table(
            [
                {
                    **r,
                    "actor": f"{r['actor']['id']} ({r['actor']['role']})",
                    "data": ", ".join(f"{k}={v}" for k, v in to_plain(r["data"]).items()),
                }
                for r in rows
            ],
            ["version", "type", "occurred_at", "actor", "data"],
            council(args).calendar.timezone,
        )


def permission_table(c: Council) -> list[dict[str, Any]]:
    """One row per action: its meaning and, per role the council knows, whether it is allowed."""
    table = c.permissions
    return [
        {
            "action": action,
            "meaning": meaning,
            **{role: table.allows(role, action) for role in c.staff_roles},
        }
        for action, meaning in ACTION_DOCS.items()
    ]


def permission_markdown(c: Council) -> str:
    """The table as the README shows it (✓ allowed, blank refused)."""
    roles = list(c.staff_roles)
    lines = ["| action | meaning | " + " | ".join(roles) + " |", "|---|---|" + "---|" * len(roles)]
    for row in permission_table(c):
        marks = " | ".join("✓" if row[r] else "" for r in roles)
        lines.append(f"| `{row['action']}` | {row['meaning']} | {marks} |")
    return "\n".join(lines)


def run_permissions(args: argparse.Namespace) -> None:
    """Public, like the catalogue: what each role may do in this council."""
    c = council(args)
    if args.json:
        emit_json({role: sorted(c.permissions.by_role.get(role, ())) for role in c.staff_roles})
    else:
        print(permission_markdown(c))


def run_bootstrap(args: argparse.Namespace) -> None:
    c = council(args)
    cmd = cmds.BootstrapAdministrator(council=c.id, user_id=args.id, name=args.name)
    _done(
        cmds.bootstrap_administrator(cmd, runtime(args).directory_ports, c),
        "the council's first administrator",
    )


def _account(args: argparse.Namespace, action: str = "users") -> tuple[Council, Viewer]:
    """The council and the acting user, who may act on `args.id`'s account: an administrator,
    or the user themselves."""
    c = council(args)
    who = authorize_for_user(
        runtime(args).directory_ports, c, args.actor, args.role, args.id, action
    )
    user = runtime(args).directory_ports.find(StaffUser, staff_user_id(c.id, args.id))
    if user is None or not user.active:
        raise UserRefused(f"no active user {args.id!r} in council {c.id}")
    return c, who


def run_passwd(args: argparse.Namespace) -> None:
    """Reads the new password from stdin (one line; a terminal does not echo it)."""
    c, who = _account(args)
    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {args.id}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    rt = runtime(args)
    rt.credentials.set_password(c.id, args.id, password, who.user_id, rt.clock())
    print(f"{args.id}: password set")


def run_token(args: argparse.Namespace) -> None:
    """Prints a new bearer token, alone on one line, once."""
    c, who = _account(args)
    if not 0 < args.days <= 366:
        raise ValueError("--days must be from 1 to 366")
    rt = runtime(args)
    token, _ = rt.credentials.issue_token(
        c.id, args.id, who.user_id, rt.clock(), timedelta(days=args.days)
    )
    print(token)


def run_revoke_tokens(args: argparse.Namespace) -> None:
    c, _ = _account(args)
    rt = runtime(args)
    n = rt.credentials.revoke_tokens(c.id, args.id, rt.clock())
    print(f"{args.id}: {n} token{'s' if n != 1 else ''} revoked")


def register(sub: Any) -> None:
    p = sub.add_parser("users", help="staff users and their roles (administrators)")
    ops = p.add_subparsers(dest="users_command", metavar="USERS_COMMAND", required=True)
    q = ops.add_parser("add", help="add a staff user with one or more roles")
    q.add_argument("id", metavar="ID")
    q.add_argument("--name", required=True)
    # not `dest="role"`: the global --role is the acting user's
    q.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        metavar="ROLE",
        help="a role the user holds (repeat for several)",
    )
    q.add_argument(
        "--team",
        dest="teams",
        action="append",
        default=[],
        metavar="T",
        help="a team the user works in (repeat for several)",
    )
    q.add_argument("--email", help="for staff alerts")
    q.add_argument("--phone", help="for staff alerts")
    q.set_defaults(run=run_add)
    for name, help_ in (("grant", "grant a role"), ("revoke", "revoke a role")):
        q = ops.add_parser(name, help=help_)
        q.add_argument("id", metavar="ID")
        q.add_argument("granted", metavar="ROLE")
        q.set_defaults(run=run_change)
    for name, help_ in (
        ("join", "add a user to a team they work in"),
        ("leave", "take a user off a team"),
    ):
        q = ops.add_parser(name, help=help_)
        q.add_argument("id", metavar="ID")
        q.add_argument("team", metavar="TEAM")
        q.set_defaults(run=run_change)
    q = ops.add_parser("disable", help="disable a user: they may no longer act")
    q.add_argument("id", metavar="ID")
    q.add_argument("--reason")
    q.set_defaults(run=run_change)
    q = ops.add_parser("enable", help="enable a disabled user again")
    q.add_argument("id", metavar="ID")
    q.set_defaults(run=run_change)
    q = ops.add_parser("list", help="the council's staff users")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_list)
    q = ops.add_parser("history", help="every change to a user: what, when, by whom")
    q.add_argument("id", metavar="ID")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_history)
    q = ops.add_parser("permissions", help="what each role may do here (public)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_permissions)
    q = ops.add_parser("passwd", help="set a user's password for signing in (read from stdin)")
    q.add_argument("id", metavar="ID")
    q.set_defaults(run=run_passwd)
    q = ops.add_parser("token", help="a bearer token for scripts, printed once")
    q.add_argument("id", metavar="ID")
    q.add_argument("--days", type=int, default=30, help="how long it lasts (default 30)")
    q.set_defaults(run=run_token)
    q = ops.add_parser("revoke-tokens", help="revoke every live token of a user")
    q.add_argument("id", metavar="ID")
    q.set_defaults(run=run_revoke_tokens)
    q = ops.add_parser("bootstrap", help="the first administrator of a council with no users")
    q.add_argument("id", metavar="ID")
    q.add_argument("--name", required=True)
    q.set_defaults(run=run_bootstrap)
