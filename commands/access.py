"""Who is acting, and may they: the one permission check every interface (CLI, HTTP) calls
before it acts or shows anything.

A person acts as an active staff user of the council, in one role they hold; long-running
processes and set-up act as a system actor of their own.
"""

from __future__ import annotations

from commands.ports import Directory
from domain.aggregates.staff_user import StaffUser, staff_user_id
from domain.council import Council
from domain.errors import NotPermitted
from domain.permissions import SYSTEM_ROLE, Viewer
from domain.values import Actor


def system_actor(name: str) -> Actor:
    """The actor a process records on its events, e.g. `system:sla-watchdog`."""
    return Actor(id=f"system:{name}", role=SYSTEM_ROLE)


def authorize(
    directory: Directory, council: Council, user_id: str | None, role: str | None, action: str
) -> Viewer:
    """The acting user, in the role they act in (`role`, else the first of their roles that
    allows `action`), or `NotPermitted` with a one-line reason. Reads only."""
    if not user_id or not user_id.strip():
        raise NotPermitted(
            f"say who is acting (`{action}` needs a staff user): --as USER or CRM_ACTOR"
        )
    user_id = user_id.strip()
    user = directory.find(StaffUser, staff_user_id(council.id, user_id))
    if user is None:
        raise NotPermitted(f"no user {user_id!r} in council {council.id}")
    if not user.active:
        raise NotPermitted(f"user {user_id} is disabled")
    table = council.permissions
    if role is not None and role not in user.roles:
        raise NotPermitted(
            f"user {user_id} does not hold the role {role} (holds: {', '.join(user.roles)})"
        )
    acting = role or next((r for r in user.roles if table.allows(r, action)), None)
    if acting is None or not table.allows(acting, action):
        allowed = [r for r in table.roles if table.allows(r, action)]
        as_what = acting or " or ".join(user.roles)
        raise NotPermitted(
            f"user {user_id} may not run `{action}` as {as_what} "
            f"(roles that may: {', '.join(allowed) or 'none'})"
        )
    return Viewer(
        user_id=user_id, role=acting, roles=frozenset(user.roles), teams=frozenset(user.teams)
    )


def authorize_for_user(
    directory: Directory,
    council: Council,
    user_id: str | None,
    role: str | None,
    target: str,
    action: str,
) -> Viewer:
    """As `authorize`, except that an active user may always act on their own account
    (set their own password, make their own token)."""
    if user_id is not None and user_id.strip() == target:
        user = directory.find(StaffUser, staff_user_id(council.id, target))
        if user is not None and user.active and (role is None or role in user.roles):
            return Viewer(
                user_id=target,
                role=role or user.roles[0],
                roles=frozenset(user.roles),
                teams=frozenset(user.teams),
            )
    return authorize(directory, council, user_id, role, action)
