"""The tamper-evident record, on SQLite and PostgreSQL: given a council's record kept by `crm`,
when someone with database access edits, deletes, inserts or swaps stored events, edits the
audit record, truncates the chain or forges an anchor, then `crm record verify` exits 1 naming
the first position and the source that disagrees; untouched, or after a customer's erasure, it
exits 0 with each log's count and head hash."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from consumers.record_verify import stored_events
from infra import cli
from infra.runtime import Runtime, make_engine
from projections.record_chain import GENESIS, Head, RecordChain, extend
from tests.conftest import add_staff, make_settings

COUNCIL = "upper-lachlan"
SCRUBBED = (
    "CRM_DATABASE_URL",
    "CRM_KAFKA_BOOTSTRAP",
    "CRM_COUNCIL",
    "CRM_ACTOR",
    "CRM_ROLE",
    "CRM_CONFIG_DIR",
    "CRM_RECORD_KEY_DIR",
)


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Council:
    """A council's data (SQLite files or a PostgreSQL database) and `crm` run in process."""

    data: Path
    url: str | None
    capsys: pytest.CaptureFixture[str]

    def crm(self, user: str, *args: str) -> Ran:
        self.capsys.readouterr()
        code = cli.main(["--council", COUNCIL, "--as", user, *args])
        out, err = self.capsys.readouterr()
        return Ran(code, out, err)

    def ok(self, user: str, *args: str) -> str:
        ran = self.crm(user, *args)
        assert ran.code == 0, ran.stderr + ran.stdout
        return ran.stdout

    def verify(self, *anchors: Path) -> Ran:
        return self.crm(
            "rec", "record", "verify", "--json", *[a for p in anchors for a in ("--anchor", str(p))]
        )

    def runtime(self) -> Runtime:
        return Runtime(make_settings(self.data, self.url))

    def positions(self, log: str = "requests") -> list[int]:
        rt = self.runtime()
        try:
            return [n.id for n in stored_events(rt.record_logs()[log])]
        finally:
            rt.close()

    def store(self, log: str = "requests") -> Store:
        if self.url is None:
            file = "events.sqlite3" if log == "requests" else "directory.sqlite3"
            return Store(make_engine(f"sqlite:///{self.data / file}"), "stored_events", "rowid")
        table = "councilcrm_events" if log == "requests" else "councilcrm_directory_events"
        return Store(make_engine(self.read_url), table, "notification_id")

    @property
    def read_url(self) -> str:
        return make_settings(self.data, self.url).sqlalchemy_url("read")

    @property
    def chain_url(self) -> str:
        return make_settings(self.data, self.url).sqlalchemy_url("record")


