"""What sealing residents' personal data costs: per command, per read, and `find` at scale.

Run: ``python -m bench.privacy_bench [--backend sqlite|postgres|both] [--rounds R]
[--requests N] [--customers N] [--registrations N] [--lookups N]`` (defaults: both backends,
20 rounds, 300 requests, 100,000 customers, 2,000 registrations, 1,000 lookups per field;
about 2 minutes per backend on a 2-core machine).

1. **Command path.** On one `Runtime` built as the CLI builds one, in interleaved rounds:

   - *lodge, sealed*: `lodge_request` as it is, with an identified customer (name, phone,
     e-mail, postal address): a customer number, the customer's data key, the customer record
     saved in the directory store, blind index rows, and the details and description sealed
     with AES-256-GCM;
   - *lodge, repeat caller*: `lodge_request` naming an existing customer record (the record
     is loaded, the description sealed under its key);
   - *lodge, plain*: the same handler flow minus the privacy work: the council's lodgement
     policy, a reference, `ServiceRequest.lodge` and `StorePorts.save`, with constant tokens
     sealed once beforehand (so the recorded events are the same size) and no customer
     record, key or index;
   - *lifecycle, sealed* (new customer), *lifecycle, repeat caller* and *lifecycle, plain*:
     the whole lifecycle of a request (lodge, acknowledge, assign, note, delay, escalate, close). The note is the customer's own words
     (`INCOMING`), which `add_note` seals; the plain lifecycle records a constant token instead.

   The median of the per-round ratios is the figure to quote on a shared machine. After the
   rounds, an instrumented pass splits a sealed lodgement's extra time into its parts (self
   time, so nested calls are not counted twice), and CPU micro-measurements give AES-GCM and
   HMAC per value beside a plain string copy.

2. **Read path.** The requests lodged above, each read back whole from the event store
   (`repository.get`, as a new process would), its customer's name, phone, e-mail, address
   and the description then opened with a fresh `vault.opener()` (one key read, five
   decryptions), beside the same read leaving the tokens closed.

3. **`find` on many customers.** Index rows and data keys for `--customers` customers are
   inserted in bulk (setup only), then `--registrations` real `register_customer` calls are
   timed, then `find_customers` by phone, e-mail and name (`--lookups` each, values that
   exist), each lookup beside the primary-key `SELECT` it ends in, with the digest computed
   beforehand. The query plan of that `SELECT` is printed.

PostgreSQL runs in a scratch database dropped afterwards (``$CRM_DATABASE_URL``, else the
project's own server); SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.commands_bench import (
    COUNCIL,
    INSTANT,
    LIFECYCLE,
    OFFICER,
    Tally,
    _store,
    interleaved,
    median_ratio,
    server_facts,
    settings_for,
)
from bench.staff import add_officer
from commands import requests as cmds
from commands.customers import find_customers, register_customer
from commands.request_store import save_request
from domain.aggregates.customer import customer_id, customer_number
from domain.aggregates.service_request import ServiceRequest, request_id
from domain.lodgement import Intake, lodgement_fields
from domain.values import Channel, ContactMethod, Customer, Location, NoteKind
from infra.keys import BLIND_INDEX, DATA_KEYS, INDEX_NAMESPACE, Sealer, normalise
from infra.runtime import Runtime

SERIAL0 = 100_000  # six-digit serials: every request's plain text has the same length
FIND_NUMBER0 = 200_000  # the bulk customers' numbers, clear of those the counter issues
PERSONAL = ("name", "phone", "email", "address")
GIVEN = (
    "Ann",
    "Bob",
    "Chloe",
    "Dev",
    "Emma",
    "Farid",
    "Grace",
    "Hamish",
    "Isla",
    "Jack",
    "Kiri",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Priya",
    "Quinn",
    "Ruby",
    "Sam",
    "Tom",
    "Uma",
    "Vik",
    "Wen",
    "Xavier",
    "Yasmin",
    "Zoe",
    "Aroha",
    "Ben",
    "Cara",
    "Dylan",
)
FAMILY = tuple(
    f"{a}{b}"
    for a in (
        "Lee",
        "Smith",
        "Nguyen",
        "Brown",
        "Wilson",
        "Taylor",
        "Singh",
        "Martin",
        "Kelly",
        "Walker",
    )
    for b in (
        "",
        "ton",
        "ford",
        "ley",
        "wood",
        "field",
        "by",
        "more",
        "ham",
        "well",
        "stone",
        "worth",
        "dale",
        "ridge",
        "croft",
        "mead",
        "holm",
        "bury",
        "combe",
        "gate",
    )
)  # 200 surnames: 6,000 names, ~17 customers each


def customer_of(n: int) -> Customer:
    return Customer(
        name=f"Resident {n}",
        address=f"{n} Spring St, Crookwell NSW 2583",
        phone=f"04{n:08d}",
        email=f"resident{n}@example.org",
        preferred_contact=ContactMethod.EMAIL,
    )


def intake_of(n: int, customer_number: str | None = None) -> Intake:
    return Intake(
        category="pothole",
        channel=Channel.PHONE,
        description=f"Deep pothole outside {n} Spring St, about 40 cm across; a cyclist fell",
        customer=None if customer_number else customer_of(n),
        customer_number=customer_number,
        location=Location(address=f"{n} Spring St, Crookwell NSW", lat=-34.46, long=149.47),
    )


INCOMING_NOTE = "Customer rang back: the hole is deeper now and water pools in it after rain"


def later_commands(reference: str) -> list[tuple[str, Any]]:
    on: dict[str, Any] = {"council": COUNCIL, "reference": reference, "actor": OFFICER}
    return [
        ("acknowledge", cmds.AcknowledgeRequest(**on)),
        ("assign", cmds.AssignRequest(**on, team="roads", officer="o.smith")),
        (
            "note",
            cmds.AddNote(
                **on, text=INCOMING_NOTE, note_kind=NoteKind.INCOMING, channel=Channel.PHONE
            ),
        ),
        (
            "delay",
            cmds.DelayRequest(**on, reason="Asphalt supply delayed", until=date(2026, 12, 18)),
        ),
        ("escalate", cmds.EscalateRequest(**on, reason="Completion target missed")),
        ("close", cmds.CloseRequest(**on, outcome="completed", text="Pothole patched")),
    ]


# ------------------------------------------------------------------- the plain baselines


class Tokens:
    """Constant tokens, sealed once beforehand, of the same lengths as the real ones."""

    def __init__(self, prefix: str) -> None:
        sealer = Sealer(uuid.uuid4(), AESGCM.generate_key(bit_length=256))
        c = customer_of(SERIAL0)
        self.customer = Customer(
            **{f: sealer.seal(getattr(c, f)) for f in PERSONAL},
            preferred_contact=c.preferred_contact,
            number=customer_number(prefix, SERIAL0),
        )
        self.description = sealer.seal(intake_of(SERIAL0).description)
        self.note = sealer.seal(INCOMING_NOTE)


def plain_lodge(cmd: cmds.LodgeRequest, ports: Any, tokens: Tokens) -> cmds.Lodged:
    """`lodge_request` minus the privacy work (no customer record, key, index or sealing)."""
    council = ports.council(cmd.council)
    now = ports.now()
    fields = lodgement_fields(council, cmd.intake, "(pending)", now)
    fields["reference"] = ports.next_reference(council, now)
    fields["customer"] = tokens.customer
    fields["description"] = tokens.description
    saved = save_request(ports, ServiceRequest.lodge(occurred_at=now, actor=cmd.actor, **fields))
    return cmds.Lodged(**vars(saved), customer=tokens.customer.number, restrictions=())


def plain_add_note(cmd: cmds.AddNote, ports: Any, tokens: Tokens) -> cmds.Result:
    """`add_note` with the customer's words already a token (no key read, no sealing)."""
    request = ports.get(request_id(cmd.council, cmd.reference), cmd.reference)
    request.add_note(
        text=tokens.note,
        note_kind=cmd.note_kind,
        channel=cmd.channel,
        occurred_at=ports.now(),
        actor=cmd.actor,
    )
    return save_request(ports, request)


