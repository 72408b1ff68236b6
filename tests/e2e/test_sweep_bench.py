"""The watchdog's sweep bench runs at a tiny size on both backends, so it cannot rot: the
due-set query fetches exactly the rows the indexed count finds, and the ratio is reported."""

from __future__ import annotations

import re

import pytest

from bench import sweep_bench


def reported(out: str, backend: str) -> re.Match[str] | None:
    return re.search(
        rf"^{backend}\s+500 open,\s+(\d+) due:  due-set query .* ratio\s+[\d.]+x", out, re.MULTILINE
    )


def test_the_sweep_bench_runs_on_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep_bench.main(["--rows", "500", "--backend", "sqlite", "--repeat", "1"]) == 0
    found = reported(capsys.readouterr().out, "sqlite")
    assert found and int(found.group(1)) > 0


@pytest.mark.postgres
def test_the_sweep_bench_runs_on_postgres(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, pg_server_url: str
) -> None:
    monkeypatch.setenv("CRM_TEST_DATABASE_URL", pg_server_url)
    assert sweep_bench.main(["--rows", "500", "--backend", "postgres", "--repeat", "1"]) == 0
    found = reported(capsys.readouterr().out, "postgres")
    assert found and int(found.group(1)) > 0
