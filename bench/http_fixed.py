"""A bare HTTP server answering every request with one fixed JSON body of a given size: the floor
under the staff API bench's large answers (the whole work queue in one page).

``python -m bench.http_fixed --port P --size BYTES`` serves, on 127.0.0.1, a plain ASGI app under
uvicorn with the settings `crm serve` uses (its C parser and event loop, no access log, a TCP
listening socket so that Nagle's algorithm is off on each connection). The app does nothing but
send the same ready bytes with their `Content-Length`: no routing, no middleware, no check of the
caller, no store. What a request costs here is what this machine charges for any answer of that
size over loopback, in one process, to the same load generator."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

import uvicorn


def body_of(size: int) -> bytes:
    """A JSON list of one string, `size` bytes in all (at least 4)."""
    return json.dumps(["x" * max(size - 4, 0)]).encode()


def app_for(body: bytes) -> Any:
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    answer = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: nothing to start or stop
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send(start)
        await send(answer)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_fixed")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True, help="the body's size in bytes")
    args = parser.parse_args(argv)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", args.port))
    listening.listen(socket.SOMAXCONN)
    config = uvicorn.Config(
        app_for(body_of(args.size)),
        log_config=None,
        access_log=False,
        http="httptools",
        loop="uvloop",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[listening])
    return 0


if __name__ == "__main__":
    sys.exit(main())