# ---------------------------------------------------------------------------- the variants


class Variant:
    name = ""
    label = ""

    def __init__(self, bench: PrivacyBench) -> None:
        self.bench = bench
        self.ports = bench.runtime.ports
        self.per_command: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def close(self) -> None:
        pass

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args)
        self.per_command[name] += time.perf_counter() - t0
        self.counts[name] += 1
        return result


class LodgeSealed(Variant):
    name = "lodge, sealed: lodge_request as it is (new customer)"

    def run(self, n: int) -> int:
        for _ in range(n):
            serial = self.bench.next_serial()
            cmd = cmds.LodgeRequest(council=COUNCIL, intake=intake_of(serial), actor=OFFICER)
            lodged = self._timed("lodge", cmds.lodge_request, cmd, self.ports)
            self.bench.sealed_ids.append(lodged.request_id)
        return n


class LodgeRepeat(Variant):
    name = "lodge, sealed: repeat caller (record named)"

    def run(self, n: int) -> int:
        number = self.bench.repeat_customer
        for _ in range(n):
            serial = self.bench.next_serial()
            cmd = cmds.LodgeRequest(
                council=COUNCIL, intake=intake_of(serial, number), actor=OFFICER
            )
            self._timed("lodge", cmds.lodge_request, cmd, self.ports)
        return n


