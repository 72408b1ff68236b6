"""What the Kafka pipeline tests share: an isolated pipeline (own database, topic and consumer
groups), a driver that issues commands through the real handlers, subprocesses of the `crm`
CLI, and bounded polling helpers (never a fixed sleep for behaviour)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Self

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from commands import requests as cmds
from consumers import lag
from consumers.kafka_common import KafkaConfig, end_offsets
from consumers.store_reader import StoreReader
from consumers.worker import Worker
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT, Settings
from projections import registry
from tests.conftest import TEST_ADMIN, add_staff, add_staff_to
from tests.fakes import FakeClock

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="cs.officer", role="officer")
# the officer requests are assigned to: a staff user who may work them
WORKING_STAFF = {"o.smith": ["officer"]}
WORKING_TEAMS = {"o.smith": ["roads"]}
ALL_MODELS = tuple(registry.READ_MODELS)


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> None:
    """Polls `condition` (bounded); fails the test with `what` (and what `explain` says of the
    state it was left in) if it never holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            found = f": {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}{found}")
        time.sleep(0.1)


@dataclass
class Pipeline:
    """One test's own database, topic and consumer groups on the shared servers."""

    pg_url: str
    bootstrap: str
    data_dir: Path
    partitions: int = 6
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def config(self) -> KafkaConfig:
        return KafkaConfig(
            bootstrap=self.bootstrap,
            topic=f"crm-test-{self.tag}",
            partitions=self.partitions,
            group_prefix=f"crm-test-{self.tag}.",
            session_timeout_ms=6_000,
        )

    def cleanup(self) -> None:
        """Kills any `crm` subprocess still running (a failed test may leave one), then deletes
        this test's topic and consumer groups from the shared broker (best effort)."""
        for child in self.children:
            child.kill()
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            with suppress(Exception):
                admin.delete_groups(
                    [self.config.group(n) for n in ALL_MODELS]
                    + [self.config.models_group(ALL_MODELS)]
                )
            with suppress(Exception):
                admin.delete_topics([self.config.topic, self.config.directory_topic])
        finally:
            admin.close()

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.pg_url,
            kafka_bootstrap=self.bootstrap,
            config_dir=PROJECT_ROOT / "config",
        )

    def runtime(self, clock: FakeClock | None = None) -> Runtime:
        return Runtime(self.settings(), clock=clock or FakeClock())

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a `crm` subprocess of this pipeline runs with."""
        c = self.config
        return {
            **os.environ,
            "CRM_DATABASE_URL": self.pg_url,
            "CRM_KAFKA_BOOTSTRAP": self.bootstrap,
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_COUNCIL": COUNCIL,
            "CRM_KAFKA_TOPIC": c.topic,
            "CRM_KAFKA_PARTITIONS": str(c.partitions),
            "CRM_KAFKA_GROUP_PREFIX": c.group_prefix,
            "CRM_KAFKA_SESSION_TIMEOUT_MS": str(c.session_timeout_ms),
            "CRM_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "CRM_ACTOR": TEST_ADMIN,
            **(extra or {}),
        }

    # -- running it -----------------------------------------------------------------------------

    @contextmanager
    def worker(
        self, rt: Runtime, names: Sequence[str] = ALL_MODELS, relay: bool = True
    ) -> Iterator[Worker]:
        """The relay and consumers in this process (threads), stopped on exit."""
        worker = Worker(
            self.config,
            rt.read_engine,
            reader=StoreReader(rt.app) if relay else None,
            write_engine=rt.write_engine,
            names=names,
        ).start()
        try:
            yield worker
        finally:
            worker.stop()
        assert not worker.failed, f"worker components died: {worker.failed}"

    def crm(
        self, *args: str, env: Mapping[str, str] | None = None, timeout_s: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Runs `crm ARGS` to completion in this pipeline's environment (plus `env`), as the
        council's administrator."""
        add_staff(Settings.from_env(self.env(env)), COUNCIL, WORKING_STAFF, WORKING_TEAMS)
        return subprocess.run(
            [sys.executable, "-m", "infra.cli", *args],
            env=self.env(env),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def spawn(self, *args: str, env: Mapping[str, str] | None = None) -> Child:
        """A long-running `crm` subprocess; its stderr (the JSON logs) goes to a file."""
        log_path = self.data_dir / f"{args[0]}-{uuid.uuid4().hex[:6]}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", *args],
                env=self.env(env),
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
        child = Child(proc, log_path)
        self.children.append(child)
        return child

    def status(self, rt: Runtime, names: Sequence[str] = ALL_MODELS) -> lag.PipelineStatus:
        models = [registry.build(n) for n in names]
        return lag.kafka_status(
            StoreReader(rt.app), rt.write_engine, rt.read_engine, self.config, models, ages=False
        )

    def wait_drained(
        self, rt: Runtime, timeout_s: float = 120, names: Sequence[str] = ALL_MODELS
    ) -> None:
        last: list[str] = []

        def drained() -> bool:
            try:
                status = self.status(rt, names)
            except Exception as error:  # noqa: BLE001 - a server may be restarting: ask again
                last[:] = [f"status failed: {error!r}"]
                return False
            last[:] = [json.dumps(status.to_dict(), default=str)]
            return status.drained()

        wait_until(drained, timeout_s, "the relay and consumers to drain", lambda: "".join(last))

    def wait_caught_up(self, rt: Runtime, timeout_s: float = 120) -> None:
        """Waits until every event stored before the call is applied by every read model, even
        while new commands keep arriving (unlike `wait_drained`)."""
        head = rt.app.recorder.max_notification_id() or 0
        wait_until(
            lambda: (self.status(rt).relay_checkpoint or 0) >= head,
            timeout_s,
            "the relay to pass the head",
        )
        ends = end_offsets(self.config)

        def applied() -> bool:
            stored = [stored_offsets(rt, self.config, name) for name in ALL_MODELS]
            return all(s.get(p, 0) >= end for s in stored for p, end in ends.items())

        wait_until(applied, timeout_s, "the consumers to apply what was stored")

    def verify(self) -> subprocess.CompletedProcess[str]:
        done = self.crm("projections", "verify", "--timeout", "120")
        assert done.returncode == 0, f"verify failed:\n{done.stdout}\n{done.stderr}"
        assert done.stdout.count(": ok") == len(ALL_MODELS), done.stdout
        return done

    # -- looking at the topic -------------------------------------------------------------------

    def published(self) -> int:
        """How many messages the topic holds, over all partitions."""
        return sum(end_offsets(self.config).values())

    def read_topic(
        self, timeout_s: float = 30, config: KafkaConfig | None = None
    ) -> list[tuple[int, int, bytes | None, bytes]]:
        """Every message of the requests' topic (or `config`'s) as (partition, offset, key,
        value), partition by partition, read by a fresh consumer of no group."""
        config = config or self.config
        ends = end_offsets(config)
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        out: list[tuple[int, int, bytes | None, bytes]] = []
        try:
            tps = [TopicPartition(config.topic, p) for p in ends]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            deadline = time.monotonic() + timeout_s
            while len(out) < sum(ends.values()) and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    out += [(tp.partition, r.offset, r.key, r.value) for r in records]
        finally:
            consumer.close()
        return sorted((p, o, k, v) for p, o, k, v in out if o < ends[p])

    def produce(self, key: bytes, value: bytes) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            producer.send(self.config.topic, key=key, value=value).get(timeout=30)
        finally:
            producer.close()


