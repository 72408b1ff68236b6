"""Erasure on the production path: a customer's request runs its whole life through `crm` on
PostgreSQL and a real Kafka broker (a `crm worker` relaying and projecting), the customer is
erased, and then no personal value of theirs is found in any PostgreSQL table, any message a
fresh consumer reads back from either topic, any log line of any process, any export, or any
file of the data folder — while the history still replays, every read model still equals its
rebuild (`crm projections verify`) and the KPIs are what they were.

The same run greps every log line of the lifecycle, at INFO, for the personal values and for
secrets (the data keys, the blind-index key, the database password in its URL): none appears.
"""

from __future__ import annotations

import base64
import json
import subprocess

import psycopg2
import pytest

from consumers.kafka_common import end_offsets
from tests.integration.kafka_support import Pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

NAME, PHONE, EMAIL = "Yolanda Brightwaterson", "0488 765 432", "yb.erasure@example.org"
STREET, WORDS = "17 Quokkavale Crescent", "the hedge at Brightwaterson place"
PERSONAL = (
    NAME,
    PHONE,
    EMAIL,
    STREET,
    WORDS,
    "Brightwaterson",
    "Quokkavale",
    "0488765432",
    "yb.erasure",
)


class Run:
    """Every `crm` run of the test, as the administrator; keeps all their output."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.outputs: list[str] = []

    def __call__(self, *args: str) -> str:
        done: subprocess.CompletedProcess[str] = self.pipeline.crm(*args)
        self.outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, f"crm {' '.join(args)}: {done.stderr}"
        return done.stdout


def table_dump(pg_url: str) -> str:
    """Every row of every table of the database, as PostgreSQL's COPY writes them."""
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT schemaname, tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
            tables = cur.fetchall()
            assert len(tables) >= 8, tables  # the stores, the keys and the read models
            out = []
            for schema, table in tables:
                cur.execute(f'SELECT * FROM "{schema}"."{table}"')
                out.append(repr(cur.fetchall()))
            return "\n".join(out)
    finally:
        conn.close()


def secrets(pg_url: str) -> list[bytes]:
    """The key material the vault holds, in the encodings a careless log line would use."""
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'crm_%key%'")
            found: list[bytes] = []
            for (table,) in cur.fetchall():
                cur.execute(f'SELECT * FROM "{table}"')
                for row in cur.fetchall():
                    found += [bytes(v) for v in row if isinstance(v, memoryview | bytes)]
    finally:
        conn.close()
    assert found, "no key material found to look for"
    return [
        form
        for key in found
        for form in (key, base64.b64encode(key), base64.urlsafe_b64encode(key), key.hex().encode())
    ]


def test_an_erased_customer_leaves_no_trace_on_postgresql_and_kafka(
    pipeline: Pipeline, pg_url: str
) -> None:
    crm = Run(pipeline)
    worker = pipeline.spawn("worker")
    ref = crm(
        "lodge",
        "--category",
        "pothole",
        "--channel",
        "phone",
        "--description",
        f"Pothole by {WORDS}",
        "--name",
        NAME,
        "--phone",
        PHONE,
        "--email",
        EMAIL,
        "--customer-address",
        STREET,
        "--contact",
        "email",
    ).strip()
    crm("acknowledge", ref)
    crm("note", ref, f"Rang back: {WORDS} again", "--kind", "incoming", "--channel", "phone")
    crm("assign", ref, "--team", "roads", "--officer", "o.smith")
    crm("close", ref, "--outcome", "completed", "--text", "Patched")
    crm("sla", "sweep")  # issues the notices: the outbox holds the sealed recipient
    [found] = json.loads(crm("customer", "find", "--email", EMAIL, "--json"))
    number = found["customer_id"]
    assert NAME in crm("show", ref, "--json")  # the administrator sees it before erasure

    key_forms = secrets(pg_url)
    pipeline_rt = pipeline.runtime()
    try:
        pipeline.wait_drained(pipeline_rt)
    finally:
        pipeline_rt.close()
    history = [e["type"] for e in json.loads(crm("history", ref, "--json"))]
    kpi = crm("kpi", "--by", "category", "--from", "2020-01-01", "--to", "2099-12-31", "--json")

    crm("customer", "erase", number, "--reason", "asked to be forgotten")

    rt = pipeline.runtime()
    try:
        pipeline.wait_drained(rt)
    finally:
        rt.close()
    pipeline.verify()
    assert [e["type"] for e in json.loads(crm("history", ref, "--json"))] == history
    assert (
        crm("kpi", "--by", "category", "--from", "2020-01-01", "--to", "2099-12-31", "--json")
        == kpi
    )
    shown = json.loads(crm("show", ref, "--json"))
    assert shown["customer"]["name"] == shown["description"] == "[erased]"
    exports = [
        crm("audit", "--ref", ref, "--json"),
        crm("notices", "--json"),
        crm("kpi", "--by", "category", "--from", "2020-01-01", "--to", "2099-12-31", "--csv"),
        crm("customer", "show", number, "--json"),
        crm("customer", "history", number, "--json"),
    ]
    assert worker.stop() == 0

    messages = pipeline.read_topic() + pipeline.read_topic(config=pipeline.config.for_directory())
    assert len(messages) == sum(end_offsets(pipeline.config).values()) + sum(
        end_offsets(pipeline.config.for_directory()).values()
    )
    assert any(b"Lodged" in value for _, _, _, value in messages)
    topics = b"\n".join(value for _, _, _, value in messages)
    logs = "\n".join(crm.outputs[1::2]) + worker.log_path.read_text()
    files = b"".join(p.read_bytes() for p in pipeline.data_dir.rglob("*") if p.is_file())
    assert logs.strip(), "the lifecycle wrote no log line to search"
    places = {
        "tables": table_dump(pg_url).encode(),
        "topics": topics,
        "logs": logs.encode(),
        "exports": "\n".join(exports).encode(),
        "files": files,
    }
    for place in ("tables", "topics", "logs", "exports"):  # the search finds what is there
        assert ref.encode() in places[place], f"{ref} not found in {place}"
    for value in PERSONAL:
        for place, content in places.items():
            assert value.encode() not in content, f"{value!r} found in {place}"
    for form in key_forms:
        assert form not in places["logs"], "key material in a log line"
    assert f"{pipeline.pg_url.split('@')[0]}@".encode() not in places["logs"]
