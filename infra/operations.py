"""What the CLI and the staff API both run beyond a single command handler: the SLA watchdog on a
runtime, and the tamper-evident record's verification and signed anchor — composed once, here,
so neither interface holds its own copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumers import record_verify
from consumers.store_reader import StoreReader
from consumers.watchdog import SYSTEM_ACTOR, Watchdog
from domain.council import Council
from domain.values import Actor
from infra import record_anchor
from infra.notify import OutboxNotifier
from infra.runtime import Runtime
from infra.views import read_models_ready
from projections.record_chain import RecordChain
from projections.record_check import Finding

KAFKA_VIEW_WAIT_S = 30.0
AUDITED_LOG = "requests"  # the log the audit record is fed from


def make_watchdog(
    rt: Runtime, councils: list[str] | None = None, actor: Actor = SYSTEM_ACTOR
) -> Watchdog:
    """The watchdog on this runtime, recording `actor` (its own system actor unless a person
    sweeps by hand): the embedded path catches the view up before each look; on Kafka the
    consumers keep it current and the watchdog waits for its own writes."""
    embedded = rt.settings.kafka_bootstrap is None
    return Watchdog(
        ports=rt.ports,
        reader=StoreReader(rt.app),
        read_engine=rt.read_engine,
        write_engine=rt.write_engine,
        notifier=OutboxNotifier(rt.write_engine),
        refresh=lambda: read_models_ready(rt),
        councils=councils,
        actor=actor,
        view_wait_s=0.0 if embedded else KAFKA_VIEW_WAIT_S,
    )


@dataclass(frozen=True)
class Verification:
    """The record checked against the event store, the audit record and the anchors given."""

    findings: list[Finding]
    logs: dict[str, dict[str, Any]]
    anchors: int

    @property
    def ok(self) -> bool:
        return not self.findings

    def plain(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "logs": self.logs,
            "anchors": self.anchors,
            "findings": [vars(f) for f in self.findings],
        }


def verify_record(
    rt: Runtime,
    anchors: list[record_verify.Anchor] | None = None,
    rejected: list[Finding] | None = None,
) -> Verification:
    """Recomputes the chain and checks every source against it (`rejected`: anchors already
    found not genuine, reported first)."""
    given = anchors or []
    read_models_ready(rt)
    checked = record_verify.verify(
        rt.record_engine, rt.record_logs(), given, (rt.read_engine, AUDITED_LOG)
    )
    logs = {
        name: {
            "event_count": ch.event_count,
            "position": ch.position,
            "head_hash": ch.head_hash,
            "not_yet_chained": ch.pending,
        }
        for name, ch in checked.checks.items()
    }
    bad = list(rejected or [])
    return Verification(findings=bad + checked.findings, logs=logs, anchors=len(given) + len(bad))


class RecordBroken(Exception):
    """The record does not verify: it is not anchored (the findings say where it parts)."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("not anchored: the record is broken")
        self.findings = findings


def anchor_record(rt: Runtime, c: Council, key: Path | None = None) -> dict[str, Any]:
    """A signed anchor of the record's heads under the council's key (`key`: its file, else
    the council's own in the key folder); `RecordBroken` when the record does not verify."""
    private = record_anchor.load_private(record_anchor.key_path(rt.settings, c.id, key))
    read_models_ready(rt)
    checked = record_verify.verify(rt.record_engine, rt.record_logs())
    if not checked.ok:
        raise RecordBroken(checked.findings)
    chain = RecordChain()
    with rt.record_engine.connect() as conn:
        heads = {log: chain.head(conn, log) for log in rt.record_logs()}
    anchor: dict[str, Any] = record_anchor.sign(
        private, c.id, {k: h for k, h in heads.items() if h}, rt.clock()
    )
    return anchor