@dataclass
class Child:
    """A `crm` subprocess and the file its logs go to."""

    proc: subprocess.Popen[str]
    log_path: Path

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait: the clean shutdown path; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def logs(self) -> list[dict[str, object]]:
        """The JSON log lines it wrote."""
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


class Driver:
    """Issues commands through the real handlers, moving a fake clock a minute each time."""

    def __init__(self, rt: Runtime, clock: FakeClock) -> None:
        self.rt = rt
        self.clock = clock
        self.count = 0
        add_staff_to(rt, COUNCIL, WORKING_STAFF, WORKING_TEAMS)

    def _tick(self) -> None:
        self.clock.advance(minutes=1)
        self.count += 1

    def lodge(self, category: str = "pothole", n: int = 0) -> cmds.Result:
        self._tick()
        intake = Intake(
            category=category,
            channel=Channel.PHONE,
            description=f"Request {n}: {category}",
            customer=Customer(name="Jo Citizen", phone="0400 000 000"),
        )
        cmd = cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER)
        return cmds.lodge_request(cmd, self.rt.ports)

    def step(self, reference: str, step: int) -> cmds.Result:
        """Step `step` (1..6) of a request's life after lodgement: acknowledge, assign, note,
        delay, escalate, close."""
        self._tick()
        p = self.rt.ports
        kw: dict[str, Any] = {"council": COUNCIL, "reference": reference, "actor": OFFICER}
        match step:
            case 1:
                return cmds.acknowledge_request(cmds.AcknowledgeRequest(**kw), p)
            case 2:
                return cmds.assign_request(
                    cmds.AssignRequest(team="roads", officer="o.smith", **kw), p
                )
            case 3:
                note = cmds.AddNote(text="Inspected; crew booked", note_kind=NoteKind.ACTION, **kw)
                return cmds.add_note(note, p)
            case 4:
                delay = cmds.DelayRequest(reason="Asphalt supply", until=date(2026, 6, 30), **kw)
                return cmds.delay_request(delay, p)
            case 5:
                return cmds.escalate_request(cmds.EscalateRequest(reason="Target missed", **kw), p)
            case 6:
                close = cmds.CloseRequest(outcome="completed", text="Patched", **kw)
                return cmds.close_request(close, p)
        raise ValueError(f"no step {step}")

    def lifecycle(self, n: int = 0) -> str:
        reference = self.lodge(n=n).reference
        for step in range(1, 7):
            self.step(reference, step)
        return reference

    def interleaved(self, requests: int, steps: int = 6) -> list[str]:
        """`requests` requests, their steps taken round-robin so their events interleave."""
        references = [self.lodge(n=i).reference for i in range(requests)]
        for step in range(1, steps + 1):
            for reference in references:
                self.step(reference, step)
        return references