@dataclass
class Store:
    """Raw access to an event store's table, as someone with database access has it."""

    engine: sa.Engine
    table: str
    id: str

    def run(self, sql: str, **params: Any) -> Any:
        with self.engine.begin() as conn:
            return conn.execute(sa.text(sql), params)

    def state(self, position: int) -> bytes:
        row = self.run(f"SELECT state FROM {self.table} WHERE {self.id} = :p", p=position)
        return bytes(row.scalar_one())

    def set_state(self, position: int, state: bytes) -> None:
        self.run(f"UPDATE {self.table} SET state = :s WHERE {self.id} = :p", s=state, p=position)

    def delete(self, position: int) -> None:
        self.run(f"DELETE FROM {self.table} WHERE {self.id} = :p", p=position)

    def swap(self, p: int, q: int) -> None:
        with self.engine.begin() as conn:
            for old, new in ((p, -1), (q, p), (-1, q)):
                conn.execute(
                    sa.text(f"UPDATE {self.table} SET {self.id} = :n WHERE {self.id} = :o"),
                    {"n": new, "o": old},
                )

    def insert_at(self, position: int) -> None:
        """Moves every event from `position` on one place up and puts a forged one there."""
        with self.engine.begin() as conn:
            for shift in (1_000_001, -1_000_000):
                conn.execute(
                    sa.text(
                        f"UPDATE {self.table} SET {self.id} = {self.id} + :d WHERE {self.id} >= :p"
                    ),
                    {"d": shift, "p": position + (0 if shift > 0 else 1_000_001)},
                )
            topic, state = conn.execute(
                sa.text(f"SELECT topic, state FROM {self.table} WHERE {self.id} = :p"),
                {"p": position + 1},
            ).one()
            forged = uuid.uuid4()
            conn.execute(
                sa.text(
                    f"INSERT INTO {self.table} (originator_id, originator_version, topic, state, "
                    f"{self.id}) VALUES (:o, 1, :t, :s, :p)"
                ),
                {
                    "o": forged.hex if self.id == "rowid" else forged,
                    "t": topic,
                    "s": state,
                    "p": position,
                },
            )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def council(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Council]:
    """Given a council whose staff lodged, acknowledged and noted three requests, and whose
    records officer `rec` made the council's record key and verified the record."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    data = tmp_path / "data"
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    if url:
        monkeypatch.setenv("CRM_DATABASE_URL", url)
    add_staff(
        make_settings(data, url), COUNCIL, {"cs": ["customer-service"], "rec": ["records-officer"]}
    )
    logs = structlog.get_config()
    c = Council(data, url, capsys)
    refs = [
        c.ok(
            "cs",
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "phone",
            "--description",
            f"Pothole number {i}",
            "--name",
            "Wren Ashdown",
            "--phone",
            "0400 111 222",
        ).strip()
        for i in range(3)
    ]
    for ref in refs:
        c.ok("cs", "acknowledge", ref)
    c.ok("cs", "note", refs[1], "Crew booked")
    c.ok("rec", "record", "keygen")
    c.ok("rec", "record", "verify")  # the read models (the audit record) catch up too
    yield c
    structlog.configure(**logs)


def finding(ran: Ran, source: str) -> dict[str, Any]:
    assert ran.code == 1, ran.stdout + ran.stderr
    found = [f for f in ran.json()["findings"] if f["source"].startswith(source)]
    assert found, ran.json()["findings"]
    return found[0]


# -- untouched -----------------------------------------------------------------------------------


def test_an_untouched_record_verifies_with_each_logs_count_and_head(council: Council) -> None:
    ran = council.verify()
    assert ran.code == 0, ran.stdout
    logs = ran.json()["logs"]
    assert logs["requests"]["event_count"] == len(council.positions("requests")) >= 7
    assert logs["directory"]["event_count"] == len(council.positions("directory")) >= 3
    assert all(len(log["head_hash"]) == 64 for log in logs.values())
    text = council.ok("rec", "record", "verify")
    assert logs["requests"]["head_hash"] in text and "verified" in text


# -- the event store -----------------------------------------------------------------------------


def test_one_byte_altered_in_a_stored_event_is_named_by_its_position(council: Council) -> None:
    p = council.positions()[3]
    store = council.store()
    state = store.state(p)
    at = state.index(b'"_data_":"2026-') + len(b'"_data_":"202')
    store.set_state(p, state[:at] + b"5" + state[at + 1 :])
    ran = council.verify()
    assert finding(ran, "stored chain") | {"detail": ""} == {
        "log": "requests",
        "position": p,
        "kind": "altered",
        "source": "stored chain",
        "detail": "",
    }
    assert finding(ran, "audit record")["position"] == p


def test_a_stored_event_that_no_longer_decodes_is_reported_not_a_crash(
    council: Council,
) -> None:
    p = council.positions()[2]
    store = council.store()
    store.set_state(p, b"\xff" + store.state(p)[1:])
    ran = council.verify()
    assert (finding(ran, "stored chain")["position"], finding(ran, "audit record")["position"]) == (
        p,
        p,
    )


def test_a_deleted_event_is_named_by_its_position(council: Council) -> None:
    p = council.positions()[4]
    council.store().delete(p)
    f = finding(council.verify(), "stored chain")
    assert (f["position"], f["kind"]) == (p, "removed")


def test_an_event_inserted_in_the_log_is_named_by_its_position(council: Council) -> None:
    p = council.positions()[2]
    council.store().insert_at(p)
    f = finding(council.verify(), "stored chain")
    assert (f["position"], f["kind"]) == (p, "inserted")


def test_two_swapped_events_are_named_by_the_first_position(council: Council) -> None:
    positions = council.positions()
    council.store().swap(positions[1], positions[5])
    f = finding(council.verify(), "stored chain")
    assert (f["position"], f["kind"]) == (positions[1], "reordered")
    assert str(positions[5]) in f["detail"]


def test_a_directory_event_altered_is_named_in_the_directory_log(council: Council) -> None:
    p = council.positions("directory")[1]
    store = council.store("directory")
    state = store.state(p)
    at = state.index(b'"_data_":"2026-') + len(b'"_data_":"202')
    store.set_state(p, state[:at] + b"5" + state[at + 1 :])
    f = finding(council.verify(), "stored chain")
    assert (f["log"], f["position"], f["kind"]) == ("directory", p, "altered")


# -- the audit record and the chain itself --------------------------------------------------------


def test_an_edited_audit_record_row_is_named_by_its_position(council: Council) -> None:
    p = council.positions()[4]
    with sa.create_engine(council.read_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_record SET actor_id = 'someone.else' WHERE position = :p"),
            {"p": p},
        )
    ran = council.verify()
    assert [(f["source"], f["position"], f["kind"]) for f in ran.json()["findings"]] == [
        ("audit record", p, "altered")
    ]
    assert "actor_id" in ran.json()["findings"][0]["detail"]


def test_a_truncated_chain_is_reported_and_never_refilled(council: Council) -> None:
    first = council.positions()[0]
    engine = sa.create_engine(council.chain_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM record_chain" if council.url is None else "TRUNCATE record_chain")
        )
    f = finding(council.verify(), "stored chain")
    assert (f["log"], f["position"], f["kind"]) == ("requests", first, "truncated")
    council.ok(
        "cs",
        "note",
        council.ok(
            "cs",
            "lodge",
            "--category",
            "pothole",
            "--channel",
            "phone",
            "--description",
            "Another",
            "--name",
            "Bo Li",
            "--phone",
            "0400 555 666",
        ).strip(),
        "Later",
    )
    again = finding(council.verify(), "stored chain")
    assert (again["position"], again["kind"]) == (first, "truncated")
    with engine.connect() as conn:
        chained = conn.execute(
            sa.text("SELECT min(position), count(*) FROM record_chain WHERE log = 'requests'")
        ).one()
    assert chained[0] > council.positions()[-3] and chained[1] == 2  # only what came after


def test_an_edited_chain_entry_is_reported_as_damage_to_the_chain(council: Council) -> None:
    p = council.positions()[3]
    with sa.create_engine(council.chain_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE record_chain SET digest = :d WHERE log = 'requests' AND position = :p"),
            {"d": "0" * 64, "p": p},
        )
    f = finding(council.verify(), "stored chain")
    assert (f["position"], f["kind"]) == (p, "damaged")


# -- anchors -----------------------------------------------------------------------------------


def anchor(council: Council, name: str = "anchor.json") -> Path:
    out = council.data.parent / name
    council.ok("rec", "record", "anchor", "--out", str(out))
    return out


def rewrite_chain(council: Council, log: str = "requests") -> None:
    """What a careful forger does after editing events: recomputes the stored chain."""
    rt = council.runtime()
    chain = RecordChain()
    try:
        head, rows = extend(
            Head(log=log, position=0, event_count=0, head_hash=GENESIS[log].hex()),
            list(stored_events(rt.record_logs()[log])),
        )
        with rt.record_engine.begin() as conn:
            conn.execute(sa.delete(chain.entries).where(chain.entries.c.log == log))
            conn.execute(sa.insert(chain.entries), rows)
            conn.execute(
                sa.update(chain.heads)
                .where(chain.heads.c.log == log)
                .values(
                    position=head.position, event_count=head.event_count, head_hash=head.head_hash
                )
            )
    finally:
        rt.close()


def test_an_anchor_verifies_and_catches_a_rewritten_chain(council: Council) -> None:
    a = anchor(council)
    assert json.loads(a.read_text())["council"] == COUNCIL
    assert council.verify(a).code == 0
    positions = council.positions()
    store = council.store()
    state = store.state(positions[1])
    at = state.index(b'"_data_":"2026-') + len(b'"_data_":"202')
    store.set_state(positions[1], state[:at] + b"5" + state[at + 1 :])
    rewrite_chain(council)
    ran = council.verify(a)
    assert not any(f["source"] == "stored chain" for f in ran.json()["findings"])
    f = finding(ran, f"anchor {a}")
    assert (f["position"], f["kind"]) == (positions[-1], "altered")


def test_a_stale_anchor_past_a_rolled_back_store_is_rejected(council: Council) -> None:
    a = anchor(council)
    last = council.positions()[-1]
    council.store().delete(last)
    rewrite_chain(council)
    f = finding(council.verify(a), f"anchor {a}")
    assert (f["position"], f["kind"]) == (last, "removed")


def test_a_forged_anchor_is_rejected(council: Council) -> None:
    a = anchor(council)
    genuine = json.loads(a.read_text())
    edited = council.data.parent / "edited.json"
    edited.write_text(json.dumps({**genuine, "position": {**genuine["position"], "requests": 1}}))
    council.ok("rec", "record", "keygen", "--key", str(council.data.parent / "other.ed25519"))
    other = council.data.parent / "other.json"
    council.ok(
        "rec",
        "record",
        "anchor",
        "--key",
        str(council.data.parent / "other.ed25519"),
        "--out",
        str(other),
    )
    ran = council.verify(a, edited, other)
    forged = {f["source"]: f["kind"] for f in ran.json()["findings"]}
    assert forged == {f"anchor {edited}": "forged", f"anchor {other}": "forged"}


# -- erasure -----------------------------------------------------------------------------------


def test_the_record_still_verifies_after_a_customer_is_erased(council: Council) -> None:
    ref = council.ok(
        "cs",
        "lodge",
        "--category",
        "pothole",
        "--channel",
        "phone",
        "--description",
        "Hole by the gate",
        "--name",
        "Orla Pennyworth",
        "--phone",
        "0400 333 444",
    ).strip()
    shown = json.loads(council.ok("cs", "show", ref, "--json"))
    council.ok("cs", "close", ref, "--outcome", "completed", "--text", "Patched")
    before = anchor(council)
    number = shown["customer"]["number"]
    council.ok("rec", "customer", "erase", number, "--reason", "asked to be forgotten")
    ran = council.verify(before)
    assert ran.code == 0, ran.stdout
    assert ran.json()["logs"]["directory"]["event_count"] == len(council.positions("directory"))
