"""What the pages share: the templates, the signed-in user's menu, and how instants read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from commands.access import authorize
from domain.errors import NotPermitted
from domain.permissions import Viewer
from infra.http.auth import Staff, csrf_token, runtime_of

PREFIX = "/staff"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

SLA_WORDS = {
    "breached": "Breached",
    "at-risk": "At risk",
    "paused": "Paused",
    "on-track": "On track",
    "closed": "Closed",
    None: "No target",
}


def may(who: Staff) -> frozenset[str]:
    """Every action the user may do in any of their roles (a form posts in the first role
    that allows its action, as the CLI chooses without --role)."""
    table = who.council.permissions
    return frozenset(a for r in who.viewer.roles for a in table.by_role.get(r, ()))


def viewer_for(request: Request, who: Staff, action: str) -> Viewer | None:
    """The user acting in the role that allows `action`, or None if none of theirs does."""
    rt = runtime_of(request)
    try:
        return authorize(rt.directory_ports, who.council, who.viewer.user_id, None, action)
    except NotPermitted:
        return None


def render(
    request: Request, who: Staff, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(
        request,
        name,
        {"who": who, "may": may(who), "csrf": csrf_token(who.token), "prefix": PREFIX, **context},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"  # pages hold residents' details
    return response


def local_time(value: str | datetime | None, zone: str) -> str:
    """An instant as the council's people read it: 'Mon 2 Mar 2026, 10:00'."""
    if not value:
        return "—"
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %-d %b %Y, %H:%M")


def plain_value(value: Any) -> str:
    """A timeline field's value as one line of text."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain_value(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list):
        return ", ".join(plain_value(v) for v in value)
    return "—" if value is None else str(value)


templates.env.filters["local_time"] = local_time
templates.env.filters["plain"] = plain_value
templates.env.globals["SLA_WORDS"] = SLA_WORDS
templates.env.globals["PREFIX"] = PREFIX
