"""What both servers share: addresses, the state folder, and process/lock helpers.

Guarantees:
- ``HOST`` is loopback; ports come from ``$CRM_PG_PORT`` / ``$CRM_KAFKA_PORT`` (defaults 55432 and
  59092) and a value outside 1024-65534 raises :class:`ServiceError`.
- :func:`resolve_state_dir` always returns an existing absolute folder.
- :func:`_locked` serialises one service's start/stop across threads and processes.
- :func:`_refuse_taken` fails at once, naming the server, when another program holds its port.
- :func:`_run` either returns a finished, successful process or raises :class:`ServiceError`
  naming what failed, with its output.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger("infra.services")  # one logger for the package, as before the split

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
LOG_ROTATE_BYTES = 10 * 1024 * 1024


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


def _port_taken(port: int) -> bool:
    """True when ``HOST:port`` cannot be bound as a server binds it: another program holds it,
    listening or not (a port merely in TIME_WAIT counts as free, as it does for the servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def _refuse_taken(server: str, ports: tuple[int, ...], variable: str) -> None:
    """Raises, naming ``server``, if another program holds one of ``ports`` (ours could not bind)."""
    for port in ports:
        if _port_taken(port):
            raise ServiceError(
                f"{server} cannot start: {HOST}:{port} is already in use by another program; "
                f"stop that program or set {variable} to a free port"
            )


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
