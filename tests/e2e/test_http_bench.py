"""The HTTP bench runs end to end at a tiny size (SQLite, its own server process), so it
cannot rot: every variant at every client count is measured and reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import http_bench
from consumers import follower, operations
from consumers.store_reader import StoreReader
from infra import views
from infra.runtime import Runtime


def test_http_bench_runs_end_to_end_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    tallies = http_bench.main(
        [
            "--backend",
            "sqlite",
            "--requests",
            "12",
            "--reads",
            "4",
            "--seed",
            "200",
            "--open",
            "30",
            "--clients",
            "1,2",
            "--rounds",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert tallies == 0
    assert "seeded 200 requests (" in out and "30 of them on water" in out
    assert re.search(r"answers decoded and checked \(one in \d+\): [1-9]", out), out
    for clients in (1, 2):
        for label in http_bench.LABELS:
            row = re.search(rf"^\s+{clients}\s+{label}\s+([\d,]+)\s", out, re.MULTILINE)
            assert row, (clients, label, out)
            assert int(row.group(1).replace(",", "")) > 0
        assert re.search(
            rf"^\s+{clients} clients: HTTP lodge / in-process \d+\.\d\d", out, re.MULTILINE
        ), out


def test_the_lodgements_are_by_residents_each_with_a_phone_of_their_own() -> None:
    bodies = http_bench.lodge_bodies(500)
    assert len({b["phone"] for b in bodies}) == 500
    assert all(re.fullmatch(r"04\d\d \d{3} \d{3}", b["phone"]) for b in bodies)
    assert {k: v for k, v in bodies[0].items() if k not in ("name", "phone")} == {
        k: v for k, v in http_bench.LODGE_BODY.items() if k not in ("name", "phone")
    }


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_bulk_seed_leaves_every_read_model_equal_to_its_rebuild(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    rt = Runtime(http_bench.settings_for(tmp_path / "data", url))
    try:
        http_bench.staff_token(rt)
        http_bench.seed(rt, 1200, 40)  # three chunks, the last one short
        reader = StoreReader(rt.app)
        assert reader.head() > 1200  # a Lodged each, and a Closed for those not left open
        drifts = operations.verify(reader, rt.read_engine, [m.name for m in rt.read_models])
        assert [d for d in drifts if not d.ok] == []
        with rt.read_engine.connect() as conn:
            assert {m.position(conn, follower.SOURCE) for m in rt.read_models} == {reader.head()}
        assert len(views.queue(rt, rt.ports.council(http_bench.COUNCIL), "water", None)) == 40
    finally:
        rt.close()
