"""`crm serve` (the HTTP interface, served by uvicorn) and `crm apikeys` (Open311 clients)."""

from __future__ import annotations

import argparse
import secrets
import signal
import socket
from typing import Any

from commands.access import authorize
from domain.aggregates.staff_user import StaffUser, staff_user_id
from domain.values import Channel
from infra.cli.common import authorized, council, emit_json, emit_table, runtime
from infra.cli.demo import DEMO_ADMIN, DEMO_USERS, demo_users, lodge_demo_requests
from infra.config import list_councils
from infra.runtime import Runtime
from infra.views import read_models_ready
from projections import request_summary


def run_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from infra.http.app import create_app

    rt = runtime(args)
    if args.all_councils:
        councils = list_councils(rt.settings.config_dir)
    else:
        councils = [council(args).id]
    sign_ins = _demo(args, rt) if args.demo else []
    app = create_app(rt, councils)
    server = uvicorn.Server(server_config(app, args))
    # bound before the URLs are printed: whoever reads them can connect at once
    listening = _listening(args.host, args.port)
    base = f"http://{args.host}:{args.port}"
    print(
        f"councilcrm serving {', '.join(councils)} at {base}/\n"
        f"  staff web    {base}/staff/queue\n  staff API    {base}/api/v1/ (docs {base}/docs)\n"
        f"  Open311      {base}/open311/v2/discovery.json\n  residents    {base}/portal",
        flush=True,
    )
    if sign_ins:
        print("demo sign-ins (new passwords each start):")
        for user_id, roles, password in sign_ins:
            print(f"  {user_id:11} {password:20} {roles}")
    print("Ctrl-C stops the server.", flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again to the handler it found:
    # this one, so a requested stop exits 0
    signal.signal(signal.SIGTERM, _stopped)
    server.run(sockets=[listening])


def _listening(host: str, port: int) -> socket.socket:
    """The listening socket, made as a TCP socket by name (protocol `IPPROTO_TCP`), so that
    asyncio turns Nagle's algorithm off on each connection it accepts: otherwise an answer's
    body, written after its headers, waits for the client's delayed ACK, ~40 ms a request."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def server_config(app: Any, args: argparse.Namespace) -> Any:
    """uvicorn's settings for `app`. Behind a TLS proxy (`--proxy-headers`), the client's
    address and scheme come from the proxy's `X-Forwarded-For` / `X-Forwarded-Proto`, trusted
    only from `--forwarded-allow-ips` (default the loopback address): cookies are then Secure
    and the URLs the app gives out (Open311's discovery) are https."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        http="httptools",
        loop="uvloop",  # uvicorn's parser and event loop in C (README)
        server_header=False,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips if args.proxy_headers else None,
        timeout_graceful_shutdown=5,
    )  # open live streams of the staff pages end within 5 s


def _stopped(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _demo(args: argparse.Namespace, rt: Runtime) -> list[tuple[str, str, str]]:
    """The demo council's staff (bootstrapped on a council with none), a handful of requests
    when it has none yet, and a fresh password for each demo user: their sign-ins."""
    c = council(args)
    demo_users(args, c, rt)
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        has_requests = request_summary.any_of(conn, request_summary.RequestSummary(), c.id)
    if not has_requests:
        print(f"{c.name}: lodging the demo's requests (invented people)")
        officer = authorize(rt.directory_ports, c, "cs.officer", None, "lodge").actor
        lodge_demo_requests(c, rt, officer)
    sign_ins = []
    for user_id in (DEMO_ADMIN, *(u[0] for u in DEMO_USERS)):
        user = rt.directory_ports.find(StaffUser, staff_user_id(c.id, user_id))
        if user is None or not user.active:
            continue
        password = secrets.token_urlsafe(12)
        rt.credentials.set_password(c.id, user_id, password, "system:demo", rt.clock())
        sign_ins.append((user_id, ", ".join(user.roles), password))
    return sign_ins


def run_apikeys(args: argparse.Namespace) -> None:
    c = council(args)
    who = authorized(args, c, "apikeys")
    rt = runtime(args)
    if args.apikeys_command == "add":
        print(
            rt.credentials.add_api_key(c.id, args.name, args.channel.value, who.user_id, rt.clock())
        )
    elif args.apikeys_command == "revoke":
        rt.credentials.revoke_api_key(c.id, args.name, rt.clock())
        print(f"API key {args.name} revoked")
    else:
        rows = rt.credentials.api_keys(c.id)
        if args.json:
            emit_json(rows)
        else:
            emit_table(rows, ["name", "channel", "created_at", "created_by", "revoked_at"])


def _channel(text: str) -> Channel:
    try:
        return Channel(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown channel {text!r} (one of {', '.join(c.value for c in Channel)})"
        ) from None


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve Open311, the staff API and the staff web over HTTP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--demo",
        action="store_true",
        help="set the council up for a demo: demo staff with fresh passwords, and "
        "a handful of requests when it has none",
    )
    p.add_argument(
        "--all-councils",
        action="store_true",
        help="serve every configured council (Open311's jurisdiction_id chooses)",
    )
    p.add_argument(
        "--proxy-headers",
        action="store_true",
        help="behind a TLS proxy: take the client's address and scheme from "
        "X-Forwarded-For and X-Forwarded-Proto (Secure cookies, https URLs)",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="IPS",
        help="the proxies trusted with those headers: comma-separated addresses "
        "or networks, or * (default 127.0.0.1)",
    )
    p.set_defaults(run=run_serve)
    p = sub.add_parser("apikeys", help="API keys of Open311 clients (administrators)")
    ops = p.add_subparsers(dest="apikeys_command", metavar="APIKEYS_COMMAND", required=True)
    q = ops.add_parser("add", help="a new key, printed once, alone on one line")
    q.add_argument("name", metavar="NAME")
    q.add_argument(
        "--channel",
        type=_channel,
        default=Channel.WEB_PORTAL,
        help="the channel its requests arrive by (default web-portal)",
    )
    q.set_defaults(run=run_apikeys)
    q = ops.add_parser("list", help="the council's API keys (never the keys themselves)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_apikeys)
    q = ops.add_parser("revoke", help="revoke a key by name")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(run=run_apikeys)
