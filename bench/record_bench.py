"""What keeping the tamper-evident record costs: the chain's follower per event, beside the
read models' own follower over the same events, and the command path with and without
chaining after each command.

Run: ``python -m bench.record_bench [--backend sqlite|postgres|both] [--requests N]
[--rounds R] [--commands N]`` (defaults: both backends, 1,000 requests of seven events each,
5 rounds, 200 commands per command-path variant).

1. **Follower.** A store holding N whole lifecycles (lodge, acknowledge, assign, note, delay,
   escalate, close; each lodgement with a customer record in the directory) is caught up from
   scratch, in interleaved rounds, into fresh read-model tables:

   - *read models*: `follower.catch_up` of every read model (the embedded path's catch-up);
   - *read models + chain*: the same, then `record_follower.catch_up` of both logs;
   - *chain alone*: `record_follower.catch_up` of both logs.

   The figure to quote is the median per-round ratio (read models + chain) / (read models),
   and the chain's cost per event (chain alone, per chained event).

2. **Verification** of the chain just built (`record_verify.verify` without the audit record
   or anchors) beside raw SHA-256 of the very same stored bytes, read from the store.

3. **Command path.** `--commands` commands (lodge, then a note) through the handlers on a
   `Runtime` built the way the CLI builds one, with and without `record_follower.catch_up`
   after each command (what `crm` does on the embedded default after a command succeeds);
   then `crm note` itself, run in process through `infra.cli.main` (a fresh `Runtime`, the
   council's configuration, the acting user's authorization — everything but starting
   Python), with and without that chaining step.

PostgreSQL runs in a scratch database dropped afterwards (``$CRM_DATABASE_URL``, else the
project's own server); SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from bench.commands_bench import scratch_database, settings_for
from commands import requests as cmds
from consumers import follower, record_follower, record_verify
from consumers.store_reader import StoreReader
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer, NoteKind
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from projections import registry

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="bench.officer", role="officer")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def lifecycle(rt: Runtime, n: int) -> None:
    intake = Intake(category="pothole", channel=Channel.PHONE,
                    description=f"Pothole number {n} outside the shop",
                    customer=Customer(name=f"Bench Caller {n}", phone="0400 000 000"))
    ref = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports).reference
    kw = {"council": COUNCIL, "reference": ref, "actor": OFFICER}
    p = rt.ports
    cmds.acknowledge_request(cmds.AcknowledgeRequest(**kw), p)  # type: ignore[arg-type]
    cmds.assign_request(cmds.AssignRequest(team="roads", officer="o.smith", **kw), p)  # type: ignore[arg-type]
    cmds.add_note(cmds.AddNote(text="Inspected; crew booked", note_kind=NoteKind.ACTION,
                               **kw), p)  # type: ignore[arg-type]
    cmds.delay_request(cmds.DelayRequest(reason="Asphalt supply", until=date(2026, 6, 30),
                                         **kw), p)  # type: ignore[arg-type]
    cmds.escalate_request(cmds.EscalateRequest(reason="Target missed", **kw), p)  # type: ignore[arg-type]
    cmds.close_request(cmds.CloseRequest(outcome="completed", text="Patched", **kw), p)  # type: ignore[arg-type]


@contextmanager
def runtime(backend: str) -> Iterator[Runtime]:
    if backend == "postgres":
        with scratch_database() as url, tempfile.TemporaryDirectory() as tmp:
            rt = Runtime(settings_for(Path(tmp), url), clock=Clock())
            try:
                yield rt
            finally:
                rt.close()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rt = Runtime(settings_for(Path(tmp), None), clock=Clock())
            try:
                yield rt
            finally:
                rt.close()


def fresh_tables(rt: Runtime) -> None:
    for model in registry.build_all():
        model.drop(rt.read_engine)
    follower.ensure_tables(rt.read_engine, registry.build_all())
    chain = record_follower.CHAIN
    chain.metadata.drop_all(rt.record_engine)
    chain.create(rt.record_engine)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def follower_rounds(rt: Runtime, rounds: int) -> None:
    events = sum((app.recorder.max_notification_id() or 0) for app in rt.record_logs().values())
    request_events = rt.app.recorder.max_notification_id() or 0
    def models() -> None:
        follower.catch_up(StoreReader(rt.app), rt.read_engine, registry.build_all())

    def models_and_chain() -> None:
        models()
        record_follower.catch_up(rt.record_engine, rt.record_logs())

    def chain_alone() -> None:
        record_follower.catch_up(rt.record_engine, rt.record_logs())

    variants = {"read models": models, "read models + chain": models_and_chain,
                "chain alone": chain_alone}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, action in variants.items():
            fresh_tables(rt)
            seconds[name].append(timed(action))
    ratios = [w / b for w, b in zip(seconds["read models + chain"], seconds["read models"],
                                    strict=True)]
    print(f"  follower over {request_events} request events (+ {events - request_events} "
          f"directory events for the chain), {rounds} rounds, median seconds:")
    for name, s in seconds.items():
        print(f"    {name:22} {statistics.median(s):7.3f} s")
    per_event = statistics.median(seconds["chain alone"]) / events * 1e6
    added = (statistics.median(seconds["read models + chain"])
             - statistics.median(seconds["read models"])) / request_events * 1e6
    print(f"  read models + chain / read models: median per-round ratio "
          f"{statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"  chain alone: {per_event:.1f} µs per chained event; added to the read models' "
          f"catch-up: {added:.1f} µs per request event")


def verify_figures(rt: Runtime) -> None:
    record_follower.catch_up(rt.record_engine, rt.record_logs())
    events = list(record_verify.stored_events(rt.app)) + list(
        record_verify.stored_events(rt.directory))

    def raw() -> None:
        for n in events:
            hashlib.sha256(n.state).digest()

    raw_s = min(timed(raw) for _ in range(3))
    read_s = min(timed(lambda: [list(record_verify.stored_events(a))
                                for a in rt.record_logs().values()]) for _ in range(3))
    verify_s = min(timed(lambda: record_verify.verify(rt.record_engine, rt.record_logs()))
                   for _ in range(3))
    total = len(events)
    print(f"  verify (read store and chain, recompute, compare): {total / verify_s:,.0f} "
          f"events/s; reading the store alone {total / read_s:,.0f} events/s; raw SHA-256 of "
          f"the same bytes (in memory) {total / raw_s:,.0f} events/s; verify / (read + raw "
          f"hash) = {(read_s + raw_s) / verify_s:.2f}")


def run_commands(rt: Runtime, commands: int, first: int, chained: bool) -> float:
    """Seconds per command for `commands` commands (lodge, then a note, …), chaining after
    each if `chained`."""
    start = time.perf_counter()
    for n in range(first, first + commands // 2):
        intake = Intake(category="pothole", channel=Channel.PHONE, description=f"Pothole {n}",
                        customer=Customer(name=f"Bench Caller {n}", phone="0400 000 000"))
        ref = cmds.lodge_request(cmds.LodgeRequest(
            council=COUNCIL, intake=intake, actor=OFFICER), rt.ports).reference
        if chained:
            record_follower.catch_up(rt.record_engine, rt.record_logs())
        cmds.add_note(cmds.AddNote(council=COUNCIL, reference=ref, actor=OFFICER,
                                   text="Rang back", note_kind=NoteKind.ACTION), rt.ports)
        if chained:
            record_follower.catch_up(rt.record_engine, rt.record_logs())
    return (time.perf_counter() - start) / commands


def command_path(rt: Runtime, commands: int, rounds: int) -> None:
    per: dict[bool, list[float]] = {False: [], True: []}
    first = 1_000_000
    for _ in range(rounds):
        for chained, seconds in per.items():
            seconds.append(run_commands(rt, commands, first, chained))
            first += commands
    ratios = [w / b for w, b in zip(per[True], per[False], strict=True)]
    print(f"  command path ({commands} commands per variant, {rounds} rounds): "
          f"{statistics.median(per[False]) * 1e3:.2f} ms without, "
          f"{statistics.median(per[True]) * 1e3:.2f} ms with the chain caught up after "
          f"each; median per-round ratio {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


def cli_path(rt: Runtime, commands: int, rounds: int) -> None:
    from commands import users
    from infra import cli
    from infra.cli import record as cli_record
    from infra.config import load_council

    council = load_council(rt.settings.config_dir, COUNCIL)
    users.bootstrap_administrator(users.BootstrapAdministrator(
        council=COUNCIL, user_id="bench.admin", name="Bench Administrator"),
        rt.directory_ports, council)
    ref = cmds.lodge_request(cmds.LodgeRequest(council=COUNCIL, intake=Intake(
        category="pothole", channel=Channel.PHONE, description="Pothole by the bench",
        customer=Customer(name="Bench Caller", phone="0400 000 000")), actor=OFFICER),
        rt.ports).reference
    saved = dict(os.environ)
    os.environ["CRM_DATA_DIR"] = str(rt.settings.data_dir)
    os.environ.pop("CRM_DATABASE_URL", None)
    if rt.settings.database_url:
        os.environ["CRM_DATABASE_URL"] = rt.settings.database_url
    argv = ["--council", COUNCIL, "--as", "bench.admin", "note", ref, "Rang back"]
    chain_step = cli_record.chain_what_was_written
    per: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(rounds):
            for chained, seconds in per.items():
                cli_record.chain_what_was_written = (  # type: ignore[assignment]
                    chain_step if chained else (lambda args: None))
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    for _ in range(commands):
                        assert cli.main(argv) == 0
                seconds.append((time.perf_counter() - start) / commands)
        whole = []
        for _ in range(rounds * 2):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "infra.cli", *argv], check=True,
                           capture_output=True, env=os.environ, cwd=PROJECT_ROOT)
            whole.append(time.perf_counter() - start)
    finally:
        cli_record.chain_what_was_written = chain_step  # type: ignore[assignment]
        os.environ.clear()
        os.environ.update(saved)
    ratios = [w / b for w, b in zip(per[True], per[False], strict=True)]
    added = statistics.median(per[True]) - statistics.median(per[False])
    print(f"  `crm note` as a process (what a user runs): {statistics.median(whole) * 1e3:.0f} "
          f"ms median over {len(whole)} runs; chaining adds {added * 1e3:.1f} ms of it "
          f"({added / statistics.median(whole):.1%})")
    print(f"  `crm note` in process ({commands} per variant, {rounds} rounds): "
          f"{statistics.median(per[False]) * 1e3:.2f} ms without, "
          f"{statistics.median(per[True]) * 1e3:.2f} ms with chaining after it; median "
          f"per-round ratio {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        with runtime(backend) as rt:
            print(f"{backend}: filling the store with {args.requests} lifecycles …", flush=True)
            for i in range(args.requests):
                lifecycle(rt, i)
            follower_rounds(rt, args.rounds)
            verify_figures(rt)
            command_path(rt, args.commands, args.rounds)
            cli_path(rt, args.commands // 2, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
