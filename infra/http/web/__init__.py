"""The staff web: server-rendered pages over the same views and command handlers as the API
and the CLI, signed in with a session cookie (see `infra.http.auth.signed_in`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from infra.http.auth import PageError, SignInNeeded
from infra.http.web import actions, live, pages, sign_in
from infra.http.web.common import PREFIX, templates

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Adds the pages, their static files and their error pages to `app`."""
    for module in (sign_in, pages, actions, live):
        app.include_router(module.router)
    app.include_router(actions.desk)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="staff-static")

    async def sign_in_first(request: Request, error: Exception) -> Response:
        if request.method == "GET" and not request.url.path.startswith(f"{PREFIX}/live"):
            return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        return _error(request, 401, str(getattr(error, "detail", error)))

    async def refused(request: Request, error: Exception) -> Response:
        return _error(
            request, getattr(error, "status_code", 403), str(getattr(error, "detail", error))
        )

    app.add_exception_handler(SignInNeeded, sign_in_first)
    app.add_exception_handler(PageError, refused)


def _error(request: Request, status: int, message: str) -> Response:
    return templates.TemplateResponse(
        request,
        "error.html",
        {"who": None, "may": frozenset(), "message": message, "status": status},
        status_code=status,
    )
