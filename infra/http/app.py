"""The one FastAPI app: its routers, its errors, and what guards every request (a bound on
bodies, rate limits on the public endpoints, security headers, an access log without personal
data or secrets)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands.customers import CustomerNotFound
from commands.errors import (
    AttachmentNotFound,
    ConcurrencyConflict,
    RequestNotFound,
    StaleVersion,
)
from consumers.record_follower import RecordFollower
from domain.errors import DomainError, NotPermitted
from infra.attachments import TamperedFile
from infra.credentials import InProgress
from infra.http import (
    complaints_api,
    customers_api,
    documents_api,
    investigation_api,
    open311,
    operations_api,
    portal,
    staff_api,
    web,
)
from infra.http.error_pages import error_page, is_page
from infra.http.queue_cache import QueueCache
from infra.http.queue_front import QueueFront
from infra.http.store_look import store_look
from infra.runtime import Runtime

log = structlog.get_logger("councilcrm.http")

MAX_BODY = 64 * 1024  # bytes: a request, a note, a form — never more
PUBLIC_PREFIXES = ("/open311/", "/portal", "/api/v1/token", "/staff/sign-in")


def create_app(
    rt: Runtime, councils: Sequence[str], *, public_rate: float = 10.0, public_burst: int = 60
) -> FastAPI:
    """The app serving `councils` (ids) from `rt`. Public endpoints allow each client address
    `public_burst` requests at once and `public_rate` a second after that."""
    if not councils:
        raise ValueError("serve at least one council")
    for council in councils:
        rt.ports.council(council)  # an unknown council fails now, not on the first request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with record_chain_follower(rt), queue_refresher(rt, app.state.queue_cache):
            async with store_look(rt) as look:
                app.state.store_look = look
                try:
                    yield
                finally:
                    app.state.store_look = None

    app = FastAPI(
        lifespan=lifespan,
        title="councilcrm",
        version="1",
        description="Service requests for local councils: Open311 GeoReport v2 for portals "
        "and apps, and the staff API.",
    )
    app.state.runtime = rt
    app.state.councils = list(councils)
    app.state.queue_cache = QueueCache()
    app.state.store_look = None  # while serving, on PostgreSQL: `store_look`
    app.include_router(staff_api.router)
    app.include_router(customers_api.router)
    app.include_router(investigation_api.router)
    app.include_router(documents_api.router)
    app.include_router(complaints_api.router)
    app.include_router(operations_api.router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (touches no store)."""
        return {"status": "ok"}

    app.include_router(open311.router)
    app.include_router(portal.router)
    web.mount(app)
    _errors(app)
    app.add_middleware(QueueFront)  # inside the guard: its headers, limits and log apply
    app.add_middleware(Guard, limiter=RateLimiter(public_rate, public_burst))
    uploads = max(rt.ports.council(c).attachments.max_bytes for c in councils)
    app.add_middleware(BodyLimit, limit=MAX_BODY, uploads=uploads)
    return app


