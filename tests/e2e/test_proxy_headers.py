"""`crm serve --proxy-headers [--forwarded-allow-ips IPS]` behind a TLS proxy: a real uvicorn on
loopback, configured as `crm serve` configures it, trusts X-Forwarded-Proto from the allowed
proxies only — then cookies are Secure and Open311's discovery gives https URLs."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import uvicorn

from infra.cli.serve import server_config
from infra.http.app import create_app
from infra.runtime import Runtime
from tests.conftest import make_settings

STARTUP = 30.0
HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@contextmanager
def serving(tmp: Path, *flags: str) -> Iterator[str]:
    """The app on a free loopback port with `crm serve`'s uvicorn settings for `flags`."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    from infra.cli import serve

    serve.register(sub)
    args = parser.parse_args(["serve", *flags])
    rt = Runtime(make_settings(tmp / "data"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = server_config(create_app(rt, ["upper-lachlan"]), args)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, f"uvicorn did not start within {STARTUP} s"
        thread.join(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(STARTUP)
        sock.close()
        rt.close()


def scheme_seen(base: str) -> tuple[str, bool]:
    """The discovery URL's scheme and whether the portal's cookie is Secure."""
    url = requests.get(f"{base}/open311/v2/discovery.json", headers=HTTPS, timeout=30).json()[
        "endpoints"
    ][0]["url"]
    cookie = requests.get(f"{base}/portal", headers=HTTPS, timeout=30).headers["set-cookie"]
    return url.split(":", 1)[0], "Secure" in cookie


def test_behind_a_trusted_proxy_cookies_are_secure_and_urls_https(tmp_path: Path) -> None:
    with serving(tmp_path, "--proxy-headers") as base:
        assert scheme_seen(base) == ("https", True)


def test_without_the_flag_or_from_an_untrusted_address_the_headers_are_ignored(
    tmp_path: Path,
) -> None:
    with serving(tmp_path / "a") as base:
        assert scheme_seen(base) == ("http", False)
    with serving(tmp_path / "b", "--proxy-headers", "--forwarded-allow-ips", "192.0.2.1") as base:
        assert scheme_seen(base) == ("http", False)
