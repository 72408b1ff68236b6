"""The dead-letter table of an older release gains the columns per-request isolation needs."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from consumers.dead_letters import ensure_table


def test_an_older_dead_letter_table_gains_the_request_columns(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'read.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, read_model VARCHAR(64) NOT NULL, "
                'topic VARCHAR(249) NOT NULL, "partition" INTEGER NOT NULL, "offset" BIGINT NOT NULL, '
                "reason TEXT NOT NULL, raw BLOB, key BLOB, parked_at DATETIME NOT NULL)"
            )
        )
    ensure_table(engine)
    ensure_table(engine)  # and again: nothing left to add
    columns = {c["name"] for c in sa.inspect(engine).get_columns("dead_letters")}
    assert {"request_id", "version"} <= columns
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("dead_letters")}
    assert "dead_letters_by_request" in indexes
