"""The SLA watchdog: time-driven, it reads the SLA view and issues commands.

A sweep at instant `now`:

1. makes the SLA view current (`refresh`: the embedded follower's catch-up; on Kafka the
   consumers keep it current) and notes the requests whose rows do not show yet a command the
   watchdog itself issued: those requests are left alone this sweep (and listed), every other
   request is acted on — one frozen row never stalls the others, and the sweep never waits for
   an earlier sweep's write;
2. runs the notice policy over the event log from its checkpoint: an acknowledgement, a delay
   or a closure gets its customer notice, and every recorded `NoticeSent` is handed to the
   notifier again (idempotent), so no notice recorded is ever missing from the outbox;
3. queries the due set (indexed) and issues `EscalateRequest(level=<absolute next level>)` and
   `SendNotice(progress)`, stamped with `now` and the system actor; then refreshes (waiting at
   most `view_wait_s` for this pass's own commands to show) and repeats, so a request overdue
   by several levels climbs them one recorded level at a time.

The decision to escalate is the request's own: the command names the standard and the due
instant the view showed, and the aggregate refuses it when its recorded state says that
standard is not, or no longer, breached (a delay, a customer pause, an acknowledgement the view
had not seen yet). A lagging view can thus cost a refused command, never a wrong escalation.

A refused command is logged. A rule's refusal (`EscalationRefused` because another watchdog got
there first, a closed request) is not issued again this sweep; after a `ConcurrencyConflict`
the next pass decides again on the refreshed view. Either way the level asked for is the
absolute level the fresh view shows due — a refusal never becomes "one level higher" — and the
aggregate refuses a level already reached, so two sweeps or two watchdogs escalate once per
level.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import structlog

from commands.access import system_actor
from commands.alerts import URGENT, alert_urgent_role, pass_on_unanswered
from commands.corrections import tell_duplicates
from commands.errors import ConcurrencyConflict, RequestNotFound
from commands.notices import (
    REACTIONS,
    Notice,
    Notifier,
    SendNotice,
    send_notice,
    tell_customer_about,
)
from commands.ports import Ports
from commands.requests import EscalateRequest, RequestCommand, escalate_request
from consumers.store_reader import StoreReader
from domain.errors import DomainError
from domain.values import Actor, ContactMethod, NoticeKind
from projections import sla_queries
from projections.base import insert_ignoring_duplicates
from projections.envelope import Envelope
from projections.sla import Sla
from projections.tables import create_tables

SYSTEM_ACTOR = system_actor("sla-watchdog")
NOTICE_POLICY = "notice-policy"
PROGRESS = NoticeKind.PROGRESS.value
log = structlog.get_logger("councilcrm.watchdog")

POSITIONS = sa.Table(
    "watchdog_positions",
    sa.MetaData(),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)
Refusal = (DomainError, ConcurrencyConflict, RequestNotFound)


@dataclass
class SweepReport:
    """What one sweep did: each entry (council, reference, what)."""

    now: datetime
    escalated: list[tuple[str, str, str]] = field(default_factory=list)
    notices: list[tuple[str, str, str]] = field(default_factory=list)
    alerted: list[tuple[str, str, str]] = field(default_factory=list)
    unreachable: list[tuple[str, str, str]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (council, reference)

    @property
    def stale_view(self) -> bool:
        """Some requests were left alone: their rows do not show this watchdog's last command."""
        return bool(self.waiting)

    def lines(self) -> list[str]:
        out = [f"escalated {r} ({c}) to {w}" for c, r, w in self.escalated]
        out += [f"notice {w} queued for {r} ({c})" for c, r, w in self.notices]
        out += [f"alerted the {w} to {r} ({c})" for c, r, w in self.alerted]
        out += [f"notice {w} for {r} ({c}): no contact method" for c, r, w in self.unreachable]
        out += [f"refused {r} ({c}): {w}" for c, r, w in self.refused]
        out += [
            f"left {r} ({c}) alone: the SLA view does not show this watchdog's last "
            "command on it yet"
            for c, r in self.waiting
        ]
        return out


class _At:
    """The handlers' ports, with the clock stopped at the sweep's instant."""

    def __init__(self, ports: Ports, now: datetime) -> None:
        self._ports, self._now = ports, now

    def now(self) -> datetime:
        return self._now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ports, name)