class Feeder:
    """Keeps issuing commands on a thread (lodge, then three steps, request after request) until
    stopped, the way officers keep working while a server restarts."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.issued = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self.errors, f"a command failed: {self.errors[0]!r}"

    def wait_for(self, more: int, timeout_s: float = 60) -> None:
        """Returns once `more` further commands have been issued."""
        target = self.issued + more
        wait_until(
            lambda: self.issued >= target or bool(self.errors), timeout_s, f"{more} more commands"
        )

    def _run(self) -> None:
        n = 0
        try:
            while not self._stop.is_set():
                reference = self.driver.lodge(n=n).reference
                self.issued += 1
                for step in (1, 2, 3):
                    self.driver.step(reference, step)
                    self.issued += 1
                n += 1
        except BaseException as error:  # noqa: BLE001 - reported by __exit__
            self.errors.append(error)


def committed_offsets(config: KafkaConfig, model_name: str) -> dict[int, int]:
    """The offsets the model's consumer group committed to Kafka (lag tools' view)."""
    admin = KafkaAdminClient(bootstrap_servers=config.bootstrap)
    try:
        found = admin.list_group_offsets({config.group(model_name): None})
    finally:
        admin.close()
    offsets = found.get(config.group(model_name), {})
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def stored_offsets(rt: Runtime, config: KafkaConfig, model_name: str) -> dict[int, int]:
    """The offsets the model stored with its rows (the truth)."""
    with rt.read_engine.connect() as conn:
        positions = registry.build(model_name).positions_by_source(conn)
    out = {config.partition_of(s): p for s, p in positions.items()}
    return {p: offset for p, offset in out.items() if p is not None}
