"""The HTTP bench runs end to end at a tiny size (SQLite, its own server process), so it
cannot rot: every variant at every client count is measured and reported."""

from __future__ import annotations

import re

import pytest

from bench import http_bench


def test_http_bench_runs_end_to_end_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    tallies = http_bench.main(
        ["--backend", "sqlite", "--requests", "12", "--reads", "4", "--seed", "200",
         "--open", "30", "--clients", "1,2", "--rounds", "1"])
    out = capsys.readouterr().out
    assert tallies == 0
    assert "seeded 200 requests (" in out and "30 of them on water" in out
    for clients in (1, 2):
        for label in http_bench.LABELS:
            row = re.search(rf"^\s+{clients}\s+{label}\s+([\d,]+)\s", out, re.MULTILINE)
            assert row, (clients, label, out)
            assert int(row.group(1).replace(",", "")) > 0
        assert re.search(rf"^\s+{clients} clients: HTTP lodge / in-process \d+\.\d\d", out,
                         re.MULTILINE), out
