"""Who is calling: a staff user by bearer token (OAuth2 password flow or `crm users token`), or
an Open311 client by API key. A missing or invalid token is 401; a valid one whose user may not
do the action is 403 — decided by `commands.access.authorize`, the CLI's own check.

The staff web pages carry the same token in a session cookie instead (`signed_in(action)`): the
same checks, and on every unsafe method a CSRF token derived from the session's own token (a
keyed hash only the session's holder can compute), so another site cannot make a signed-in
browser act. The JSON API never reads the cookie."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer

from commands.access import authorize
from domain.aggregates.staff_user import StaffUser, staff_user_id
from domain.council import Council
from domain.errors import NotPermitted
from domain.permissions import Viewer
from infra.held import NotHeld
from infra.http.store_look import Looked, StoreLook
from infra.runtime import Runtime

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/token", auto_error=False)
ROLE_HEADER = "X-CRM-Role"
SESSION_COOKIE = "crm_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_LIFETIME = timedelta(hours=12)
T = TypeVar("T")
log = structlog.get_logger("councilcrm.http")


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


def sign_in_with_password(
    request: Request, username: str, password: str, council_id: str | None
) -> tuple[str, datetime]:
    """A new token (and its expiry) for the user whose password this is; `council_id` names
    the council when the server serves several. 401 says nothing about which part was wrong."""
    rt = runtime_of(request)
    council = _council_for_sign_in(request, council_id)
    user = rt.directory_ports.find(StaffUser, staff_user_id(council, username))
    if not rt.credentials.check_password(council, username, password) or not (user and user.active):
        raise unauthorized("wrong user name or password")
    return rt.credentials.issue_token(council, username, username, rt.clock(), TOKEN_LIFETIME)


def _council_for_sign_in(request: Request, council_id: str | None) -> str:
    served: list[str] = request.app.state.councils
    if council_id:
        if council_id not in served:
            raise unauthorized("wrong user name or password")
        return council_id
    if len(served) != 1:
        raise HTTPException(400, f"name the council as client_id (one of {', '.join(served)})")
    return served[0]


def staff(action: str) -> Callable[..., Awaitable[Staff]]:
    """A dependency: the caller, if their token is valid and their user may do `action`
    (a held token and user: no store read, or one indexed read; where it runs:
    `where_cheapest`)."""

    async def dependency(request: Request, token: str | None = Depends(bearer_scheme)) -> Staff:
        return await where_cheapest(request, api_caller, request, bearer_given(token), action)

    return dependency


def bearer_given(token: str | None) -> str:
    """The bearer token the request carries, or 401."""
    if not token:
        raise unauthorized("sign in: no bearer token")
    return token


def api_caller(request: Request, token: str, action: str, looked: Looked | None = None) -> Staff:
    """The staff API's caller check (`staff(action)`), where it is called: the token's user,
    if the token is valid (else 401) and the user may do `action` (else 403). `looked`: from
    what was read ahead alone (`looked_first`), else `NotHeld`."""
    return _authorized(request, token, action, unauthorized, HTTPException, looked)


async def where_cheapest(request: Request, check: Callable[..., T], *args: Any) -> T:
    """`check(*args)` — a caller check, and what is read with it — where it costs least. On
    SQLite its indexed reads are of local files (microseconds), so it runs on the event loop,
    sparing the request a hop to a worker thread and back. On PostgreSQL each read is a round
    trip to the database server (milliseconds on a busy machine, longer when the pool's
    connections are all taken by commands), during which an event loop would answer nobody:
    there it runs on a worker thread."""
    if runtime_of(request).settings.is_postgres:
        return await run_in_threadpool(check, *args)
    return check(*args)


async def looked_first(request: Request, token: str, check: Callable[..., T], *args: Any) -> T:
    """`check(*args)` where it costs least. On PostgreSQL, first on the event loop, given what
    one round trip read ahead (`store_look`: the token as it stands, its user's last version
    and the change mark) as `looked=`; if that does not cover it (`NotHeld`: a token never
    checked in this process, a user changed since held) or the read fails, `where_cheapest`: the check
    reads the store itself. Either way the same check, as safe."""
    look: StoreLook | None = getattr(request.app.state, "store_look", None)
    if look is not None:
        rt = runtime_of(request)
        try:
            who = rt.credentials.held_bearer(token)
            looked = await look.read(token, staff_user_id(who.council, who.user_id))
            return check(*args, looked=looked)
        except NotHeld:
            pass
        except psycopg.Error as error:  # the database is away: the ordinary way says so
            log.warning("store_look_failed", error=type(error).__name__)
    return await where_cheapest(request, check, *args)


class SignInNeeded(HTTPException):
    """No valid session cookie (401; the web pages send the browser to the sign-in page)."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail)


class PageError(HTTPException):
    """What a web page answers instead: a user without the permission or a form without its
    CSRF token (403), or a page asked for something that is not there (400, 404)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail)


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: an HMAC keyed by the session's secret token."""
    return hmac.new(session_token.encode(), b"councilcrm web form", hashlib.sha256).hexdigest()


def signed_in(action: str) -> Callable[..., Awaitable[Staff]]:
    """As `staff(action)`, for the web pages: the token comes from the session cookie, and an
    unsafe method (a form POST) must carry the session's CSRF token as the form field
    `csrf_token` (or the `X-CSRF-Token` header), else 403 before anything runs."""

    async def dependency(request: Request) -> Staff:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInNeeded("sign in first")
        if request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER)
            if given is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                field = (await request.form()).get(CSRF_FIELD)
                given = field if isinstance(field, str) else None
            if not given or not hmac.compare_digest(given, csrf_token(token)):
                raise PageError(
                    403, "this form has no valid CSRF token: reload the page and try again"
                )
        return await _checked(
            request, token, action, SignInNeeded, lambda _status, detail: PageError(403, detail)
        )

    return dependency


async def _checked(
    request: Request,
    token: str,
    action: str,
    no_session: Callable[[str], HTTPException],
    refused: Callable[[int, str], HTTPException],
) -> Staff:
    """`_authorized`, where it costs least (`where_cheapest`)."""
    return await where_cheapest(request, _authorized, request, token, action, no_session, refused)


def _authorized(
    request: Request,
    token: str,
    action: str,
    no_session: Callable[[str], HTTPException],
    refused: Callable[[int, str], HTTPException],
    looked: Looked | None = None,
) -> Staff:
    """The token's user acting in a role that allows `action` (`as_role` or `X-CRM-Role`
    chooses among their roles), or `no_session` / `refused`. `looked`: with nothing read but
    that (the token's row as read, the user as held at the version read), else `NotHeld`."""
    rt = runtime_of(request)
    who = (
        rt.credentials.bearer(token, rt.clock())
        if looked is None
        else rt.credentials.bearer_as_read(token, looked.token_expires_at, rt.clock())
    )
    if who is None:
        raise no_session("the token is invalid, expired or revoked: sign in again")
    council = rt.ports.council(who.council)
    role = request.headers.get(ROLE_HEADER) or request.query_params.get("as_role")
    users = (
        rt.held_users if looked is None else rt.held_users.as_read(looked.user, looked.user_version)
    )
    try:
        viewer = authorize(users, council, who.user_id, role or None, action)
    except NotPermitted as why:
        raise refused(403, str(why)) from None
    return Staff(viewer=viewer, council=council, token=token)
