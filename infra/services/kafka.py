"""Start, stop and status of the local Kafka broker (see :mod:`infra.services`).

Guarantees:
- ``kafka_up`` returns only once the broker answers a metadata request; it is idempotent and
  serialised by the ``kafka`` lock. A broker that dies during start-up fails fast, with its log;
  when another program holds its port (or the controller's) it fails at once and starts nothing.
- ``kafka_down`` stops the broker by its recorded PID (SIGTERM, bounded wait, SIGKILL) and is a
  no-op when it is not running.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kafka import KafkaAdminClient

from infra.services.common import (
    HOST,
    READY_TIMEOUT_S,
    ServiceError,
    _locked,
    _port_open,
    _refuse_taken,
    _rotate,
    _run,
    _tail,
    _terminate,
    _wait_until,
    kafka_bootstrap,
    kafka_port,
    resolve_state_dir,
)
from infra.services.kafka_setup import (
    _java_command,
    _Kafka,
    _kafka_classpath,
    _kafka_format,
    _kafka_properties,
)

log = logging.getLogger("infra.services")  # one logger for the package, as before the split


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
    _refuse_taken("Kafka", (port, port + 1), "CRM_KAFKA_PORT")
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
