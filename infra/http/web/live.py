"""Server-sent events: `GET /staff/live` tells an open page when the data behind it may have
changed, so its script reloads the live part of the page (no reload of the whole page).

The stream checks the views' change mark (`infra.views.change_mark`) every `POLL` seconds and
sends `change` when it moved; a comment line every `KEEP_ALIVE` seconds keeps proxies from
closing it; after `LIFETIME` it ends and the browser's EventSource reconnects (re-checking the
session)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from infra import views
from infra.http.auth import Staff, runtime_of, signed_in
from infra.http.web.common import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
POLL = 1.0  # seconds between looks at the change mark
KEEP_ALIVE = 15.0
LIFETIME = 300.0


@router.get("/live")
async def live(
    request: Request,
    who: Annotated[Staff, Depends(signed_in("queue"))],
    since: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """`since`: the mark the page was drawn at (a change after it and before the stream
    opened is announced at once)."""
    rt = runtime_of(request)

    async def stream() -> AsyncIterator[str]:
        now = await run_in_threadpool(views.change_mark, rt)
        seen = now if since is None else since
        yield f"retry: 2000\nevent: ready\ndata: {seen}\n\n"
        quiet = waited = 0.0
        if now != seen:
            seen = now
            yield f"event: change\ndata: {now}\n\n"
        while waited < LIFETIME and not await request.is_disconnected():
            await asyncio.sleep(POLL)
            waited += POLL
            quiet += POLL
            mark = await run_in_threadpool(views.change_mark, rt)
            if mark != seen:
                seen, quiet = mark, 0.0
                yield f"event: change\ndata: {mark}\n\n"
            elif quiet >= KEEP_ALIVE:
                quiet = 0.0
                yield ": still here\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