class LodgePlain(Variant):
    name = "lodge, plain: same flow, no privacy work"

    def run(self, n: int) -> int:
        tokens = self.bench.tokens
        for _ in range(n):
            serial = self.bench.next_serial()
            cmd = cmds.LodgeRequest(council=COUNCIL, intake=intake_of(serial), actor=OFFICER)
            self._timed("lodge", plain_lodge, cmd, self.ports, tokens)
        return n


class LifecycleSealed(Variant):
    name = "lifecycle, sealed: new customer, 7 commands as they are"
    label = "sealed, new customer"

    def run(self, n: int) -> int:
        for _ in range(n):
            serial = self.bench.next_serial()
            cmd = cmds.LodgeRequest(council=COUNCIL, intake=intake_of(serial), actor=OFFICER)
            lodged = self._timed("lodge", cmds.lodge_request, cmd, self.ports)
            self.bench.sealed_ids.append(lodged.request_id)
            for name, c in later_commands(lodged.reference):
                self._timed(name, cmds.handle, c, self.ports)
        return n * len(LIFECYCLE)


class LifecycleRepeat(Variant):
    name = "lifecycle, sealed: repeat caller, 7 commands"
    label = "sealed, repeat caller"

    def run(self, n: int) -> int:
        number = self.bench.repeat_customer
        for _ in range(n):
            serial = self.bench.next_serial()
            cmd = cmds.LodgeRequest(
                council=COUNCIL, intake=intake_of(serial, number), actor=OFFICER
            )
            lodged = self._timed("lodge", cmds.lodge_request, cmd, self.ports)
            for name, c in later_commands(lodged.reference):
                self._timed(name, cmds.handle, c, self.ports)
        return n * len(LIFECYCLE)


class LifecyclePlain(Variant):
    name = "lifecycle, plain: same, no privacy work"
    label = "plain"

    def run(self, n: int) -> int:
        tokens = self.bench.tokens
        for _ in range(n):
            serial = self.bench.next_serial()
            cmd = cmds.LodgeRequest(council=COUNCIL, intake=intake_of(serial), actor=OFFICER)
            lodged = self._timed("lodge", plain_lodge, cmd, self.ports, tokens)
            for name, c in later_commands(lodged.reference):
                if name == "note":
                    self._timed(name, plain_add_note, c, self.ports, tokens)
                else:
                    self._timed(name, cmds.handle, c, self.ports)
        return n * len(LIFECYCLE)


