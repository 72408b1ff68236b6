"""`crm record verify`'s reading: recomputes each log's chain from the event store and checks
it against the stored chain, the audit record and any anchors (already signature-checked)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from consumers.follower import SOURCE
from consumers.record_follower import Logs
from consumers.store_reader import StoreReader
from projections.audit_record import AuditRecord
from projections.envelope import Envelope
from projections.record_chain import PAGE, RecordChain
from projections.record_check import (
    AUDIT,
    Finding,
    LogCheck,
    check_anchor,
    check_audit,
    check_chain,
)

Anchor = tuple[str, Mapping[str, Any]]  # (file name, verified manifest)


@dataclass(frozen=True)
class Verification:
    checks: dict[str, LogCheck]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def stored_events(app: Application[UUID], after: int = 0) -> Iterator[Notification]:
    """Every event of the store in position order, exactly as stored, page by page."""
    while True:
        page = app.recorder.select_notifications(
            start=after, limit=PAGE, inclusive_of_start=False)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


def verify(
    engine: sa.Engine, logs: Logs, anchors: Sequence[Anchor] = (),
    audit: tuple[sa.Engine, str] | None = None,
) -> Verification:
    """Checks every log's chain (in `engine`); with `audit` (the read-model database and the
    log the audit record is fed from), also that log's events against the audit record."""
    chain = RecordChain()
    chain.create(engine)
    checks: dict[str, LogCheck] = {}
    with engine.connect() as conn:
        for name, app in logs.items():
            wanted = frozenset(int(m["position"].get(name, 0)) for _, m in anchors)
            checks[name] = check_chain(name, stored_events(app), chain.read(conn, name),
                                       chain.head(conn, name), wanted)
    findings = [c.finding for c in checks.values() if c.finding is not None]
    if audit is not None:
        found = _check_audit(audit[0], logs[audit[1]])
        findings += [found] if found else []
    for name, manifest in anchors:
        found = check_anchor(name, manifest, checks)
        findings += [found] if found else []
    return Verification(checks, findings)


def _check_audit(engine: sa.Engine, app: Application[UUID]) -> Finding | None:
    model = AuditRecord()
    model.create(engine)
    with engine.connect() as conn:
        t = model.table
        latest: dict[str, int] = {
            r[0]: r[1] for r in conn.execute(
                sa.select(t.c.request_id, sa.func.max(t.c.version)).group_by(t.c.request_id))}
        try:
            return check_audit(_envelopes(StoreReader(app)), _audit_rows(conn, t),
                               model.position(conn, SOURCE) or 0, latest)
        except _Undecodable as bad:
            return Finding(log="requests", position=bad.position, kind="altered", source=AUDIT,
                           detail="the stored event no longer decodes, so it cannot be what "
                                  "the audit record holds")


class _Undecodable(Exception):
    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


def _envelopes(reader: StoreReader) -> Iterator[Envelope]:
    for n in stored_events(reader.app):
        try:
            yield reader.envelope(n)
        except Exception as error:
            raise _Undecodable(n.id) from error


def _audit_rows(conn: sa.Connection, t: sa.Table) -> Iterator[Mapping[str, Any]]:
    after = -1
    while True:
        q = sa.select(t).where(t.c.position > after).order_by(t.c.position).limit(PAGE)
        page = [dict(r._mapping) for r in conn.execute(q)]
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["position"]
