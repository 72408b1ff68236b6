"""The record bench's verification at a tiny scale: given a bulk-written store on SQLite, when
the bench chains and verifies it, then the record verifies whole and each figure is reported
beside both baselines."""

from __future__ import annotations

import re

import pytest

from bench import record_bench


def test_verification_at_scale_reports_both_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    with record_bench.runtime("sqlite") as rt:
        record_bench.verify_at_scale(rt, 3_000, 3)
        logs = rt.record_logs()
        assert (logs["requests"].recorder.max_notification_id() or 0) == 3_000
    out = capsys.readouterr().out
    assert "bulk store: 3,000 events" in out
    rounds = re.findall(
        r"round: raw [\d.]+ s, arithmetic [\d.]+ s, read only: packed batches \(verify's read\) "
        r"[\d.]+ s, read only: plain scan [\d.]+ s, read \+ arithmetic [\d.]+ s, verify [\d.]+ s",
        out,
    )
    assert len(rounds) == 3, out
    for name in (
        "raw",
        "arithmetic",
        r"read only: packed batches \(verify's read\)",
        "read only: plain scan",
        r"read \+ arithmetic",
    ):
        assert re.search(rf"    {name}: [\d,]+ events/s = [\d.]+ \(rounds [\d., ]+\) × raw\n", out)
    assert re.search(
        r"verify: [\d,]+ events/s = [\d.]+ \(rounds [\d.]+, [\d.]+, [\d.]+\) × raw \(aim ≥ 0.5\)",
        out,
    )
    assert re.search(r"verify / \(read \+ arithmetic\) = [\d.]+", out)


def test_verification_with_the_audit_record_reports_it_beside_the_chain_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with record_bench.runtime("sqlite") as rt:
        record_bench.verify_with_audit(rt, 1_500, 3)
    out = capsys.readouterr().out
    assert "1,500 events stored, chained and in the audit record" in out
    assert (
        len(
            re.findall(
                r"round: chain alone [\d.]+ s, chain \+ audit record [\d.]+ s, "
                r"audit comparison alone [\d.]+ s",
                out,
            )
        )
        == 3
    )
    for name in ("chain alone", "chain \\+ audit record", "audit comparison alone"):
        assert re.search(rf"{name} +[\d,]+ events/s", out)
    assert re.search(r"\(chain \+ audit\) / chain alone, in time: median [\d.]+", out)


def test_saturating_commands_report_each_design_against_no_chain_and_leave_all_chained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with record_bench.runtime("sqlite") as rt:
        record_bench.follower_beside(rt, 12, 2, 3)
        stored = {n: a.recorder.max_notification_id() for n, a in rt.record_logs().items()}
        assert stored["requests"] == 4 * 2 * 12  # four variants, two rounds
        assert record_bench._chain_caught_up(rt, rt.record_logs())
    out = capsys.readouterr().out
    assert "12 per variant per round from 3 threads at once, 2 interleaved rounds" in out
    for variant in ("chained by the command", "a follower beside", "a follower, rounds unspaced"):
        assert re.search(
            rf"{variant}: [\d.]+ commands/s; the chain's cost in wall time -?[\d.]+%.*"
            r"chained \d+ ms after the last command.*the follower's own CPU ÷ no chain's CPU "
            r"-?[\d.]+%",
            out,
        )
    # on SQLite the stores chain their own events: only the follower's variants chain rounds
    assert (
        len(re.findall(r"its follower's rounds that chained something: [\d.]+ per second", out))
        == 2
    )
