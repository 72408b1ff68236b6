"""The soak's counts can fail: given a few of its lifecycles on the embedded store, when every
read model is up to date, then the soak counts nothing lost and nothing twice in any of them;
and when a row is removed, a counter raised or a correction undone, the count of that model
says so."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import soak
from bench.staff import add_officer
from infra.runtime import Runtime
from infra.settings import Settings
from infra.views import read_models_ready
from projections import registry
from tests.conftest import make_settings


class _Embedded:
    """What the soak's drivers ask of it, on the embedded store."""

    def __init__(self, data: Path) -> None:
        self.data = data

    def settings(self) -> Settings:
        return make_settings(self.data)


@pytest.fixture
def lifecycles(tmp_path: Path) -> Runtime:
    staff = Runtime(make_settings(tmp_path / "data"))
    try:
        add_officer(staff, soak.COUNCIL)  # the officer the lifecycles assign requests to
    finally:
        staff.close()
    tally = soak.Tally()
    driver = soak.Driver(
        _Embedded(tmp_path / "data"),  # type: ignore[arg-type]
        0,
        threading.Event(),
        tally,
        threading.Lock(),
    )
    for count in range(8):  # complaints, attachments, recategorisations, reopenings among them
        driver._lifecycle(count)
    assert (tally.lifecycles, tally.refused, tally.retries) == (8, [], 0)
    assert driver.rt is not None
    driver.rt.close()
    rt = Runtime(make_settings(tmp_path / "data"))
    read_models_ready(rt)
    return rt


def counts(rt: Runtime) -> dict[str, tuple[int, int, int]]:
    store = soak.store_events(rt)
    with rt.read_engine.connect() as conn:
        found = [soak.count_model(conn, name, store) for name in registry.READ_MODELS]
    return {c.name: (c.lost, c.twice, c.extra_requests) for c in found}


def test_every_read_model_counts_clean_and_every_fault_is_counted(lifecycles: Runtime) -> None:
    rt = lifecycles
    store = soak.store_events(rt)
    types = {t for events in store.events.values() for t in events.values()}
    assert {"AttachmentAdded", "Recategorised", "Reopened"} <= types
    assert "complaint" in store.kinds.values()
    assert counts(rt) == {name: (0, 0, 0) for name in registry.READ_MODELS}

    faults = {
        "audit_record": "DELETE FROM audit_record WHERE version = 3",
        "sla_history": "DELETE FROM sla_history WHERE version = 2",
        "request_attachments": "DELETE FROM request_attachments",
        "enquiry_statistics": "UPDATE enquiry_statistics SET type = 'pothole'",
        "complaint_register": "UPDATE complaint_register SET version = version - 1",
        "request_summary": "UPDATE request_summary SET reopens = reopens + 1",
    }
    with rt.read_engine.begin() as conn:
        for statement in faults.values():
            conn.execute(sa.text(statement))
    after = counts(rt)
    rt.close()
    for name in faults:
        assert after[name] != (0, 0, 0), name
    assert after["request_summary"][1] == len(store.events)  # one reopening too many each
    assert after["complaint_register"][0] == sum(k == "complaint" for k in store.kinds.values())
    untouched = set(registry.READ_MODELS) - set(faults)
    assert {name: after[name] for name in untouched} == {name: (0, 0, 0) for name in untouched}
