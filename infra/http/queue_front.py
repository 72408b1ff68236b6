"""The work queue's held answer, given before the framework's routing and dependency solving.

A read of a team's current queue (`GET /api/v1/queue` with nothing but `team`, `officer`,
`limit` and `cursor`, each as the route takes it: `staff_api.plain_queue_read`) whose queue is
held and unchanged is answered here: the route's own caller check (`staff("queue")`'s
`auth.api_caller`: a refusal is the app's own 401 or 403 answer) and the route's own held page
and answer (`staff_api.held_queue_answer`): on PostgreSQL on the event loop, given what one
round trip read ahead there (`auth.looked_first`, `store_look`), else where the check would run
(`auth.where_cheapest`).
Everything else — another path or method, another parameter, a queue that changed, as it
stood in the past, or anything that fails otherwise — goes on to the app, which answers it
as it always has. It sits inside `app.Guard`: the same security headers and access-log line.
"""

from __future__ import annotations

from inspect import isawaitable

from fastapi import HTTPException, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.http import auth, staff_api


class QueueFront:
    """Plain ASGI in front of the app: answers a held queue read, else passes the request on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"] != staff_api.QUEUE_PATH
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        asked = staff_api.plain_queue_read(request.query_params)
        if asked is None:
            await self.app(scope, receive, send)
            return
        try:
            token = auth.bearer_given(await auth.bearer_scheme(request))
            answer = await auth.looked_first(
                request, token, staff_api.held_queue_answer, request, token, asked
            )
        except HTTPException as refused:  # 401, 403: as the app answers them
            handler = request.app.exception_handlers[StarletteHTTPException]
            made = handler(request, refused)
            answer = await made if isawaitable(made) else made
        except Exception:  # noqa: BLE001 - nothing is sent yet: the app answers it, as ever
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        await answer(scope, receive, send)
