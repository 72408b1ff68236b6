"""The project's own PostgreSQL and Kafka servers: started idempotently, usable, restartable singly.

These tests start a pair of servers of their own, in a private state folder on free ports, and
stop them at the end, so they never touch the servers the rest of the run uses. (Refusing a port
that is taken, and stale PID files, need no server: see test_services_ports.py.)
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from infra import services
from tests.integration.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state folder, ``CRM_PG_PORT`` and ``CRM_KAFKA_PORT`` on free ports; afterwards
    both servers are stopped and the cluster deleted (it may live outside the folder)."""
    folder = tmp_path_factory.mktemp("services")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRM_PG_PORT", str(free_port()))
        env.setenv("CRM_KAFKA_PORT", str(free_port(consecutive=2)))
        try:
            yield folder
        finally:
            services.down(folder)
            record = folder / "postgres.path"
            if record.exists():
                shutil.rmtree(record.read_text().strip(), ignore_errors=True)


@pytest.fixture(scope="module")
def env(state: Path) -> dict[str, str]:
    return services.up(state)


@pytest.fixture
def topic(env: dict[str, str]) -> Iterator[str]:
    name = f"services-test-{uuid.uuid4().hex[:12]}"
    # One admin client each way: a client kept across a broker restart fails fast (NodeNotReady).
    with closing(KafkaAdminClient(bootstrap_servers=env["CRM_KAFKA_BOOTSTRAP"])) as admin:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    yield name
    with closing(KafkaAdminClient(bootstrap_servers=env["CRM_KAFKA_BOOTSTRAP"])) as admin:
        admin.delete_topics([name])


def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=b"k", value=value).get(timeout=30)
    finally:
        producer.close()


def _consume_until(
    bootstrap: str, topic: str, wanted: bytes, timeout_s: float = 60.0
) -> list[bytes]:
    """Reads ``topic`` from the start until ``wanted`` arrives or ``timeout_s`` passes."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    seen: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while wanted not in seen and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                seen.extend(record.value for record in records)
    finally:
        consumer.close()
    return seen


def test_up_returns_loopback_addresses(env: dict[str, str]) -> None:
    assert env["CRM_DATABASE_URL"] == f"postgresql://crm:crm@127.0.0.1:{services.pg_port()}/crm"
    assert env["CRM_KAFKA_BOOTSTRAP"] == f"127.0.0.1:{services.kafka_port()}"


def test_second_up_starts_no_new_process(env: dict[str, str], state: Path) -> None:
    before = services.status(state)
    again = services.up(state)
    after = services.status(state)
    assert again == env
    assert after["postgres"]["pid"] == before["postgres"]["pid"]
    assert after["kafka"]["pid"] == before["kafka"]["pid"]


def test_status_reports_both_running_and_ready(env: dict[str, str], state: Path) -> None:
    report = services.status(state)
    for name in ("postgres", "kafka"):
        assert report[name]["running"] is True
        assert report[name]["ready"] is True
        assert isinstance(report[name]["pid"], int)
        assert str(report[name]["address"]).startswith("127.0.0.1:")


def test_crm_role_connects_and_may_create_scratch_databases_and_schemas(
    env: dict[str, str],
) -> None:
    scratch = f"scratch_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(env["CRM_DATABASE_URL"])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), current_setting('fsync')")
            assert cur.fetchone() == ("crm", "crm", "on")
            cur.execute(f"CREATE DATABASE {scratch}")
            cur.execute(f"DROP DATABASE {scratch}")
            cur.execute(f"CREATE SCHEMA {scratch}")
            cur.execute(f"DROP SCHEMA {scratch}")
    finally:
        conn.close()


def test_topic_create_produce_consume_round_trip(env: dict[str, str], topic: str) -> None:
    value = f"hello-{uuid.uuid4().hex}".encode()
    _produce(env["CRM_KAFKA_BOOTSTRAP"], topic, value)
    assert value in _consume_until(env["CRM_KAFKA_BOOTSTRAP"], topic, value)


def test_restarting_kafka_alone_keeps_produced_messages(
    env: dict[str, str], state: Path, topic: str
) -> None:
    value = f"survives-{uuid.uuid4().hex}".encode()
    _produce(env["CRM_KAFKA_BOOTSTRAP"], topic, value)
    old_pid = services.status(state)["kafka"]["pid"]

    services.kafka_down(state)
    services.kafka_down(state)  # idempotent
    stopped = services.status(state)
    assert stopped["kafka"]["running"] is False
    assert stopped["postgres"]["running"] is True

    assert services.kafka_up(state) == env["CRM_KAFKA_BOOTSTRAP"]
    assert services.status(state)["kafka"]["pid"] != old_pid
    assert value in _consume_until(env["CRM_KAFKA_BOOTSTRAP"], topic, value)


def test_restarting_postgres_alone_keeps_committed_rows(env: dict[str, str], state: Path) -> None:
    table = f"restart_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(env["CRM_DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (v text)")
        cur.execute(f"INSERT INTO {table} VALUES ('kept')")
    conn.close()

    services.postgres_down(state)
    services.postgres_down(state)  # idempotent
    assert services.status(state)["postgres"]["running"] is False

    assert services.postgres_up(state) == env["CRM_DATABASE_URL"]
    with psycopg2.connect(env["CRM_DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT v FROM {table}")
        assert cur.fetchall() == [("kept",)]
        cur.execute(f"DROP TABLE {table}")
    conn.close()
