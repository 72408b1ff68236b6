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
import json
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from infra.services.common import (
    HOST,
    REPO_ROOT,
    ServiceError,
    database_url,
    environment,
    kafka_bootstrap,
    kafka_port,
    pg_port,
    resolve_state_dir,
)
from infra.services.kafka import _kafka_status, kafka_down, kafka_up
from infra.services.kafka_setup import KAFKA_HOME
from infra.services.postgres import _postgres_status, postgres_down, postgres_up

__all__ = [
    "HOST",
    "KAFKA_HOME",
    "REPO_ROOT",
    "ServiceError",
    "database_url",
    "down",
    "environment",
    "kafka_bootstrap",
    "kafka_down",
    "kafka_port",
    "kafka_up",
    "main",
    "pg_port",
    "postgres_down",
    "postgres_up",
    "resolve_state_dir",
    "status",
    "up",
]


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
