"""The composition root: wires settings, event store, clock and read-model database together."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import sqlalchemy as sa

from infra.credentials import Credentials
from infra.directory import DirectoryApplication, DirectoryPorts, open_directory
from infra.keys import KeyVault
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


def make_engine(url: str, secure_delete: bool = False) -> sa.Engine:
    """An engine with a bounded wait on locks, so a stuck writer shows up as an error. With
    `secure_delete`, SQLite overwrites deleted content instead of leaving it in free pages."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        if secure_delete:
            sa.event.listen(engine, "connect", _secure_delete)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "options": "-c lock_timeout=5000"},
    )


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
    def vault(self) -> KeyVault:
        return KeyVault(make_engine(self.settings.sqlalchemy_url("keys"), secure_delete=True))

    @cached_property
    def write_engine(self) -> sa.Engine:
        return make_engine(self.settings.sqlalchemy_url("write"))

    @cached_property
    def read_engine(self) -> sa.Engine:
        return make_engine(self.settings.sqlalchemy_url("read"))

    @cached_property
    def read_models(self) -> list[ReadModel]:
        """Every read model's tables, defined once per process (defining them is not free)."""
        return registry.build_all()

    @cached_property
    def credentials(self) -> Credentials:
        """Passwords, tokens, API keys: in the key store's database, apart from the events."""
        return Credentials(self.vault.engine)

    @cached_property
    def ports(self) -> StorePorts:
        return StorePorts(
            self.app, self.settings, ReferenceNumbers(self.write_engine), self.clock,
            cache_size=REQUEST_CACHE_SIZE, vault=self.vault, directory=self.directory_ports,
        )

    def close(self) -> None:
        for name in ("write_engine", "read_engine"):
            if name in self.__dict__:
                self.__dict__[name].dispose()
        if "vault" in self.__dict__:
            self.vault.engine.dispose()
        for name in ("app", "directory"):
            if name in self.__dict__:
                self.__dict__[name].close()
