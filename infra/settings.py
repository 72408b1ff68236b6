"""The user-facing settings (environment variables), mapped to what each library reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a value the project cannot use."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where the event store, the read models and the broker live."""

    data_dir: Path
    database_url: str | None
    kafka_bootstrap: str | None
    config_dir: Path
    lock_timeout_s: int = 5
    record_key_dir: Path | None = None  # the council keys that sign anchors (`crm record`)

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("CRM_DATABASE_URL") or None
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise SettingsError(
                f"CRM_DATABASE_URL must be a postgresql:// URL (or unset for SQLite), got {url!r}"
            )
        return cls(
            data_dir=Path(env.get("CRM_DATA_DIR") or ".data").resolve(),
            database_url=url,
            kafka_bootstrap=env.get("CRM_KAFKA_BOOTSTRAP") or None,
            config_dir=Path(env.get("CRM_CONFIG_DIR") or PROJECT_ROOT / "config").resolve(),
            record_key_dir=Path(env["CRM_RECORD_KEY_DIR"]).resolve()
            if env.get("CRM_RECORD_KEY_DIR")
            else None,
        )

    @property
    def is_postgres(self) -> bool:
        return self.database_url is not None

    def event_store_env(
        self, sqlite_file: str = "events.sqlite3", log: str | None = None
    ) -> dict[str, str]:
        """The `eventsourcing` library's own settings for this store. On SQLite each store is
        its own file in the data folder (`sqlite_file`); on PostgreSQL each application's
        name pins its own tables in the one database. With `log`, on SQLite the store chains
        the events it stores into that log of the record right after storing them
        (`infra.chaining_recorders`); on PostgreSQL it stores them unchained and the record's
        follower chains them in batches (`consumers.record_follower`: the CLI's catch-up on
        exit, `crm serve`'s and `crm worker`'s thread), which costs a command less there
        (figures in `bench/README.md`, "A follower beside the commands")."""
        chained = {"RECORD_CHAIN_LOG": log} if log and self.database_url is None else {}
        if self.database_url is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if log:
                chained["PERSISTENCE_MODULE"] = "infra.chaining_recorders:ChainingSQLiteFactory"
                chained["RECORD_CHAIN_FILE"] = str(self.data_dir / "record.sqlite3")
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / sqlite_file),
                "SQLITE_LOCK_TIMEOUT": str(self.lock_timeout_s),
            } | chained
        url = urlparse(self.database_url)
        return {
            # the library's factory, its connections guarded by a statement timeout and TCP
            # keepalives like every other connection of ours (`infra.pg_connections`)
            "PERSISTENCE_MODULE": "infra.pg_connections:GuardedPostgresFactory",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or ""),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_s),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            # No ping per pool checkout (a round trip before every read and every write): the
            # library retries a read or an insert that fails on a dead connection (10 attempts,
            # 0.2 s apart; the pool drops a broken connection), which covers a server restart.
            "POSTGRES_PRE_PING": "n",
        } | chained

    def sqlalchemy_url(self, purpose: str) -> str:
        """SQLAlchemy URL for the read models (`purpose="read"`), the write-side tables
        (`"write"`), the data keys (`"keys"`) or the record chain (`"record"`); the last two
        are files of their own on SQLite."""
        if self.database_url is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            name = {
                "write": "events.sqlite3",
                "keys": "keys.sqlite3",
                "record": "record.sqlite3",
            }.get(purpose, "readmodels.sqlite3")
            return f"sqlite:///{self.data_dir / name}"
        rest = self.database_url.split("://", 1)[1]
        return f"postgresql+psycopg2://{rest}"
