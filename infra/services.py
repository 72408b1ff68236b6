"""Local PostgreSQL and Apache Kafka servers that the project starts and stops itself (no Docker).

Guarantees:
- Both servers listen on 127.0.0.1 only: PostgreSQL on ``$CRM_PG_PORT`` (55432), Kafka on
  ``$CRM_KAFKA_PORT`` (59092) with its KRaft controller on the next port.
- Every call is idempotent and serialised per service by a file lock: ``up`` on a running, ready
  server only returns its addresses; ``down`` on a stopped one does nothing; stale PID files are
  ignored and replaced.
- A restart reuses the same data folders and ports, so stopped-and-started servers keep their data.
- All state lives in one folder: the ``state_dir`` argument, else ``$CRM_SERVICES_DIR``, else
  ``<repo>/.services``. The PostgreSQL cluster goes in ``<state>/postgres`` when the ``postgres``
  user can traverse the path to it, otherwise under that user's home directory; the choice is
  recorded in ``<state>/postgres.path`` so restarts reuse it.
- Failures raise :class:`ServiceError` with a message that says what failed and where its log is.

Command line: ``python -m infra.services up|down|status [postgres|kafka]``.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_HOME = Path(__file__).resolve().parent / "kafka"
KAFKA_LIB = KAFKA_HOME / "target" / "lib"
PG_SUPERUSER = "postgres"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
LOG_ROTATE_BYTES = 10 * 1024 * 1024
KAFKA_JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


class ServiceError(RuntimeError):
    """A local server could not be started, checked or stopped; the message says why."""


# ----------------------------------------------------------------------------------------- settings


def resolve_state_dir(state_dir: Path | None = None) -> Path:
    """The absolute state folder (argument, ``$CRM_SERVICES_DIR``, ``<repo>/.services``)."""
    folder = Path(state_dir or os.environ.get("CRM_SERVICES_DIR") or REPO_ROOT / ".services")
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 1024 <= int(raw) <= 65534:
        raise ServiceError(f"{name}={raw!r} is not a usable TCP port (1024-65534)")
    return int(raw)


def pg_port() -> int:
    """PostgreSQL's TCP port: ``$CRM_PG_PORT`` or 55432."""
    return _env_port("CRM_PG_PORT", 55432)


def kafka_port() -> int:
    """Kafka's client port: ``$CRM_KAFKA_PORT`` or 59092; the controller uses the next port."""
    return _env_port("CRM_KAFKA_PORT", 59092)


def database_url() -> str:
    """The URL of the ``crm`` database as the ``crm`` role sees it."""
    return f"postgresql://crm:crm@{HOST}:{pg_port()}/crm"


def kafka_bootstrap() -> str:
    """The broker's bootstrap address."""
    return f"{HOST}:{kafka_port()}"


def environment() -> dict[str, str]:
    """The variables the application reads to find both servers."""
    return {"CRM_DATABASE_URL": database_url(), "CRM_KAFKA_BOOTSTRAP": kafka_bootstrap()}


# ---------------------------------------------------------------------------------- process helpers


def _alive(pid: int | None, marker: str) -> bool:
    """True when ``pid`` is a live, non-zombie process whose command line contains ``marker``."""
    if not pid:
        return False
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our own exited child
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def _wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    """Polls ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _refuse_taken(ports: tuple[int, ...], variable: str) -> None:
    """Raises if another process already listens on one of ``ports`` (ours would fail to bind)."""
    for port in ports:
        if _port_open(port):
            raise ServiceError(f"port {HOST}:{port} is taken by another process; set {variable}")


def _terminate(pid: int, gone: Callable[[], bool], name: str) -> None:
    """SIGTERM, a bounded wait, then SIGKILL; returns once ``gone()`` holds."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
        with suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait_until(gone, wait_s):
            return
        log.warning("%s (pid %d) still alive %.0f s after %s", name, pid, wait_s, sig.name)
    raise ServiceError(f"{name} (pid {pid}) survived SIGKILL")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text)


