"""Errors as people read them: the staff web and the residents' portal answer an error with an
HTML page in their own look (the status, what went wrong in one sentence, where to go next);
the APIs (the staff API, Open311) keep their JSON and XML. A page never shows a stack trace."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from infra.http.web.common import PREFIX
from infra.http.web.common import templates as staff_templates

portal_templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# what a page's error is called, for its heading and <title>
TITLES = {
    400: "Something is wrong with that request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not found",
    409: "Changed meanwhile",
    412: "Changed meanwhile",
    413: "Too much to send",
    422: "Something is wrong with that request",
    429: "Too many requests",
    500: "Something went wrong on our side",
}
# what is not a page, under the pages' prefixes: files, and the live event streams
NOT_PAGES = (f"{PREFIX}/static", f"{PREFIX}/live", "/portal/portal.css")


def is_page(path: str) -> bool:
    """Whether `path` belongs to the staff web or the portal (HTML errors), not an API."""
    return (path == PREFIX or path.startswith((f"{PREFIX}/", "/portal"))) and not (
        path.startswith(NOT_PAGES)
    )


def error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The error page of the part of the site `request` was for."""
    title = TITLES.get(status, TITLES[500] if status >= 500 else TITLES[400])
    message = " ".join(message.split()) or title
    if request.url.path.startswith("/portal"):
        response: HTMLResponse = portal_templates.TemplateResponse(
            request,
            "portal/error.html",
            {
                "council": _portal_council(request),
                "page": "error",
                "query": "",
                "problems": [],
                "status": status,
                "title": title,
                "message": message,
            },
            status_code=status,
            headers=headers,
        )
    else:
        response = staff_templates.TemplateResponse(
            request,
            "error.html",
            {"who": None, "may": frozenset(), "message": message, "status": status, "title": title},
            status_code=status,
            headers=headers,
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def _portal_council(request: Request) -> object:
    """The council the portal serves (its name heads the page), if one is plain."""
    served: list[str] = request.app.state.councils
    wanted = request.query_params.get("jurisdiction_id") or (served[0] if len(served) == 1 else "")
    if wanted in served:
        return request.app.state.runtime.ports.council(wanted)
    return SimpleNamespace(name="Residents' portal")