class Watchdog:
    def __init__(
        self,
        *,
        ports: Ports,
        reader: StoreReader,
        read_engine: sa.Engine,
        write_engine: sa.Engine,
        notifier: Notifier,
        refresh: Callable[[], None],
        councils: Collection[str] | None = None,
        actor: Actor = SYSTEM_ACTOR,
        view_wait_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        max_passes: int = 32,
        batch_size: int = 500,
    ) -> None:
        self.ports, self.reader, self.notifier, self.refresh = ports, reader, notifier, refresh
        self.read_engine, self.write_engine = read_engine, write_engine
        self.councils = set(councils) if councils else None
        self.actor, self.view_wait_s, self.sleep = actor, view_wait_s, sleep
        self.max_passes, self.batch_size = max_passes, batch_size
        self.model = Sla()
        # request id → (version, council, reference) of each command this watchdog recorded
        # that the view may not show yet
        self._written: dict[str, tuple[int, str, str]] = {}
        create_tables(POSITIONS.metadata, write_engine)

    # -- the sweep ---------------------------------------------------------------------------

    def sweep(self, now: datetime) -> SweepReport:
        report = SweepReport(now=now)
        ports = _At(self.ports, now)
        behind = self._fresh_view(set())
        self._follow_log(ports, report)
        self._pass_on_alerts(ports, now, report)
        skip: set[tuple[str, str]] = set()
        for _ in range(self.max_passes):
            before = set(self._written)
            if not self._act_on_due(ports, now, report, skip, behind):
                break
            behind = self._fresh_view(set(self._written) - before)
        report.waiting = sorted({self._written[i][1:] for i in behind if i in self._written})
        if report.waiting:
            log.warning("stale-view", waiting=len(report.waiting))
        return report

    def _act_on_due(
        self,
        ports: Ports,
        now: datetime,
        report: SweepReport,
        skip: set[tuple[str, str]],
        behind: set[str],
    ) -> bool:
        """One pass over the due set; False when nothing was due. A command refused this sweep
        is not issued again this sweep (`skip`: request id and level, or "progress"); a higher
        level the refreshed view shows due — another watchdog's escalation, say — is a new
        decision on fresh state and is taken."""
        council = next(iter(self.councils)) if self.councils and len(self.councils) == 1 else None
        with self.read_engine.connect() as conn:
            escalations = sla_queries.due_escalations(conn, self.model, now, council)
            notices = sla_queries.due_progress_notices(conn, self.model, now, council)
        acted = False
        for e in escalations:
            if (
                (e.request_id, e.level) not in skip
                and e.request_id not in behind
                and self._ours(e.council)
            ):
                acted = True
                self._escalate(ports, e, report, skip)
        for n in notices:
            if (
                (n.request_id, PROGRESS) not in skip
                and n.request_id not in behind
                and self._ours(n.council)
            ):
                acted = True
                self._progress_notice(ports, n, report, skip)
        return acted

    def _ours(self, council: str) -> bool:
        return self.councils is None or council in self.councils

    def _escalate(
        self,
        ports: Ports,
        e: sla_queries.DueEscalation,
        report: SweepReport,
        skip: set[tuple[str, str]],
    ) -> None:
        cmd = EscalateRequest(
            council=e.council,
            reference=e.reference,
            actor=self.actor,
            level=e.level,
            reason=_reason(e),
            standard=e.standard,
            due=e.due,
        )
        try:
            result = escalate_request(cmd, ports)
        except Refusal as error:
            self._refused((e.request_id, e.level), skip, error)
            self._report_refusal(e.council, e.reference, f"escalate to {e.level}", error, report)
            return
        self._written[e.request_id] = (result.version, e.council, e.reference)
        report.escalated.append((e.council, e.reference, e.level))
        if e.standard == URGENT:  # a request lodged before urgent ones escalated at once
            self._alert(ports, e.council, e.reference, result.version, report)
        log.info("escalated", reference=e.reference, level=e.level, due=e.due.isoformat())

    def _progress_notice(
        self,
        ports: Ports,
        n: sla_queries.DueNotice,
        report: SweepReport,
        skip: set[tuple[str, str]],
    ) -> None:
        cmd = SendNotice(
            council=n.council, reference=n.reference, actor=self.actor, notice=NoticeKind.PROGRESS
        )
        try:
            outcome = send_notice(cmd, ports, self.notifier)
        except Refusal as error:
            self._refused((n.request_id, PROGRESS), skip, error)
            self._report_refusal(n.council, n.reference, "progress notice", error, report)
            return
        entry = (n.council, n.reference, NoticeKind.PROGRESS.value)
        if outcome.result is None:
            skip.add((n.request_id, PROGRESS))
            report.unreachable.append(entry)
            return
        self._written[n.request_id] = (outcome.result.version, n.council, n.reference)
        report.notices.append(entry)

    @staticmethod
    def _refused(key: tuple[str, str], skip: set[tuple[str, str]], error: Exception) -> None:
        """A rule's refusal stands for the rest of the sweep. A concurrency conflict does not:
        the next pass decides again on the refreshed view — the same absolute level if that is
        still what is due (then refused if someone reached it meanwhile), never one higher."""
        if not isinstance(error, ConcurrencyConflict):
            skip.add(key)

    def _report_refusal(
        self, council: str, reference: str, what: str, error: Exception, report: SweepReport
    ) -> None:
        report.refused.append((council, reference, f"{what}: {error}"))
        log.warning(
            "refused", reference=reference, what=what, error=str(error), kind=type(error).__name__
        )

    def watch(
        self,
        clock: Callable[[], datetime],
        interval: float,
        stop: threading.Event | None = None,
        on_sweep: Callable[[SweepReport], None] | None = None,
    ) -> int:
        """Sweeps at `clock()` every `interval` seconds until SIGTERM (or `stop` is set);
        returns the number of sweeps. A sweep that fails on an unreachable database is logged
        and the next one tried at the next tick. `stop.wait` is the only pause, so a test passes
        a `stop` whose wait moves a fake clock instead of sleeping."""
        stop = stop or threading.Event()
        sweeps = 0
        with _stop_on_sigterm(stop):
            while not stop.is_set():
                try:
                    report = self.sweep(clock())
                except (sa.exc.DBAPIError, OSError) as error:
                    # a database or server that cannot be reached now: try at the next tick
                    log.error("sweep-failed", error=str(error), kind=type(error).__name__)
                else:
                    if on_sweep:
                        on_sweep(report)
                sweeps += 1
                if stop.wait(interval):
                    break
        return sweeps

    # -- the view ----------------------------------------------------------------------------

    def _fresh_view(self, just_written: set[str]) -> set[str]:
        """Refreshes the view; returns the requests whose rows do not show yet a command this
        watchdog issued. Waits (at most `view_wait_s`) only for `just_written`, the commands of
        the pass just made: a row behind since an earlier pass or sweep costs no wait."""
        self._refresh()
        deadline = time.monotonic() + self.view_wait_s
        while True:
            behind = self._behind()
            if not (behind & just_written) or time.monotonic() >= deadline:
                return behind
            self.sleep(min(0.2, self.view_wait_s))
            self._refresh()

    def _refresh(self, attempts: int = 5) -> None:
        """Another process catching the same view up at the same moment can win the race for
        a row (a duplicate key, a deadlock): the loser's transaction rolls back, and catching
        up again starts from the positions now stored."""
        for attempt in range(attempts):
            try:
                self.refresh()
                return
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as error:
                if attempt + 1 == attempts:
                    raise
                log.info("refresh-race", error=type(error).__name__, attempt=attempt + 1)

    def _behind(self) -> set[str]:
        """The requests whose rows do not show this watchdog's last command on them; those that
        do are forgotten."""
        if not self._written:
            return set()
        t = self.model.table
        ids = list(self._written)
        seen: dict[str, int] = {}
        with self.read_engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(t.c.request_id, t.c.version).where(
                    t.c.request_id.in_(ids[i : i + 500])
                )
                seen.update((r[0], r[1]) for r in conn.execute(q))
        shown = [rid for rid, (v, _, _) in self._written.items() if seen.get(rid, 0) >= v]
        for rid in shown:
            del self._written[rid]
        return set(self._written)

    # -- the notice policy over the event log ------------------------------------------------

    def _follow_log(self, ports: Ports, report: SweepReport) -> None:
        """Reacts to every event after the policy's checkpoint; the checkpoint moves past an
        event only once its reaction is done (or refused for good), so a crash repeats a
        reaction, which the aggregate's at-most-once rule and the outbox's key absorb."""
        position = self._checkpoint()
        head = self.reader.head()
        while position < head:
            batch = self.reader.read(position, self.batch_size)
            if not batch:
                break
            for env in batch:
                if not self._react(ports, env, report):
                    self._save_checkpoint(position)
                    return
                position = env.position
            self._save_checkpoint(position)

    def _alert(
        self, ports: Ports, council: str, reference: str, version: int, report: SweepReport
    ) -> None:
        """Raises the urgent role's alert for the escalation at `version` (idempotent)."""
        alert = alert_urgent_role(council, reference, version, ports, ports.alerts)
        if alert is not None:
            report.alerted.append((council, reference, alert.role))

    def _pass_on_alerts(self, ports: Ports, now: datetime, report: SweepReport) -> None:
        council = next(iter(self.councils)) if self.councils and len(self.councils) == 1 else None
        for alert in pass_on_unanswered(council, now, ports, ports.alerts):
            if self._ours(alert.council):
                report.alerted.append((alert.council, alert.reference, alert.role))

    def _react(self, ports: Ports, env: Envelope, report: SweepReport) -> bool:
        """False when the reaction must be tried again at the next sweep."""
        if not self._ours(env.council):
            return True
        if env.event_type == "NoticeSent":
            self.notifier.deliver(notice_of(env))
            return True
        if env.event_type == "Escalated":
            if env.data.get("standard") == URGENT:  # raised at lodgement: a no-op but after
                alert_urgent_role(env.council, env.reference, env.version, ports, ports.alerts)
            return True
        cmd = RequestCommand(council=env.council, reference=env.reference, actor=self.actor)
        for _ in range(3):
            try:
                outcome = tell_customer_about(
                    env.event_type, cmd, env.version, ports, self.notifier
                )
            except ConcurrencyConflict:
                continue  # someone acted on the request meanwhile: decide again on fresh state
            except (DomainError, RequestNotFound) as error:
                report.refused.append((env.council, env.reference, f"notice: {error}"))
                return True
            if outcome is not None:
                kind = report.notices if outcome.sent else report.unreachable
                kind.append((env.council, env.reference, _notice_name(env.event_type)))
            return self._tell_duplicates(ports, env, cmd, report)
        log.warning("notice-conflict", reference=env.reference, position=env.position)
        return False

    def _tell_duplicates(
        self, ports: Ports, env: Envelope, cmd: RequestCommand, report: SweepReport
    ) -> bool:
        """An original's closure reaches its duplicates' customers; False: try again."""
        for _ in range(3):
            try:
                outcomes = tell_duplicates(env.event_type, cmd, ports, self.notifier)
            except ConcurrencyConflict:
                continue
            except (DomainError, RequestNotFound) as error:
                report.refused.append((env.council, env.reference, f"notice: {error}"))
                return True
            for ref, o in outcomes:
                kind = report.notices if o.sent else report.unreachable
                kind.append((env.council, ref, NoticeKind.ORIGINAL_CLOSED.value))
            return True
        log.warning("notice-conflict", reference=env.reference, position=env.position)
        return False

    def _checkpoint(self) -> int:
        with self.write_engine.connect() as conn:
            found = conn.execute(
                sa.select(POSITIONS.c.position).where(POSITIONS.c.name == NOTICE_POLICY)
            ).scalar_one_or_none()
        return found or 0

    def _save_checkpoint(self, position: int) -> None:
        """Only ever forwards: two watchdogs sharing the checkpoint never move it back."""
        with self.write_engine.begin() as conn:
            insert_ignoring_duplicates(conn, POSITIONS, [{"name": NOTICE_POLICY, "position": 0}])
            conn.execute(
                sa.update(POSITIONS)
                .where(POSITIONS.c.name == NOTICE_POLICY, POSITIONS.c.position < position)
                .values(position=position)
            )


def notice_of(env: Envelope) -> Notice:
    """The notice a stored `NoticeSent` recorded, as the notifier takes it."""
    d = env.data
    return Notice(
        request_id=UUID(env.request_id),
        council=env.council,
        reference=env.reference,
        version=env.version,
        notice=NoticeKind(d["notice"]),
        method=ContactMethod(d["method"]),
        recipient=d.get("recipient"),
        text=d["text"],
        issued_at=env.occurred,
    )


def _notice_name(event_type: str) -> str:
    return REACTIONS[event_type].value


_MISSED = {
    "acknowledgement": "acknowledgement standard",
    "completion": "completion target",
    "discretionary": "agreed completion date",
}


def _reason(e: sla_queries.DueEscalation) -> str:
    due = e.due.isoformat()
    if e.standard == "urgent":
        return f"urgent request: immediate escalation to {e.level} (SLA watchdog, due {due})"
    return f"{_MISSED.get(e.standard, e.standard)} missed: {e.level} due {due} (SLA watchdog)"


# -- the loop ---------------------------------------------------------------------------------


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (and SIGINT) end the loop after the sweep in progress; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
