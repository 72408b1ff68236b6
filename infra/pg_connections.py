"""What every PostgreSQL connection of the application carries, whichever library opens it.

A statement timeout (`CRM_DB_STATEMENT_TIMEOUT_MS`, 120000 by default) ends a runaway or
blocked statement with an error; TCP keepalives and a TCP user timeout notice a peer gone
silent (a half-open connection) within about 25–30 s. SQLAlchemy engines get them from
`infra.runtime.make_engine`; the event stores (the `eventsourcing` library's own psycopg pool)
from `GuardedPostgresFactory`, which `Settings.event_store_env` names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresFactory

from infra.chaining_recorders import CHAIN_LOG, ChainingPostgresRecorder
from infra.settings import SettingsError

STATEMENT_TIMEOUT_VAR = "CRM_DB_STATEMENT_TIMEOUT_MS"
STATEMENT_TIMEOUT_MS = 120_000
# TCP keepalives: a peer gone silent (a half-open connection) is detected within about
# idle + interval × count = 10 + 5 × 3 = 25 s, and unacknowledged data fails within 30 s.
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def statement_timeout_ms(env: Mapping[str, str] | None = None) -> int:
    """`CRM_DB_STATEMENT_TIMEOUT_MS` (default 120000): the longest one SQL statement may run."""
    raw = (os.environ if env is None else env).get(STATEMENT_TIMEOUT_VAR) or str(
        STATEMENT_TIMEOUT_MS
    )
    if not raw.isdigit() or not 1_000 <= int(raw) <= 86_400_000:
        raise SettingsError(f"{STATEMENT_TIMEOUT_VAR} must be 1000..86400000 ms, got {raw!r}")
    return int(raw)


def guarded(kwargs: dict[str, Any]) -> None:
    """Adds the statement timeout and the keepalives to libpq connection arguments."""
    kwargs.update(KEEPALIVES)
    kwargs["options"] = f"-c statement_timeout={statement_timeout_ms()}"


class GuardedPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, its pool's connections guarded like ours; its
    application recorder chains the events it stores into the record when its settings name
    the log (`infra.chaining_recorders`)."""

    application_recorder_class = ChainingPostgresRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool_kwargs = self.datastore.pool.kwargs
        assert isinstance(pool_kwargs, dict)
        guarded(pool_kwargs)

    def application_recorder(self) -> ApplicationRecorder:
        recorder = super().application_recorder()
        if isinstance(recorder, ChainingPostgresRecorder):
            recorder.chain_log = self.env.get(CHAIN_LOG) or None
        return recorder