def _rotate(path: Path) -> None:
    """Keeps a log file bounded across starts: one previous generation, renamed to ``.1``."""
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def _run(
    cmd: list[str],
    what: str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin_text: str | None = None,
    new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Runs ``cmd`` to completion; on failure raises ServiceError naming ``what``, with output."""
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=False,
            cwd=cwd,
            env=env,
            input=stdin_text,
            start_new_session=new_session,
        )
    except OSError as exc:
        raise ServiceError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-3000:]
        raise ServiceError(f"{what} failed (exit {done.returncode}): {output}")
    return done


@contextmanager
def _locked(state: Path, name: str) -> Iterator[None]:
    """Serialises start/stop of one service across threads and processes."""
    with open(state / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------- PostgreSQL


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


def _pg_bin(pg: _Pg) -> Path:
    """Like :func:`_pg_bin_if_installed`, installing PostgreSQL first when none is installed."""
    if not _installed_pg_bins():
        _install_postgresql()
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
        "# Written by infra/services.py on every start.\n"
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
        raise ServiceError(f"{exc}; log {pg.log_file}:\n{_tail(pg.log_file)}") from exc


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
        pg = _pg_place(state)
        bin_dir = _pg_bin(pg)
        port = pg_port()
        if not pg.running():
            _refuse_taken((port,), "CRM_PG_PORT")
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


# -------------------------------------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class _Kafka:
    """Where the broker keeps its configuration, data, logs and PID."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def out_file(self) -> Path:
        return self.root / "kafka.out"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def format_record(self) -> Path:
        return self.root / "formatted.json"

    @property
    def pid(self) -> int | None:
        return _read_pid(self.pid_file)

    def running(self) -> bool:
        return _alive(self.pid, str(self.properties))


def _kafka_classpath() -> Path:
    """The broker's jars, fetched by Maven into a scratch folder then renamed (never half there)."""
    if any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        return KAFKA_LIB
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Kafka's jars are missing and Maven (mvn) is not installed")
    scratch = KAFKA_LIB.with_name("lib.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    log.info("fetching Kafka's jars with Maven into %s", KAFKA_LIB)
    pom = str(KAFKA_HOME / "pom.xml")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        pom,
        "package",
        f"-Dkafka.lib.dir={scratch}",
    ]
    _run(cmd, "mvn package (Kafka classpath)")
    shutil.rmtree(KAFKA_LIB, ignore_errors=True)
    scratch.rename(KAFKA_LIB)
    return KAFKA_LIB


def _java_command(k: _Kafka, main_class: str, *args: str) -> list[str]:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise ServiceError("java is not installed (Kafka needs Java 17+)")
    logging_opts = [
        f"-Dlog4j2.configurationFile={KAFKA_HOME / 'log4j2.yaml'}",
        f"-Dkafka.logs.dir={k.logs}",
    ]
    return [
        java,
        *KAFKA_JVM_OPTS,
        *logging_opts,
        "-cp",
        f"{_kafka_classpath()}/*",
        main_class,
        *args,
    ]


def _kafka_properties(k: _Kafka, port: int) -> str:
    """Single-node combined broker+controller (KRaft), loopback only, replication 1 everywhere."""
    ctl = f"{HOST}:{port + 1}"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": ctl,
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{ctl}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{ctl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(k.data),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
    }
    return "# Written by infra/services.py on every start.\n" + "".join(
        f"{key}={value}\n" for key, value in settings.items()
    )


def _new_cluster_id() -> str:
    """A Kafka Uuid string: URL-safe base64 of 16 random bytes, unpadded, not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _kafka_format(k: _Kafka, port: int) -> None:
    """Formats the data folder once; refuses one formatted for other ports (KRaft stores them)."""
    if (k.data / "meta.properties").exists():
        recorded = json.loads(k.format_record.read_text()) if k.format_record.exists() else {}
        if recorded.get("port", port) != port:
            raise ServiceError(
                f"Kafka data in {k.data} was formatted for port {recorded['port']}; "
                f"set CRM_KAFKA_PORT={recorded['port']} or delete {k.root}"
            )
        return
    cluster_id = _new_cluster_id()
    log.info("formatting Kafka storage in %s (cluster %s)", k.data, cluster_id)
    args = ["format", "--standalone", "-t", cluster_id, "-c", str(k.properties)]
    _run(_java_command(k, "kafka.tools.StorageTool", *args), "Kafka storage format")
    k.format_record.write_text(json.dumps({"cluster_id": cluster_id, "port": port}) + "\n")


def _kafka_spawn(k: _Kafka) -> int:
    """Starts the broker in its own session, orphaned at once (never our child); returns its PID."""
    _rotate(k.out_file)
    launcher = '"$@" </dev/null >>"$KAFKA_OUT" 2>&1 & echo $!'
    done = _run(
        ["sh", "-c", launcher, "sh", *_java_command(k, "kafka.Kafka", str(k.properties))],
        "launching the Kafka broker",
        cwd=k.root,
        new_session=True,
        env={**os.environ, "KAFKA_OUT": str(k.out_file)},
    )
    pid = int(done.stdout.strip())
    k.pid_file.write_text(f"{pid}\n")
    return pid


def _kafka_metadata_ok(port: int, timeout_s: float = 10.0) -> bool:
    """True when a metadata request to the broker succeeds (an open port alone is not enough)."""
    if not _port_open(port):
        return False
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{HOST}:{port}",
            client_id="councilcrm-probe",
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
        )
        admin.list_topics()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        if admin is not None:
            admin.close()


def _kafka_wait_ready(k: _Kafka, port: int) -> None:
    """Waits (bounded) for a metadata answer; fails fast, with the log tail, if the broker dies."""

    def ready() -> bool:
        if not k.running():
            raise ServiceError(
                f"Kafka broker exited during start-up; {k.logs / 'server.log'}:\n"
                f"{_tail(k.logs / 'server.log')}\n{k.out_file}:\n{_tail(k.out_file)}"
            )
        return _kafka_metadata_ok(port, timeout_s=5.0)

    if not _wait_until(ready, READY_TIMEOUT_S, 0.5):
        raise ServiceError(
            f"Kafka broker (pid {k.pid}) not ready after {READY_TIMEOUT_S:.0f} s; "
            f"{k.logs / 'server.log'}:\n{_tail(k.logs / 'server.log')}"
        )


def _kafka_start(k: _Kafka, port: int) -> None:
    """Writes the configuration, fetches the jars and formats storage as needed, then launches."""
    _refuse_taken((port, port + 1), "CRM_KAFKA_PORT")
    for folder in (k.root, k.data, k.logs):
        folder.mkdir(parents=True, exist_ok=True)
    k.properties.write_text(_kafka_properties(k, port))
    _kafka_classpath()
    _kafka_format(k, port)
    pid = _kafka_spawn(k)
    log.info("started Kafka on %s:%d (controller %d), pid %d", HOST, port, port + 1, pid)


def kafka_up(state_dir: Path | None = None) -> str:
    """Ensures the broker runs and answers metadata requests; returns its bootstrap address."""
    state = resolve_state_dir(state_dir)
    with _locked(state, "kafka"):
        k = _Kafka(state / "kafka")
        port = kafka_port()
        if not k.running():
            _kafka_start(k, port)
        _kafka_wait_ready(k, port)
        return kafka_bootstrap()


def kafka_down(state_dir: Path | None = None) -> None:
    """Stops the broker by its recorded PID: SIGTERM, bounded wait, SIGKILL; no-op if stopped."""
    state = resolve_state_dir(state_dir)
    with _locked(state, "kafka"):
        k = _Kafka(state / "kafka")
        pid = k.pid
        if pid is not None and k.running():
            log.info("stopping Kafka (pid %d)", pid)
            _terminate(pid, lambda: not k.running(), "Kafka")
        k.pid_file.unlink(missing_ok=True)


def _kafka_status(state: Path) -> dict[str, object]:
    k = _Kafka(state / "kafka")
    running = k.running()
    return {
        "running": running,
        "pid": k.pid if running else None,
        "address": kafka_bootstrap(),
        "ready": running and _kafka_metadata_ok(kafka_port(), timeout_s=5.0),
    }


# ----------------------------------------------------------------------------------------- both/CLI


def up(state_dir: Path | None = None) -> dict[str, str]:
    """Ensures both servers run and are ready; returns CRM_DATABASE_URL and CRM_KAFKA_BOOTSTRAP."""
    postgres_up(state_dir)
    kafka_up(state_dir)
    return environment()


def down(state_dir: Path | None = None) -> None:
    """Stops both servers; a no-op for any that is not running."""
    kafka_down(state_dir)
    postgres_down(state_dir)


def status(state_dir: Path | None = None) -> dict[str, dict[str, object]]:
    """Per service: running, pid, address, ready (a real login / metadata request)."""
    state = resolve_state_dir(state_dir)
    return {"postgres": _postgres_status(state), "kafka": _kafka_status(state)}


_SERVICE_OF_VAR = {"CRM_DATABASE_URL": "postgres", "CRM_KAFKA_BOOTSTRAP": "kafka"}


def main(argv: list[str] | None = None) -> int:
    """``up`` prints ``export`` lines for a shell, ``status`` JSON, ``down`` nothing."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.services", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("service", nargs="?", choices=("all", "postgres", "kafka"), default="all")
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    actions: dict[tuple[str, str], Callable[[Path | None], object]] = {
        ("up", "all"): up,
        ("up", "postgres"): postgres_up,
        ("up", "kafka"): kafka_up,
        ("down", "all"): down,
        ("down", "postgres"): postgres_down,
        ("down", "kafka"): kafka_down,
    }
    try:
        if args.command == "status":
            print(json.dumps(status(args.state_dir), indent=2))
            return 0
        actions[(args.command, args.service)](args.state_dir)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "up":
        for name, value in environment().items():
            if args.service == "all" or _SERVICE_OF_VAR[name] == args.service:
                print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