class Read(Variant):
    """Reads requests whole from the event store; `opened` also opens the personal fields."""

    def __init__(self, bench: PrivacyBench, ids: list[uuid.UUID], *, opened: bool) -> None:
        super().__init__(bench)
        self.ids, self.opened, self.i = ids, opened, 0
        self.name = (
            "read + open 5 personal fields (fresh opener)" if opened else "read, fields left sealed"
        )
        self.views: list[dict[str, Any]] = []

    def run(self, n: int) -> int:
        repository, vault = self.bench.runtime.app.repository, self.bench.runtime.vault
        for _ in range(n):
            r: ServiceRequest = repository.get(self.ids[self.i % len(self.ids)])
            self.i += 1
            c = r.customer
            assert c is not None
            fields = {f: getattr(c, f) for f in PERSONAL}
            fields["description"] = r.description
            if self.opened:
                opener = vault.opener()
                fields = {f: opener.open(v) for f, v in fields.items()}
            self.views.append(fields)
            del self.views[:-1]
        return n


# ------------------------------------------------------------------- the privacy breakdown


class SelfTimes:
    """Self time of wrapped calls: a call's time minus that of the wrapped calls inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, label: str | Callable[..., str]) -> None:
        original = getattr(owner, attr)
        on_class = isinstance(owner, type)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                children = self._stack.pop()
                name = label(*args, **kwargs) if callable(label) else label
                self.seconds[name] += elapsed - children
                self.calls[name] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        setattr(owner, attr, timed)
        if on_class:
            self._undo.append(functools.partial(setattr, owner, attr, original))
        else:
            self._undo.append(functools.partial(delattr, owner, attr))

    def undo(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def breakdown(bench: PrivacyBench, lodgements: int) -> None:
    """Times `lodgements` sealed and plain lodgements, alternating, with the privacy steps
    of the sealed ones wrapped, and prints where the extra time goes."""
    vault, directory = bench.runtime.vault, bench.runtime.directory_ports
    index_key_id = uuid.uuid5(INDEX_NAMESPACE, COUNCIL)
    parts = SelfTimes()
    parts.wrap(directory, "next_number", "customer number (counter upsert)")
    parts.wrap(directory, "save", "customer record saved (directory store)")
    parts.wrap(
        vault,
        "_key",
        lambda key_id: (
            "key SELECT: council's index key"
            if key_id == index_key_id
            else "key SELECT: customer's data key"
        ),
    )
    parts.wrap(vault, "new_customer", "new key + index rows: HMACs, one transaction")
    parts.wrap(vault, "ensure_key", "ensure_key itself (a new key's INSERT)")
    parts.wrap(vault, "index", "blind index: HMAC + INSERT of the rows")
    parts.wrap(vault, "sealer", "AESGCM(key) set-up")
    parts.wrap(Sealer, "seal", "AES-GCM seal + base64, per value")
    sealed, plain = LodgeSealed(bench), LodgePlain(bench)
    ids_before = len(bench.sealed_ids)
    try:
        for _ in range(lodgements):
            sealed.run(1)
            parts._stack.clear()
            plain.run(1)
    finally:
        parts.undo()
    del bench.sealed_ids[ids_before:]
    per_sealed = 1000 * sealed.per_command["lodge"] / lodgements
    per_plain = 1000 * plain.per_command["lodge"] / lodgements
    extra = per_sealed - per_plain
    print(
        f"  where a sealed lodgement's extra time goes ({lodgements} sealed and plain "
        f"lodgements alternating, instrumented): sealed {per_sealed:.2f} ms, plain "
        f"{per_plain:.2f} ms, extra {extra:.2f} ms"
    )
    shown = 0.0
    for name in sorted(parts.seconds, key=lambda k: -parts.seconds[k]):
        ms = 1000 * parts.seconds[name] / lodgements
        shown += ms
        calls = parts.calls[name] / lodgements
        print(f"    {name:<44} {ms:>7.3f} ms per lodgement ({calls:.0f} calls)")
    print(f"    {'the rest (Customer.register, checks, timers)':<44} {extra - shown:>7.3f} ms")


def micro(vault: Any, repeats: int = 7, loops: int = 5000) -> None:
    """CPU cost per value (µs), median of `repeats`, the pairs alternating."""
    key_id = uuid.uuid4()
    key = AESGCM.generate_key(bit_length=256)
    sealer = Sealer(key_id, key)
    short, long = "resident100000@example.org", intake_of(SERIAL0).description
    tokens = {t: sealer.seal(t) for t in (short, long)}
    opener = vault.opener()
    opener._keys[key_id] = AESGCM(key)  # warm: the key already read for this view
    index_key = os.urandom(32)

    def hmac_digest() -> str:
        value = f"email:{normalise('email', short)}".encode()
        return hmac.new(index_key, value, hashlib.sha256).hexdigest()

    measures: dict[str, Callable[[], Any]] = {
        "plain string copy (baseline)": lambda: (short + ".")[:-1],
        "seal a 26-char e-mail": lambda: sealer.seal(short),
        f"seal the {len(long)}-char description": lambda: sealer.seal(long),
        "open a 26-char e-mail (key already read)": lambda: opener.open(tokens[short]),
        f"open the {len(long)}-char description": lambda: opener.open(tokens[long]),
        "AESGCM(key) set-up, once per key per view": lambda: AESGCM(key),
        "blind-index digest: normalise + HMAC-SHA256": hmac_digest,
        "key SELECT (KeyVault._key)": lambda: vault._key(key_id),
    }
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for name, fn in measures.items():
            n = loops if "SELECT" not in name else max(1, loops // 25)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append(1e6 * (time.perf_counter() - t0) / n)
    base = statistics.median(samples["plain string copy (baseline)"])
    print("  per value, CPU (median of 7 repeats):")
    for name, s in samples.items():
        us = statistics.median(s)
        print(f"    {name:<44} {us:>8.2f} µs  ({us / base:,.0f}× the copy)")


# ----------------------------------------------------------------------------- find at scale


def bulk_customers(bench: PrivacyBench, count: int) -> dict[str, list[str]]:
    """Index rows and data keys for `count` customers, inserted directly; returns sample
    values per field (for lookups)."""
    vault = bench.runtime.vault
    index_key = vault._index_key(COUNCIL)
    prefix = bench.prefix

    def digest(field: str, value: str) -> str:
        mac = hmac.new(index_key, f"{field}:{normalise(field, value)}".encode(), hashlib.sha256)
        return mac.hexdigest()

    probe = customer_of(1)
    assert probe.phone is not None
    assert digest("phone", probe.phone) == vault.digest(COUNCIL, "phone", probe.phone)
    rng = random.Random(8)
    values: dict[str, list[str]] = {"phone": [], "email": [], "name": []}
    t0 = time.perf_counter()
    chunk = 10_000
    with vault.engine.begin() as conn:
        for start in range(0, count, chunk):
            index_rows, key_rows = [], []
            for i in range(start, min(count, start + chunk)):
                number = customer_number(prefix, FIND_NUMBER0 + i)
                name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
                phone = f"04{rng.randrange(10**8):08d}"
                email = f"{name.replace(' ', '.').lower()}{i}@example.org"
                for field, value in (("name", name), ("phone", phone), ("email", email)):
                    index_rows.append(
                        {
                            "council": COUNCIL,
                            "field": field,
                            "digest": digest(field, value),
                            "customer": number,
                        }
                    )
                    if i % max(1, count // 2000) == 0:
                        values[field].append(value)
                key_rows.append(
                    {
                        "key_id": str(customer_id(COUNCIL, number)),
                        "council": COUNCIL,
                        "key": AESGCM.generate_key(bit_length=256),
                        "created_at": INSTANT,
                    }
                )
            dialect: Any = sa.dialects.postgresql if vault.is_postgres else sa.dialects.sqlite
            conn.execute(dialect.insert(BLIND_INDEX).on_conflict_do_nothing(), index_rows)
            conn.execute(sa.insert(DATA_KEYS), key_rows)
    with vault.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    print(
        f"  setup: {count:,} customers' index rows ({3 * count:,}) and data keys inserted in "
        f"bulk in {time.perf_counter() - t0:.1f} s; ANALYZE run"
    )
    return values


def query_plan(vault: Any, digest: str) -> str:
    """The plan of `find`'s query, as the database explains it."""
    explain = "EXPLAIN " if vault.is_postgres else "EXPLAIN QUERY PLAN "
    sql = (
        "SELECT customer FROM crm_customer_index WHERE council = :c AND field = :f "
        "AND digest = :d ORDER BY customer"
    )
    with vault.engine.connect() as conn:
        rows = conn.execute(sa.text(explain + sql), {"c": COUNCIL, "f": "phone", "d": digest})
        return " / ".join(str(r[-1]).strip() for r in rows)


