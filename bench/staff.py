"""The staff users a benchmark's commands need: a request is assigned only to an active user of
the council who may work it, so each bench that assigns gives its council that officer."""

from __future__ import annotations

from commands import users
from domain.values import Actor
from infra.runtime import Runtime

BENCH_ADMIN = "bench.admin"
OFFICER_ID = "o.smith"


def add_officer(rt: Runtime, council: str, user_id: str = OFFICER_ID) -> None:
    """Adds `user_id` as an officer of the council's `roads` team (bootstrapping an
    administrator first if the council has no user); nothing if the user exists."""
    c = rt.ports.council(council)
    known = {u.user_id: u for u in users.list_users(rt.directory_ports, council)}
    if user_id in known:
        return
    admin = next((u.user_id for u in known.values() if "administrator" in u.roles), None)
    if admin is None:
        admin = BENCH_ADMIN
        users.bootstrap_administrator(
            users.BootstrapAdministrator(council=council, user_id=admin, name="Bench admin"),
            rt.directory_ports,
            c,
        )
    users.add_user(
        users.AddUser(
            council=council,
            user_id=user_id,
            name="Bench officer",
            roles=("officer",),
            teams=("roads",) if "roads" in c.teams else (),
            actor=Actor(id=admin, role="administrator"),
        ),
        rt.directory_ports,
        c,
    )
