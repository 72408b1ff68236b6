"""The timeline and the record export on both stores: each step's chain entry found and
matching the event as stored, the export verified; after an event's stored bytes change, the
timeline flags that step and the export says the record does not verify."""

from __future__ import annotations

import sqlalchemy as sa

from commands import requests as cmds
from domain.lodgement import Intake
from domain.permissions import Viewer
from domain.values import Actor, Channel, ContactMethod, Customer
from infra.record_export import record_export
from infra.runtime import Runtime, make_engine
from infra.timeline import request_timeline
from infra.views import read_models_ready
from tests.fakes import FakeClock

COUNCIL = "upper-lachlan"
OFFICER = Actor(id="o.smith", role="officer")
RECORDS = Viewer(
    user_id="rec", role="records-officer", roles=frozenset({"records-officer"}), teams=frozenset()
)


def test_the_timeline_and_the_export_see_the_chain_on_each_store(
    any_runtime: Runtime, clock: FakeClock
) -> None:
    rt = any_runtime
    intake = Intake(
        category="pothole",
        channel=Channel.COUNTER,
        description="Pothole",
        customer=Customer(
            name="Ann Lee", phone="0400 000 000", preferred_contact=ContactMethod.PHONE
        ),
    )
    ref = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    ).reference
    clock.advance(hours=2)
    cmds.handle(cmds.AcknowledgeRequest(council=COUNCIL, reference=ref, actor=OFFICER), rt.ports)
    c = rt.ports.council(COUNCIL)

    tl = request_timeline(rt, c, RECORDS, ref, "test")
    assert tl["chain"] == {"entries": 2, "matching": 2, "steps": 2}
    assert tl["steps"][1]["since_lodgement"]["business"] == "0d 2h 0m"
    assert record_export(rt, c, RECORDS, "test", reference=ref)["verification"]["ok"]

    read_models_ready(rt)
    if rt.settings.is_postgres:  # one byte of the acknowledgement as stored
        url, table = rt.settings.sqlalchemy_url("read"), "councilcrm_events"
    else:
        url, table = f"sqlite:///{rt.settings.data_dir / 'events.sqlite3'}", "stored_events"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            where = f"FROM {table} WHERE originator_version = 2"
            state = bytes(conn.execute(sa.text(f"SELECT state {where}")).scalar_one())
            assert b'"o.smith"' in state  # someone else's name put on the acknowledgement
            conn.execute(
                sa.text(f"UPDATE {table} SET state = :s WHERE originator_version = 2"),
                {"s": state.replace(b'"o.smith"', b'"o.smitH"')},
            )
    finally:
        engine.dispose()
    tl = request_timeline(rt, c, RECORDS, ref, "test")
    assert [s["chain_matches"] for s in tl["steps"]] == [True, False]
    ex = record_export(rt, c, RECORDS, "test", reference=ref)
    assert not ex["verification"]["ok"]
    assert any("altered" in f for f in ex["verification"]["findings"])