def register_rate(bench: PrivacyBench, registrations: int, rounds: int) -> None:
    runtime = bench.runtime
    council = runtime.ports.council(COUNCIL)
    done, seconds, rates = 0, 0.0, []
    per = [
        registrations // rounds + (1 if i < registrations % rounds else 0) for i in range(rounds)
    ]
    for n in per:
        t0 = time.perf_counter()
        for _ in range(n):
            register_customer(
                council,
                customer_of(bench.next_serial()),
                OFFICER,
                runtime.directory_ports,
                runtime.vault,
            )
        elapsed = time.perf_counter() - t0
        done, seconds = done + n, seconds + elapsed
        rates.append(n / elapsed)
    print(
        f"  register_customer, one by one on top of them: {done / seconds:,.0f}/s "
        f"({1000 * seconds / done:.2f} ms each; rounds {min(rates):,.0f}–{max(rates):,.0f}/s)"
    )


def find_latency(bench: PrivacyBench, values: dict[str, list[str]], lookups: int) -> None:
    vault = bench.runtime.vault
    pk_select = (
        sa.select(BLIND_INDEX.c.customer)
        .where(
            BLIND_INDEX.c.council == sa.bindparam("c"),
            BLIND_INDEX.c.field == sa.bindparam("f"),
            BLIND_INDEX.c.digest == sa.bindparam("d"),
        )
        .order_by(BLIND_INDEX.c.customer)
    )
    sample = values["phone"][0]
    print(f"  query plan: {query_plan(vault, vault.digest(COUNCIL, 'phone', sample))}")
    print(
        f"  {'lookup':<34} {'p50 ms':>8} {'p99 ms':>8} {'mean hits':>10}  "
        f"{'PK SELECT p50':>13} {'p99':>7}  {'p50 ratio':>9}"
    )
    rng = random.Random(11)
    for field in ("phone", "email", "name"):
        found_ms, pk_ms, hits = [], [], 0
        for i in range(lookups):
            value = rng.choice(values[field])
            digest = vault.digest(COUNCIL, field, value)
            for turn in (0, 1) if i % 2 else (1, 0):
                t0 = time.perf_counter()
                if turn == 0:
                    found = find_customers(vault, COUNCIL, field, value)
                    found_ms.append(1000 * (time.perf_counter() - t0))
                    hits += len(found)
                    assert found, (field, value)
                else:
                    with vault.engine.connect() as conn:
                        conn.execute(pk_select, {"c": COUNCIL, "f": field, "d": digest}).all()
                    pk_ms.append(1000 * (time.perf_counter() - t0))
        f50, f99 = percentile(found_ms, 50), percentile(found_ms, 99)
        p50, p99 = percentile(pk_ms, 50), percentile(pk_ms, 99)
        print(
            f"  {'find_customers by ' + field:<34} {f50:>8.3f} {f99:>8.3f} "
            f"{hits / lookups:>10.1f}  {p50:>13.3f} {p99:>7.3f}  {f50 / p50:>9.2f}"
        )


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# --------------------------------------------------------------------------------- the runner


