"""Signing in and out of the staff web: a password gives a bearer token (the API's own sign-in),
kept in an HttpOnly, SameSite=Strict cookie (Secure over https); signing out revokes it.

The sign-in form is itself protected against cross-site posting (login CSRF): the page sets a
random pre-session cookie and the form carries the token derived from it."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from infra.http.auth import (
    SESSION_COOKIE,
    TOKEN_LIFETIME,
    Staff,
    csrf_token,
    runtime_of,
    sign_in_with_password,
    signed_in,
)
from infra.http.web.common import PREFIX, templates

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PRE_SESSION_COOKIE = "crm_signin"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _form(request: Request, message: str | None = None, status: int = 200) -> Response:
    pre = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "who": None,
            "may": frozenset(),
            "csrf": csrf_token(pre),
            "message": message,
            "councils": request.app.state.councils,
        },
        status_code=status,
    )
    _cookie(response, request, PRE_SESSION_COOKIE, pre, 3600)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    return _form(request)


@router.post("/sign-in")
def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token_field: Annotated[str, Form(alias="csrf_token", max_length=128)] = "",
    council: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    pre = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not pre or not hmac.compare_digest(csrf_token_field, csrf_token(pre)):
        return _form(request, "The sign-in form had expired: please sign in again.", 403)
    try:
        token, _ = sign_in_with_password(request, username.strip(), password, council or None)
    except HTTPException as refused:
        return _form(request, str(refused.detail).capitalize() + ".", refused.status_code)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, token, int(TOKEN_LIFETIME.total_seconds()))
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")
    return response


@router.post("/sign-out")
def sign_out(
    request: Request, who: Annotated[Staff, Depends(signed_in("permissions"))]
) -> Response:
    rt = runtime_of(request)
    rt.credentials.revoke_token(who.token, rt.clock())
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
