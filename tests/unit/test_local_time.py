"""Human output shows the council's local time, to the minute; dates stay dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.cli.common import emit_table
from infra.local_time import local_minute


def test_an_instant_reads_in_the_councils_zone_across_the_end_of_daylight_saving() -> None:
    # Sydney: AEDT (UTC+11) until 03:00 on Sunday 5 April 2026, then AEST (UTC+10).
    assert (
        local_minute(datetime(2026, 4, 3, 5, 30, 12, 462472, tzinfo=UTC), "Australia/Sydney")
        == "2026-04-03 16:30 AEDT"
    )
    assert local_minute("2026-04-07T06:30:00+00:00", "Australia/Sydney") == "2026-04-07 16:30 AEST"
    assert local_minute("2026-04-07T06:30:00+00:00", "Australia/Perth") == "2026-04-07 14:30 AWST"


def test_tables_show_instant_columns_locally_and_leave_dates_and_names_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        {
            "reference": "UL-2026-000001",
            "complete_by": "2026-11-30T05:30:00+00:00",
            "review_by": "2026-12-01",
            "taken_by": "jsmith",
        }
    ]

    emit_table(rows, ["reference", "complete_by", "review_by", "taken_by"], "Australia/Sydney")

    out = capsys.readouterr().out
    assert "2026-11-30 16:30 AEDT" in out and "+00:00" not in out
    assert "2026-12-01 " in out and "jsmith" in out
