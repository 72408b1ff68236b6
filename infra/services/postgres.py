"""Start, stop and status of the local PostgreSQL server (see :mod:`infra.services`).

Guarantees:
- ``postgres_up`` returns only once role ``crm`` (password ``crm``) can log in to database
  ``crm`` over TCP; it is idempotent and serialised by the ``postgres`` lock. When another program
  holds the port it fails at once, naming PostgreSQL and the port, and starts nothing.
- ``postgres_down`` is a no-op when the server is not running, else stops it or raises.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from infra.services.common import (
    HOST,
    READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    ServiceError,
    _locked,
    _refuse_taken,
    _run,
    _tail,
    _wait_until,
    database_url,
    pg_port,
    resolve_state_dir,
)
from infra.services.postgres_cluster import (
    PG_SUPERUSER,
    _as_owner,
    _Pg,
    _pg_bin,
    _pg_bin_if_installed,
    _pg_ensure_installed,
    _pg_init,
    _pg_place,
    _pg_recorded,
    _pg_start,
)

log = logging.getLogger("infra.services")  # one logger for the package, as before the split


_ROLE_SQL = """
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm') THEN
    CREATE ROLE crm LOGIN CREATEDB PASSWORD 'crm';
  ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm' AND rolcanlogin AND rolcreatedb) THEN
    ALTER ROLE crm LOGIN CREATEDB;
  END IF;
END$$;
SELECT 'CREATE DATABASE crm OWNER crm'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'crm') \\gexec
"""


def _pg_ensure_role(pg: _Pg, bin_dir: Path, port: int) -> None:
    """Role ``crm`` (password ``crm``, CREATEDB) owning database ``crm``; read-only if present."""
    cmd = [str(bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]
    cmd += ["-h", str(pg.socket_dir), "-p", str(port), "-U", PG_SUPERUSER]
    _run(_as_owner(cmd), "creating role and database crm", stdin_text=_ROLE_SQL, cwd=pg.root)


def _pg_ready(bin_dir: Path | None) -> bool:
    """True when the ``crm`` role can log in to the ``crm`` database over TCP with its password."""
    if bin_dir is None:
        return False
    cmd = [str(bin_dir / "psql"), "-X", "-tA", "-c", "SELECT 1", database_url()]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    try:
        probe = subprocess.run(cmd, capture_output=True, check=False, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def postgres_up(state_dir: Path | None = None) -> str:
    """Ensures PostgreSQL runs and the ``crm`` role can use database ``crm``; returns its URL."""
    state = resolve_state_dir(state_dir)
    with _locked(state, "postgres"):
        port = pg_port()
        recorded = _pg_recorded(state)
        running = recorded is not None and recorded.running()
        if not running:
            _refuse_taken("PostgreSQL", (port,), "CRM_PG_PORT")
        _pg_ensure_installed()  # before placing the cluster: as root it needs the postgres user
        pg = _pg_place(state)
        bin_dir = _pg_bin(pg)
        if not running:
            _pg_init(pg, bin_dir)
            _pg_start(pg, bin_dir, port)
        _pg_ensure_role(pg, bin_dir, port)
        if not _wait_until(lambda: _pg_ready(bin_dir), READY_TIMEOUT_S, 0.5):
            raise ServiceError(
                f"PostgreSQL runs but {database_url()} refuses logins; "
                f"log {pg.log_file}:\n{_tail(pg.log_file)}"
            )
        return database_url()


def postgres_down(state_dir: Path | None = None) -> None:
    """Stops PostgreSQL (``pg_ctl stop -m fast``, then ``immediate``); no-op if not running."""
    state = resolve_state_dir(state_dir)
    with _locked(state, "postgres"):
        pg = _pg_recorded(state)
        if pg is None or not pg.running():
            return
        bin_dir = _pg_bin(pg)
        log.info("stopping PostgreSQL (pid %s)", pg.pid)
        for mode in ("fast", "immediate"):
            cmd = [str(bin_dir / "pg_ctl"), "stop", "-D", str(pg.data), "-m", mode]
            cmd += ["-w", "-t", str(int(STOP_TIMEOUT_S)), "-s"]
            subprocess.run(_as_owner(cmd), capture_output=True, check=False, cwd=pg.root)
            if not pg.running():
                return
        raise ServiceError(f"PostgreSQL (pid {pg.pid}) did not stop; see {pg.log_file}")


def _postgres_status(state: Path) -> dict[str, object]:
    pg = _pg_recorded(state)
    running = pg is not None and pg.running()
    ready = running and pg is not None and _pg_ready(_pg_bin_if_installed(pg))
    return {
        "running": running,
        "pid": pg.pid if running and pg is not None else None,
        "address": f"{HOST}:{pg_port()}",
        "ready": ready,
        "url": database_url(),
    }
