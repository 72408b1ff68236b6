"""The pipeline bench runs at a tiny size on the real servers, so it cannot rot: the drain
beside its baselines, and the lag run with every process's CPU (the servers' included when
this checkout started them)."""

from __future__ import annotations

import re

import pytest

from bench import pipeline_bench
from infra import services
from infra.services.common import HOST

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_the_pipeline_bench_runs_its_drain_and_lag_at_a_tiny_size(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pg_server_url: str,
    kafka_bootstrap: str,
) -> None:
    monkeypatch.setenv("CRM_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    code = pipeline_bench.main(
        [
            "--only",
            "drain,lag",
            "--requests",
            "30",
            "--rounds",
            "1",
            "--rate",
            "30",
            "--seconds",
            "1",
            "--open-requests",
            "14",
            "--offer-threads",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"pipeline / slower baseline \d+\.\d\d \(aim ≥ 0\.80\)", out), out
    assert re.search(r"issued 30 in [\d.]+ s", out), out
    assert re.search(r"commit → visible in work_queue: p50 \d+ ms, p99 \d+ ms", out), out
    assert re.search(r"CPU per command of .*consume [\d.]+ ms.*relay [\d.]+ ms", out), out
    assert re.search(r"median p99 of 1 rounds: \d+ ms \(aim < 500 ms\)", out), out
    ours = {
        name
        for name, state in services.status().items()
        if state.get("running")
        and str(state.get("address", "")).startswith(HOST)
        and str(state["address"]) in pg_server_url + kafka_bootstrap
    }
    for name in ours:  # the servers this checkout runs are measured too
        assert re.search(rf"{name} server [\d.]+ ms", out), (name, out)
