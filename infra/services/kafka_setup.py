"""The Kafka broker's files: its jars, its Java command line, its configuration and storage.

Guarantees:
- ``KAFKA_HOME`` is ``infra/kafka``; the jars are fetched by Maven into ``infra/kafka/target/lib``
  only when missing, via a scratch folder renamed at the end (never half there).
- The broker is a single-node KRaft broker+controller on loopback, replication 1 everywhere.
- Storage is formatted once, and a data folder formatted for other ports is refused.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.services.common import HOST, ServiceError, _alive, _read_pid, _run

log = logging.getLogger("infra.services")  # one logger for the package, as before the split

KAFKA_HOME = Path(__file__).resolve().parents[1] / "kafka"
KAFKA_LIB = KAFKA_HOME / "target" / "lib"
KAFKA_JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


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
    return "# Written by infra/services/ on every start.\n" + "".join(
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