@contextmanager
def record_chain_follower(rt: Runtime) -> Iterator[None]:
    """On the embedded default, keeps the record chain following both event logs while the
    app serves (a thread of its own, like the Kafka path's worker): what is written over HTTP
    is chained within moments, whether or not anyone queries. The Kafka path's worker does it
    there."""
    if rt.settings.kafka_bootstrap is not None:
        yield
        return
    stop = threading.Event()
    follower = RecordFollower(rt.chain_engine, rt.record_logs())
    thread = threading.Thread(target=follower.run, args=(stop,), name="record-chain", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


@contextmanager
def queue_refresher(rt: Runtime, cache: QueueCache) -> Iterator[None]:
    """While the app serves, a thread reads the held work queues again after the store changes
    (`QueueCache.refresh`), off the readers' path."""
    stop = threading.Event()
    thread = threading.Thread(
        target=cache.refresh, args=(rt, stop), name="queue-refresh", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


class Guard:
    """What guards every request: the public endpoints' rate limit (429), the security headers
    on every answer, and one access-log line (the route, the status, the time taken). Plain
    ASGI: an answer's messages pass straight through (no task of their own, no stream between
    tasks, as `@app.middleware("http")` would put them through), whatever their size."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        status = 0

        async def secured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                _secure(MutableHeaders(scope=message), path)
            await send(message)

        if path.startswith(PUBLIC_PREFIXES) and not self.limiter.allow(_client(scope)):
            request = Request(scope, receive)
            response: Response = (
                error_page(
                    request,
                    429,
                    "Too many requests from your address: wait a few seconds, then try again.",
                    {"Retry-After": "1"},
                )
                if is_page(path)
                else JSONResponse(
                    {"detail": "too many requests: slow down"},
                    status_code=429,
                    headers={"Retry-After": "1"},
                )
            )
            await response(scope, receive, secured)
        else:
            await self.app(scope, receive, secured)
        log.info(
            "http_request",
            method=scope["method"],
            path=_route(scope),
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _route(scope: Scope) -> str:
    """The route's template (`/api/v1/requests/{reference}`), not the path: no identifiers of
    residents' requests or tokens in the log."""
    route = scope.get("route")
    return getattr(route, "path", None) or str(scope["path"]).split("?")[0][:100]


def _secure(h: MutableHeaders, path: str) -> None:
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if not path.startswith(("/docs", "/redoc")):  # the interactive docs load their own scripts
        h.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )


def _errors(app: FastAPI) -> None:
    """Each error's status; the staff web and the portal answer it with an HTML page, the
    APIs with JSON."""

    def answer(status: int, **extra: Any) -> Callable[[Request, Exception], Response]:
        def handler(request: Request, error: Exception) -> Response:
            text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            if is_page(request.url.path):
                return error_page(request, status, text)
            return JSONResponse({"detail": " ".join(text.split()), **extra}, status_code=status)

        return handler

    def stale(request: Request, error: Exception) -> Response:
        assert isinstance(error, StaleVersion)
        headers = {"ETag": f'"{error.current}"'}
        if is_page(request.url.path):
            return error_page(request, 412, str(error), headers)
        return JSONResponse(
            {"detail": str(error), "current_version": error.current},
            status_code=412,
            headers=headers,
        )

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if is_page(request.url.path):
            return error_page(
                request, error.status_code, str(error.detail), dict(error.headers or {})
            )
        return await http_exception_handler(request, error)

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        if is_page(request.url.path):
            fields = sorted({_field(e) for e in error.errors() if e.get("loc")})
            return error_page(
                request,
                422,
                "The form was not as expected ("
                + ", ".join(fields)
                + "): go back, check it and send it again.",
            )
        return await request_validation_exception_handler(request, error)

    def failed(request: Request, error: Exception) -> Response:
        log.error("http_failed", path=_route(request.scope), error=type(error).__name__)
        if is_page(request.url.path):
            return error_page(
                request,
                500,
                "Please try again in a moment. If it keeps "
                "happening, tell the council's customer service.",
            )
        return JSONResponse(
            {
                "detail": "an internal error: nothing was changed by this "
                "request unless its answer says so"
            },
            status_code=500,
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, failed)

    app.add_exception_handler(StaleVersion, stale)
    app.add_exception_handler(ConcurrencyConflict, answer(409))
    app.add_exception_handler(InProgress, answer(409))
    app.add_exception_handler(RequestNotFound, answer(404))
    app.add_exception_handler(CustomerNotFound, answer(404))
    app.add_exception_handler(AttachmentNotFound, answer(404))
    app.add_exception_handler(TamperedFile, answer(409))
    app.add_exception_handler(operations_api.RecordNotAnchored, answer(409))
    app.add_exception_handler(NotPermitted, answer(403))
    app.add_exception_handler(DomainError, answer(422))
    app.add_exception_handler(ValueError, answer(400))
    app.add_exception_handler(KeyError, answer(400))


def _field(error: Mapping[str, Any]) -> str:
    """A form field refused, with the rule it broke when a rule says so (a date's span)."""
    name = str(error["loc"][-1])
    if error.get("type") != "value_error":
        return name
    return f"{name}: {str(error.get('msg', '')).removeprefix('Value error, ')}"


class RateLimiter:
    """A token bucket per client address (in this process)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if len(self._buckets) > 100_000:  # many addresses: forget the idle ones
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1, now)
            return True


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, declared or streamed; an upload of an
    attachment (a POST to a path ending `/attachments`) may be up to `uploads` bytes (the
    largest any served council takes: each council's own limit is then its rule, a 422)."""

    def __init__(self, app: ASGIApp, limit: int, uploads: int = 0) -> None:
        self.app, self.base_limit, self.uploads = app, limit, uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("method") == "POST" and str(scope.get("path", "")).endswith(
            documents_api.UPLOAD_PATH_SUFFIX
        )
        limit = max(self.base_limit, self.uploads) if upload else self.base_limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        page = is_page(str(scope.get("path", "")))
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit, page)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, bounded, send)
        except BodyTooLarge:
            await _too_large(send, limit, page)


class BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int, page: bool = False) -> None:
    """413, as JSON, or for a page a plain HTML page (said before the app has the request)."""
    body = f'{{"detail": "the request body is over {limit} bytes"}}'.encode()
    kind = b"application/json"
    if page:
        kind = b"text/html; charset=utf-8"
        body = (
            f'<!doctype html><html lang="en-AU"><head><meta charset="utf-8"><meta '
            f'name="viewport" content="width=device-width, initial-scale=1"><title>Too much '
            f'to send</title></head><body><main><h1>Too much to send</h1><p role="alert">'
            f"What you sent is over {limit // 1024} KiB. Shorten it, go back and send it "
            f"again.</p></main></body></html>"
        ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
