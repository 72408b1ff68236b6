"""What the project's servers do without starting anything: refuse a port another program holds,
naming the server, and treat stale PID files as stopped. No server is needed; each test uses a
private state folder and free ports, and checks that nothing was left running."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from infra import services
from infra.settings import PROJECT_ROOT
from tests.integration.ports import free_port, held


def nothing_running(state: Path) -> bool:
    report = services.status(state)
    return not report["postgres"]["running"] and not report["kafka"]["running"]


@pytest.mark.parametrize("listening", [True, False], ids=["listening", "bound-only"])
def test_postgres_refuses_a_port_another_program_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listening: bool
) -> None:
    with held(free_port(), listening=listening) as port:
        monkeypatch.setenv("CRM_PG_PORT", str(port))
        with pytest.raises(services.ServiceError) as refused:
            services.postgres_up(tmp_path)
    assert f"PostgreSQL cannot start: 127.0.0.1:{port} is already in use" in str(refused.value)
    assert "CRM_PG_PORT" in str(refused.value)
    assert nothing_running(tmp_path)
    assert not (tmp_path / "postgres.path").exists()  # no cluster was even placed


@pytest.mark.parametrize("taken", [0, 1], ids=["client-port", "controller-port"])
def test_kafka_refuses_a_port_another_program_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: int
) -> None:
    port = free_port(consecutive=2)
    monkeypatch.setenv("CRM_KAFKA_PORT", str(port))
    with held(port + taken), pytest.raises(services.ServiceError) as refused:
        services.kafka_up(tmp_path)
    assert f"Kafka cannot start: 127.0.0.1:{port + taken} is already in use" in str(refused.value)
    assert "CRM_KAFKA_PORT" in str(refused.value)
    assert nothing_running(tmp_path)
    assert not (tmp_path / "kafka" / "kafka.pid").exists()


def test_the_command_line_exits_non_zero_naming_the_server_and_prints_no_addresses(
    tmp_path: Path,
) -> None:
    with held(free_port()) as port:
        env = {**os.environ, "CRM_PG_PORT": str(port), "CRM_KAFKA_PORT": str(free_port(2))}
        done = subprocess.run(
            [sys.executable, "-m", "infra.services", "up", "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert done.stdout == ""  # nothing a shell could `eval` into a half-set environment
    assert f"PostgreSQL cannot start: 127.0.0.1:{port}" in done.stderr
    assert nothing_running(tmp_path)


def _exited_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    "pid_of", [_exited_pid, os.getpid], ids=["exited", "reused-by-another-process"]
)
def test_stale_pid_files_count_as_stopped(tmp_path: Path, pid_of: Callable[[], int]) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "kafka.pid").write_text(f"{pid_of()}\n")
    report = services.status(tmp_path)
    assert report["kafka"]["running"] is False
    assert report["postgres"]["running"] is False
    services.kafka_down(tmp_path)
    services.postgres_down(tmp_path)
    assert not (tmp_path / "kafka" / "kafka.pid").exists()
