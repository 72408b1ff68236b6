"""Scratch databases on a PostgreSQL server: a fresh database for one test or one bench
measurement, dropped afterwards with every connection left in it ended."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import errors

DROP_ATTEMPTS = 5


def database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name`."""
    return urlunparse(urlparse(server_url)._replace(path=f"/{name}"))


def admin_sql(server_url: str, sql: str) -> None:
    """One statement outside any transaction, on a connection of its own."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.encode())


def create_database(server_url: str, prefix: str) -> str:
    """A new empty database named `prefix` and a random suffix; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin_sql(server_url, f'CREATE DATABASE "{name}"')
    return name


def drop_database(server_url: str, name: str) -> None:
    """Drops `name` if it exists, ending the connections left in it. A forced drop may not end
    a process of the server's own (autovacuum after much writing: not the caller's role to
    end); a plain drop asks the server to end that itself. Tried again while a connection
    reappears between the two."""
    for attempt in range(DROP_ATTEMPTS):
        try:
            admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except errors.InsufficientPrivilege:
            try:
                admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}"')
                return
            except errors.ObjectInUse:
                if attempt == DROP_ATTEMPTS - 1:
                    raise


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A fresh database's URL for the block, the database dropped afterwards."""
    name = create_database(server_url, prefix)
    try:
        yield database_url(server_url, name)
    finally:
        drop_database(server_url, name)
