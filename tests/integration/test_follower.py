"""The in-process follower: concurrent catch-ups of the same read models never collide."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from commands import requests as cmds
from consumers import follower, operations
from consumers.store_reader import StoreReader
from domain.lodgement import Intake
from domain.values import Actor, Channel, Customer
from infra.runtime import Runtime
from projections import registry

OFFICER = Actor(id="cs.officer", role="officer")


def lodge_many(rt: Runtime, n: int) -> None:
    for i in range(n):
        intake = Intake(
            category="pothole",
            channel=Channel.PHONE,
            description=f"Pothole number {i}",
            customer=Customer(name="Jo Citizen", phone="0400 000 000"),
        )
        result = cmds.lodge_request(
            cmds.LodgeRequest(council="upper-lachlan", intake=intake, actor=OFFICER), rt.ports
        )
        cmds.delay_request(
            cmds.DelayRequest(
                council="upper-lachlan",
                reference=result.reference,
                actor=OFFICER,
                reason="Crew away",
                until=date(2026, 6, 30),
            ),
            rt.ports,
        )


def catch_up_concurrently(runtimes: list[Runtime]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(runtimes))

    def run(rt: Runtime) -> None:
        try:
            barrier.wait()
            follower.catch_up(StoreReader(rt.app), rt.read_engine, registry.build_all(), 7)
        except BaseException as e:  # noqa: BLE001 - the test reports any failure
            errors.append(e)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_processes_catching_up_at_once_apply_every_event_once(
    backend: str, request: pytest.FixtureRequest, tmp_path, clock
) -> None:
    first: Runtime = request.getfixturevalue(f"{'sqlite' if backend == 'sqlite' else 'pg'}_runtime")
    second = Runtime(first.settings, clock=clock)
    try:
        lodge_many(first, 30)
        follower.ensure_tables(first.read_engine, registry.build_all())

        errors = catch_up_concurrently([first, second])

        assert errors == []
        drifts = operations.verify(
            StoreReader(first.app), first.read_engine, list(registry.READ_MODELS)
        )
        assert [d.differences for d in drifts] == [[] for _ in drifts]
    finally:
        second.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_rebuild_is_switched_in_whole_with_its_indexes_and_twice_in_a_row(
    backend: str, request: pytest.FixtureRequest
) -> None:
    rt: Runtime = request.getfixturevalue(f"{'sqlite' if backend == 'sqlite' else 'pg'}_runtime")
    lodge_many(rt, 5)
    reader = StoreReader(rt.app)
    follower.ensure_tables(rt.read_engine, registry.build_all())
    follower.catch_up(reader, rt.read_engine, registry.build_all())
    for _ in range(2):  # the second build reuses the `next_` names the first gave up
        for name in registry.READ_MODELS:
            assert operations.rebuild(reader, rt.read_engine, name) == 10
    inspector = sa.inspect(rt.read_engine)
    tables = set(inspector.get_table_names())
    assert not [t for t in tables if t.startswith(operations.NEXT_PREFIX)]
    for model in registry.build_all():
        for table in model.metadata.sorted_tables:
            assert table.name in tables
            indexes = {i["name"] for i in inspector.get_indexes(table.name)}
            assert indexes == {i.name for i in table.indexes}, table.name
    drifts = operations.verify(reader, rt.read_engine, list(registry.READ_MODELS))
    assert all(d.ok for d in drifts), drifts
