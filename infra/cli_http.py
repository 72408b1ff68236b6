"""`crm serve` (the HTTP interface, served by uvicorn) and `crm apikeys` (Open311 clients)."""

from __future__ import annotations

import argparse
from typing import Any

from domain.values import Channel
from infra.cli_common import authorized, council, emit_json, emit_table, runtime
from infra.config import list_councils


def run_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from infra.http.app import create_app

    rt = runtime(args)
    if args.all_councils:
        councils = list_councils(rt.settings.config_dir)
    else:
        councils = [council(args).id]
    app = create_app(rt, councils)
    base = f"http://{args.host}:{args.port}"
    print(f"councilcrm serving {', '.join(councils)} at {base}/ "
          f"(API docs {base}/docs, Open311 {base}/open311/v2/discovery.json)", flush=True)
    # open live streams (the staff pages' server-sent events) end within 5 s of a stop
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False,
                server_header=False, proxy_headers=False, timeout_graceful_shutdown=5)


def run_apikeys(args: argparse.Namespace) -> None:
    c = council(args)
    who = authorized(args, c, "apikeys")
    rt = runtime(args)
    if args.apikeys_command == "add":
        print(rt.credentials.add_api_key(c.id, args.name, args.channel.value, who.user_id,
                                         rt.clock()))
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
    p.add_argument("--all-councils", action="store_true",
                   help="serve every configured council (Open311's jurisdiction_id chooses)")
    p.set_defaults(run=run_serve)
    p = sub.add_parser("apikeys", help="API keys of Open311 clients (administrators)")
    ops = p.add_subparsers(dest="apikeys_command", metavar="APIKEYS_COMMAND", required=True)
    q = ops.add_parser("add", help="a new key, printed once, alone on one line")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--channel", type=_channel, default=Channel.WEB_PORTAL,
                   help="the channel its requests arrive by (default web-portal)")
    q.set_defaults(run=run_apikeys)
    q = ops.add_parser("list", help="the council's API keys (never the keys themselves)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_apikeys)
    q = ops.add_parser("revoke", help="revoke a key by name")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(run=run_apikeys)
