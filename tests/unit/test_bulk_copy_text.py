"""The text COPY is given for each field: what an INSERT through the column's type would store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from projections import bulk
from projections.base import UtcDateTime

DIALECT = postgresql.psycopg2.dialect()  # type: ignore[attr-defined]  # untyped module
TABLE = sa.Table(
    "example",
    sa.MetaData(),
    sa.Column("at", UtcDateTime()),
    sa.Column("text", sa.Text),
    sa.Column("flag", sa.Boolean),
    sa.Column("on", sa.Date),
    sa.Column("n", sa.Integer),
)


def text_of(column: str, value: object) -> str:
    return bulk._field_text(TABLE.c[column], DIALECT)(value)


def test_instants_are_written_in_utc_whatever_zone_they_carry() -> None:
    utc = datetime(2026, 3, 1, 9, 30, 15, 250, tzinfo=UTC)
    assert text_of("at", utc) == "2026-03-01T09:30:15.000250"
    assert (
        text_of("at", utc.astimezone(ZoneInfo("America/New_York"))) == "2026-03-01T09:30:15.000250"
    )
    assert (
        text_of("at", utc.astimezone(timezone(timedelta(hours=10)))) == "2026-03-01T09:30:15.000250"
    )
    assert text_of("at", "2026-03-01T20:30:15+11:00") == "2026-03-01T09:30:15"
    assert text_of("at", None) == "\\N"


def test_other_fields_are_escaped_for_copy() -> None:
    assert text_of("text", "a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert text_of("text", None) == "\\N"
    assert text_of("flag", True) == "t" and text_of("flag", False) == "f"
    assert text_of("on", date(2026, 12, 1)) == "2026-12-01"
    assert text_of("n", 42) == "42"


def test_booleans_take_the_text_their_processor_gives() -> None:
    process = TABLE.c.flag.type.bind_processor(DIALECT)
    assert process is not None
    for value in (True, False, 1, 0):
        assert text_of("flag", value) == bulk._copy_text(process(value)), value
    assert text_of("flag", None) == "\\N"


def test_a_row_is_its_fields_text_joined_by_tabs_a_missing_key_a_null() -> None:
    rows = [
        {
            "at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            "text": "a\tb\\c",
            "flag": True,
            "on": date(2026, 12, 1),
            "n": 42,
        },
        {"at": None, "text": None, "flag": 0, "on": None, "n": None},
        {"text": "plain", "n": -7, "at": "2026-03-01T20:30:15+11:00"},
        {"at": datetime(2026, 3, 1, 20, 30, tzinfo=timezone(timedelta(hours=11))), "n": 1},
        {"at": datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Australia/Sydney")), "n": 2},
        {
            "at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            "text": 5,
            "flag": False,
            "on": date(2026, 1, 2),
            "n": 0,
        },
    ]
    expected = "".join(
        "\t".join(text_of(c.name, row.get(c.name)) for c in TABLE.columns) + "\n" for row in rows
    )
    assert bulk.copy_text(TABLE, rows, DIALECT) == expected
    lines = expected.splitlines()
    assert lines[2] == "2026-03-01T09:30:15\tplain\t\\N\t\\N\t-7"
    assert lines[3].startswith("2026-03-01T09:30:00\t") and lines[0].startswith(lines[3][:20])
    assert lines[4].startswith("2026-02-28T22:30:00\t")
    assert bulk.copy_text(TABLE, [], DIALECT) == ""
