"""Where a PostgreSQL cluster lives, and how it is installed, created, configured and started.

Guarantees:
- The cluster's place is chosen once per state folder and recorded in ``<state>/postgres.path``.
- The cluster is created once (``PG_VERSION`` marks it) and owned by its OS user: ``postgres``
  when we are root, else ourselves.
- Every start rewrites ``councilcrm.conf``, so the port follows ``$CRM_PG_PORT``.
- Failures raise :class:`ServiceError`, with the server log's tail where there is one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.services.common import (
    HOST,
    READY_TIMEOUT_S,
    ServiceError,
    _alive,
    _read_pid,
    _rotate,
    _run,
    _tail,
)

log = logging.getLogger("infra.services")  # one logger for the package, as before the split

PG_SUPERUSER = "postgres"


@dataclass(frozen=True)
class _Pg:
    """Where one cluster lives. ``root`` is owned by the cluster's OS user."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def pid(self) -> int | None:
        return _read_pid(self.data / "postmaster.pid")

    def running(self) -> bool:
        return _alive(self.pid, str(self.data))


def _pg_owner() -> str:
    """The OS user that owns and runs the cluster: ``postgres`` when we are root, else ourselves."""
    return PG_SUPERUSER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _as_owner(cmd: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root, so as root they run as the ``postgres`` user."""
    return ["runuser", "-u", PG_SUPERUSER, "--", *cmd] if os.geteuid() == 0 else cmd


def _installed_pg_bins() -> dict[str, Path]:
    found = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    return {p.parent.parent.name: p.parent for p in found}


def _install_postgresql() -> None:
    """Installs the distribution's PostgreSQL server with apt (root, on a fresh machine)."""
    log.info("PostgreSQL server not installed; installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "postgresql"], "apt-get install postgresql", env=env)


def _pg_bin_if_installed(pg: _Pg) -> Path | None:
    """Binaries of the cluster's major version (``PG_VERSION``), else the newest; None if absent."""
    bins = _installed_pg_bins()
    version_file = pg.data / "PG_VERSION"
    if version_file.exists():
        return bins.get(version_file.read_text().strip())
    if not bins:
        return None
    return bins[max(bins, key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))]


def _pg_ensure_installed() -> None:
    """Installs PostgreSQL when no version of it is (and with it the ``postgres`` user)."""
    if not _installed_pg_bins():
        _install_postgresql()


def _pg_bin(pg: _Pg) -> Path:
    """Like :func:`_pg_bin_if_installed`, installing PostgreSQL first when none is installed."""
    _pg_ensure_installed()
    bin_dir = _pg_bin_if_installed(pg)
    if bin_dir is None:
        raise ServiceError(f"no PostgreSQL binaries for the cluster in {pg.data}")
    return bin_dir


def _owner_can_reach(folder: Path) -> bool:
    """True when the cluster's OS user can traverse every folder down to ``folder``."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(_as_owner(["test", "-x", str(folder)]), capture_output=True, check=False)
    return probe.returncode == 0


def _pg_recorded(state: Path) -> _Pg | None:
    """The cluster's recorded place, or None before the first ``postgres_up``."""
    record = state / "postgres.path"
    return _Pg(Path(record.read_text().strip())) if record.exists() else None


def _pg_place(state: Path) -> _Pg:
    """The cluster's place, chosen once and recorded in ``<state>/postgres.path``."""
    recorded = _pg_recorded(state)
    if recorded is not None:
        return recorded
    root = state / "postgres"
    # A unix socket's path may not exceed 107 bytes.
    too_long = len(str(root / "run" / ".s.PGSQL.65535")) > 100
    if too_long or not _owner_can_reach(state):
        digest = hashlib.sha256(str(state).encode()).hexdigest()[:12]
        root = Path(pwd.getpwnam(_pg_owner()).pw_dir) / "councilcrm" / digest
    (state / "postgres.path").write_text(f"{root}\n")
    return _Pg(root)


def _make_owned_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    owner = pwd.getpwnam(_pg_owner())
    os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(0o700)


def _pg_init(pg: _Pg, bin_dir: Path) -> None:
    """Creates the cluster once; a no-op when ``PG_VERSION`` already exists."""
    if (pg.data / "PG_VERSION").exists():
        return
    for folder in (pg.root, pg.socket_dir):
        _make_owned_dir(folder)
    if pg.data.exists():
        shutil.rmtree(pg.data)  # a half-made cluster from an interrupted initdb
    log.info("initialising PostgreSQL cluster in %s", pg.data)
    # The socket sits in a 0700 folder only the owner (and root) can enter, so trust there is safe;
    # TCP, the only way in for applications, needs a password.
    options = ["-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256"]
    initdb = [str(bin_dir / "initdb"), "-D", str(pg.data), "-U", PG_SUPERUSER, *options]
    _run(_as_owner(initdb), "initdb", cwd=pg.root)
    with open(pg.data / "postgresql.conf", "a") as conf:
        conf.write("\ninclude_if_exists = 'councilcrm.conf'\n")


def _pg_write_conf(pg: _Pg, port: int) -> None:
    """Rewrites the settings we own on every start, so the port follows ``$CRM_PG_PORT``."""
    conf = pg.data / "councilcrm.conf"
    conf.write_text(
        "# Written by infra/services/ on every start.\n"
        f"listen_addresses = '{HOST}'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{pg.socket_dir}'\n"
        "unix_socket_permissions = 0700\n"
        "fsync = on\n"
        "max_connections = 200\n"
    )
    owner = pwd.getpwnam(_pg_owner())
    os.chown(conf, owner.pw_uid, owner.pw_gid)


def _pg_clear_stale_locks(pg: _Pg) -> None:
    """Removes lock files of a postmaster that died unclean (only called when none of ours runs).

    Postgres refuses to start while a lock names a PID that still exists, and a killed postmaster
    can linger as an unreaped zombie; the socket folder is private to this cluster, so its lock and
    socket files can only be ours.
    """
    (pg.data / "postmaster.pid").unlink(missing_ok=True)
    for stale in pg.socket_dir.glob(".s.PGSQL.*"):
        stale.unlink(missing_ok=True)


def _pg_start(pg: _Pg, bin_dir: Path, port: int) -> None:
    """Starts the postmaster detached and waits until it accepts connections."""
    _pg_write_conf(pg, port)
    _pg_clear_stale_locks(pg)
    _rotate(pg.log_file)
    log.info("starting PostgreSQL on %s:%d", HOST, port)
    cmd = [str(bin_dir / "pg_ctl"), "start", "-D", str(pg.data), "-l", str(pg.log_file)]
    cmd += ["-w", "-t", str(int(READY_TIMEOUT_S)), "-s"]
    try:
        _run(_as_owner(cmd), "pg_ctl start", cwd=pg.root, new_session=True)
    except ServiceError as exc:
        raise ServiceError(
            f"PostgreSQL did not start: {exc}; log {pg.log_file}:\n{_tail(pg.log_file)}"
        ) from exc
