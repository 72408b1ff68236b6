"""Production logs are JSON lines: given threads logging at once, when their lines reach
stderr, then each line is one whole JSON object (a log shipper reads them line by line)."""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import pytest

from infra import logs


def test_lines_logged_by_threads_at_once_never_share_a_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a stream made as Python makes stderr when it is a file: each write goes straight to the
    # file, and the interpreter lets other threads run while it does
    raw = open(tmp_path / "stderr.log", "wb", buffering=0)  # noqa: SIM115 - closed below
    stream = io.TextIOWrapper(raw, encoding="utf-8", line_buffering=True, write_through=True)
    monkeypatch.setattr(sys, "stderr", stream)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        logs.configure("INFO")
        log = logs.get("test")
        start = threading.Barrier(8)

        def speak(n: int) -> None:
            start.wait()
            for i in range(300):
                log.info("relay_started", topic=f"topic-{n}", i=i)

        threads = [threading.Thread(target=speak, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
        logs.configure()
        stream.close()
    lines = (tmp_path / "stderr.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 * 300
    assert all(json.loads(line)["event"] == "relay_started" for line in lines)
