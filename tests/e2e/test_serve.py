"""`crm serve --demo`, the README's main job, as a user starts it: a real uvicorn on loopback,
demo staff whose printed sign-ins work, demo requests on the queue, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from infra.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(url: str, data: dict[str, str] | None = None, token: str | None = None) -> object:
    body = urllib.parse.urlencode(data).encode() if data else None
    req = urllib.request.Request(url, data=body)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as got:
        return json.loads(got.read())


def test_serve_demo_prints_working_sign_ins_and_serves_the_demo_requests(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["CRM_DATA_DIR"] = str(tmp_path / "data")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "--council",
            "upper-lachlan",
            "serve",
            "--demo",
            "--port",
            str(port),
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:  # blocks until the server says it is up, or exits
            lines.append(line)
            if line.startswith("Ctrl-C stops the server"):
                break
        printed = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in printed, printed
        sign_ins = {
            p[0]: p[1]
            for p in (line.split() for line in lines)
            if len(p) >= 3 and p[0] in ("demo.admin", "cs.officer", "o.smith", "t.lead")
        }
        assert set(sign_ins) == {"demo.admin", "cs.officer", "o.smith", "t.lead"}, printed
        base = f"http://127.0.0.1:{port}"
        token = call(
            f"{base}/api/v1/token", {"username": "o.smith", "password": sign_ins["o.smith"]}
        )
        assert isinstance(token, dict)
        queue = call(f"{base}/api/v1/queue?team=roads", token=token["access_token"])
        assert isinstance(queue, list) and len(queue) >= 2
        assert all(row["reference"].startswith("UL-") for row in queue)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
    assert code == 0
    assert server.stderr is not None
    assert "Traceback" not in server.stderr.read()
