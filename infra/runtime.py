"""The composition root: wires settings, event store, clock and read-model database together."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from infra.alerts import AlertTable
from infra.credentials import Credentials
from infra.directory import DirectoryApplication, DirectoryPorts, HeldUsers, open_directory
from infra.keys import KeyVault
from infra.pg_connections import (  # noqa: F401 - the setting's names, importable here as before
    KEEPALIVES,
    STATEMENT_TIMEOUT_MS,
    STATEMENT_TIMEOUT_VAR,
    statement_timeout_ms,
)
from infra.settings import Settings
from infra.store import (
    Clock,
    CrmApplication,
    ReferenceNumbers,
    StorePorts,
    open_event_store,
    system_clock,
)
from projections import registry
from projections.base import ReadModel

REQUEST_CACHE_SIZE = 2000  # recently saved requests kept per process (see `StorePorts`)


def make_engine(url: str, secure_delete: bool = False, pre_ping: bool = True) -> sa.Engine:
    """An engine with a bounded wait on locks, so a stuck writer shows up as an error. On
    PostgreSQL every connection also has a statement timeout and TCP keepalives, so neither a
    runaway statement nor a half-open connection can hang a process while it looks alive. With
    `secure_delete`, SQLite overwrites deleted content instead of leaving it in free pages.
    Without `pre_ping`, PostgreSQL connections are not pinged at each checkout (a round trip
    saved per use): the caller must handle a connection found dead (`KeyVault` does)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        if secure_delete:
            sa.event.listen(engine, "connect", _secure_delete)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=pre_ping,
        connect_args={
            "connect_timeout": 5,
            **KEEPALIVES,
            "options": f"-c lock_timeout=5000 -c statement_timeout={statement_timeout_ms()}",
        },
    )


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


class Runtime:
    """One process's connections; close it when done."""

    def __init__(
        self, settings: Settings | None = None, clock: Clock = system_clock, **store_env: str
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.clock = clock
        self.store_env = store_env
        self.read_tables_ready = False  # set once this process has made sure they exist
        # the event logs' heads (by log name) this process last saw the views catch up to,
        # and the lock its catch-ups take turns under (`infra.views.read_models_ready`)
        self.views_caught_up: dict[str, int] = {}
        self.catch_up_lock = threading.Lock()

    @cached_property
    def app(self) -> CrmApplication:
        return open_event_store(self.settings, **self.store_env)

    @cached_property
    def directory(self) -> DirectoryApplication:
        return open_directory(self.settings, **self.store_env)

    @cached_property
    def directory_ports(self) -> DirectoryPorts:
        return DirectoryPorts(self.directory, ReferenceNumbers(self.write_engine), self.clock)

    @cached_property
    def held_users(self) -> HeldUsers:
        """The directory as the HTTP sign-in check reads it, request after request (each
        user held while no newer event of theirs is stored)."""
        return HeldUsers(self.directory, ReferenceNumbers(self.write_engine), self.clock)

    @cached_property
    def vault(self) -> KeyVault:
        # On PostgreSQL the key table is in the one database of the event stores, where what
        # is sealed under a new key is then recorded: that commit flushes the key's too.
        # Pinged at checkout like every engine here: after a database restart, a dead pooled
        # connection must not fail a resident's lodgement (a ping costs ~0.1 ms a command).
        return KeyVault(
            make_engine(self.settings.sqlalchemy_url("keys"), secure_delete=True),
            lazy_new_keys=self.settings.database_url is not None,
        )

    @cached_property
    def write_engine(self) -> sa.Engine:
        return make_engine(self.settings.sqlalchemy_url("write"))

    @cached_property
    def read_engine(self) -> sa.Engine:
        return make_engine(self.settings.sqlalchemy_url("read"))

    def stream_engine(self, purpose: str = "read") -> sa.Engine:
        """The engine of the Kafka path's long-running processes (the relays' checkpoints and
        leader locks, the consumer's transactions): on PostgreSQL one whose connections are not
        pinged at each checkout — a round trip saved per read model per batch; a connection
        found dead fails its batch, which they retry as any failure of the database — and
        elsewhere `read_engine` or `write_engine` itself (`purpose`: "read" or "write")."""
        if not self.settings.is_postgres:
            return self.write_engine if purpose == "write" else self.read_engine
        return self._unpinged_engine

    @cached_property
    def _unpinged_engine(self) -> sa.Engine:
        # On PostgreSQL the read models, the relay's checkpoint and the store share a database.
        return make_engine(self.settings.sqlalchemy_url("read"), pre_ping=False)

    @cached_property
    def read_models(self) -> list[ReadModel]:
        """Every read model's tables, defined once per process (defining them is not free)."""
        return registry.build_all()

    @cached_property
    def credentials(self) -> Credentials:
        """Passwords, tokens, API keys: in the key store's database, apart from the events."""
        return Credentials(self.vault.engine)

    @cached_property
    def record_engine(self) -> sa.Engine:
        """Where the record chain lives: the read-model database on PostgreSQL; on SQLite a
        file of its own in write-ahead-log mode without a sync per commit, so chaining after
        a command adds no disk flush (a crash can only lose the chain's newest entries, which
        the follower then chains again from its durable head)."""
        if self.settings.is_postgres:
            return self.read_engine
        engine = make_engine(self.settings.sqlalchemy_url("record"))
        sa.event.listen(engine, "connect", _write_ahead_log)
        return engine

    @cached_property
    def chain_engine(self) -> sa.Engine:
        """The record chain's database as its follower catches up after every command: on
        PostgreSQL connections not pinged at each checkout (a round trip saved per catch-up;
        `record_follower.catch_up` tries again once on a connection found dead), elsewhere
        `record_engine` itself."""
        if self.settings.is_postgres:
            return make_engine(self.settings.sqlalchemy_url("record"), pre_ping=False)
        return self.record_engine

    @cached_property
    def ports(self) -> StorePorts:
        return StorePorts(
            self.app,
            self.settings,
            ReferenceNumbers(self.write_engine),
            self.clock,
            cache_size=REQUEST_CACHE_SIZE,
            vault=self.vault,
            directory=self.directory_ports,
            alerts=self.alerts,
        )

    @cached_property
    def alerts(self) -> AlertTable:
        return AlertTable(self.write_engine)

    def record_logs(self) -> dict[str, Any]:
        """The event logs the record chain covers, by the name it gives each."""
        return {"requests": self.app, "directory": self.directory}

    def close(self) -> None:
        for name in (
            "write_engine",
            "read_engine",
            "record_engine",
            "chain_engine",
            "_unpinged_engine",
        ):
            if name in self.__dict__:
                self.__dict__[name].dispose()
        if "vault" in self.__dict__:
            self.vault.engine.dispose()
        for name in ("app", "directory"):
            if name in self.__dict__:
                self.__dict__[name].close()
