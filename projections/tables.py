"""Creating tables when several processes may start at once on one database."""

from __future__ import annotations

import zlib

import sqlalchemy as sa

# one key for every creation of our tables (the event stores' too): rare and quick
CREATING_KEY = zlib.crc32(b"councilcrm.create-tables")
LOCK_STATEMENT = f"SELECT pg_advisory_xact_lock({CREATING_KEY})"


def create_tables(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """`metadata.create_all`, safe when processes start together on one fresh database (a
    server and a worker, say): one of them creates what is missing while holding a lock, and
    the others then find the tables there (two creating the same table at once would fail one
    of them). On PostgreSQL the lock is a transaction-level advisory lock; on SQLite the
    database's write lock, taken at once (`BEGIN IMMEDIATE`: the driver would otherwise look
    for the tables and create them outside any transaction)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(LOCK_STATEMENT))
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        metadata.create_all(conn)