class PrivacyBench:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.serial = SERIAL0
        self.prefix = runtime.ports.council(COUNCIL).reference_prefix
        self.tokens = Tokens(self.prefix)
        self.sealed_ids: list[uuid.UUID] = []
        first = cmds.lodge_request(
            cmds.LodgeRequest(council=COUNCIL, intake=intake_of(self.next_serial()), actor=OFFICER),
            runtime.ports,
        )
        assert first.customer is not None
        self.repeat_customer = first.customer

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial


def report(tallies: list[Tally], pairs: list[tuple[int, int, str]], unit: str) -> None:
    print(f"  {'path':<52} {unit:>12} {'rounds min–max':>16}")
    for t in tallies:
        spread = f"{min(t.round_rates):,.0f}–{max(t.round_rates):,.0f}"
        print(f"  {t.name:<52} {t.rate:>12,.0f} {spread:>16}")
    for a, b, label in pairs:
        ratio = median_ratio(tallies[a], tallies[b])
        print(
            f"  {label}: {tallies[a].rate / tallies[b].rate:.3f} overall, median of "
            f"per-round ratios {ratio:.3f} (loss {100 * (1 - ratio):.1f}%)"
        )


def bench_backend(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="crm-privacy-") as tmp, _store(backend) as db_url:
        if backend == "postgres":
            assert db_url is not None
            print(f"\n== PostgreSQL: {server_facts(db_url)}, scratch database")
        else:
            print(
                f"\n== SQLite {sqlite3.sqlite_version}: files in a temporary folder "
                "(events in WAL mode; keys.sqlite3 with a rollback journal, secure_delete)"
            )
        runtime = Runtime(settings_for(Path(tmp), db_url), clock=lambda: INSTANT)
        try:
            add_officer(runtime, COUNCIL)
            bench = PrivacyBench(runtime)
            _command_path(bench, args)
            _read_path(bench, args)
            print(f"\n  -- find on {args.customers:,} customers")
            values = bulk_customers(bench, args.customers)
            register_rate(bench, args.registrations, min(args.rounds, 10))
            find_latency(bench, values, args.lookups)
        finally:
            runtime.close()


