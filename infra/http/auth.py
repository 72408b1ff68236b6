"""Who is calling: a staff user by bearer token (OAuth2 password flow or `crm users token`), or
an Open311 client by API key. A missing or invalid token is 401; a valid one whose user may not
do the action is 403 — decided by `commands.access.authorize`, the CLI's own check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from commands.access import authorize
from domain.council import Council
from domain.errors import NotPermitted
from domain.permissions import Viewer
from infra.runtime import Runtime

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/token", auto_error=False)
ROLE_HEADER = "X-CRM-Role"


@dataclass(frozen=True)
class Staff:
    """The signed-in staff user, acting in one role they hold, in their council."""

    viewer: Viewer
    council: Council
    token: str


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def staff(action: str) -> Callable[..., Staff]:
    """A dependency: the caller, if their token is valid and their user may do `action`."""

    def dependency(request: Request, token: str | None = Depends(bearer_scheme)) -> Staff:
        if not token:
            raise unauthorized("sign in: no bearer token")
        rt = runtime_of(request)
        who = rt.credentials.bearer(token, rt.clock())
        if who is None:
            raise unauthorized("the token is invalid, expired or revoked: sign in again")
        council = rt.ports.council(who.council)
        role = request.headers.get(ROLE_HEADER) or request.query_params.get("as_role")
        try:
            viewer = authorize(rt.directory_ports, council, who.user_id, role or None, action)
        except NotPermitted as refused:
            raise HTTPException(403, str(refused)) from None
        return Staff(viewer=viewer, council=council, token=token)

    return dependency