def _command_path(bench: PrivacyBench, args: argparse.Namespace) -> None:
    variants: list[Variant] = [
        LodgeSealed(bench),
        LodgeRepeat(bench),
        LodgePlain(bench),
        LifecycleSealed(bench),
        LifecycleRepeat(bench),
        LifecyclePlain(bench),
    ]
    print(
        f"\n  -- command path: {args.requests} lodgements / lifecycles per variant, "
        f"{args.rounds} interleaved rounds"
    )
    tallies = interleaved(variants, args.requests, args.rounds)
    report(
        tallies,
        [
            (0, 2, "lodge sealed / plain"),
            (1, 2, "lodge repeat caller / plain"),
            (3, 5, "lifecycle sealed / plain"),
            (4, 5, "lifecycle repeat caller / plain"),
        ],
        "commands/s",
    )
    for v in variants[3:]:
        per = "  ".join(f"{n} {1000 * v.per_command[n] / v.counts[n]:.2f}" for n in LIFECYCLE)
        print(f"  {v.label}, mean ms per command: {per}")
    breakdown(bench, max(20, args.requests // 3))
    micro(bench.runtime.vault)


def _read_path(bench: PrivacyBench, args: argparse.Namespace) -> None:
    ids = list(bench.sealed_ids)
    readers = [Read(bench, ids, opened=False), Read(bench, ids, opened=True)]
    reads = 4 * args.requests
    print(
        f"\n  -- read path: {reads} reads per variant over {len(ids)} requests (lodged or "
        f"closed), {args.rounds} interleaved rounds"
    )
    tallies = interleaved(readers, reads, args.rounds)
    report(tallies, [(1, 0, "read + open / read")], "reads/s")
    us = [1e6 / t.rate for t in tallies]
    print(
        f"  per read: {us[0]:.0f} µs sealed, {us[1]:.0f} µs opened: opening costs "
        f"{us[1] - us[0]:.0f} µs (one key SELECT, five AES-GCM decryptions)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.privacy_bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds")
    parser.add_argument(
        "--requests", type=int, default=300, help="lodgements, and lifecycles, per variant"
    )
    parser.add_argument(
        "--customers", type=int, default=100_000, help="customers in the blind index for find"
    )
    parser.add_argument(
        "--registrations", type=int, default=2000, help="real register_customer calls timed"
    )
    parser.add_argument("--lookups", type=int, default=1000, help="find lookups per field")
    args = parser.parse_args(argv)
    print(
        f"eventsourcing {version('eventsourcing')}, cryptography {version('cryptography')}, "
        f"SQLAlchemy {version('sqlalchemy')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; single-threaded; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        bench_backend(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
