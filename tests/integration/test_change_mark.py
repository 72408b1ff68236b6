"""`views.change_mark`, what the staff pages' live stream watches: it moves when an event is
stored (embedded default) or when the read models apply one (the Kafka path), and not
otherwise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from commands import requests as cmds
from domain.lodgement import make_intake
from domain.values import Actor, Channel
from infra import views
from infra.runtime import Runtime
from projections import registry
from tests.conftest import make_settings
from tests.fakes import FakeClock


def test_on_the_embedded_default_the_mark_is_the_stores_last_position(
    tmp_path: Path, clock: FakeClock
) -> None:
    rt = Runtime(make_settings(tmp_path / "data"), clock=clock)
    try:
        assert views.change_mark(rt) == 0
        intake = make_intake(
            category="pothole",
            channel=Channel.PHONE,
            description="Hole",
            name="Ann Lee",
            phone="0400 000 000",
        )
        done = cmds.lodge_request(
            cmds.LodgeRequest(
                council="upper-lachlan",
                intake=intake,
                actor=Actor(id="cs", role="customer-service"),
            ),
            rt.ports,
        )
        assert views.change_mark(rt) == done.position > 0
        assert views.change_mark(rt) == done.position  # reading moves nothing
    finally:
        rt.close()


def test_on_the_kafka_path_the_mark_follows_what_the_read_models_applied(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        make_settings(tmp_path / "data"), kafka_bootstrap="127.0.0.1:9"
    )  # never contacted here
    rt = Runtime(settings)
    try:
        assert views.change_mark(rt) == 0
        queue, sla = registry.build("work_queue"), registry.build("sla")
        with rt.read_engine.begin() as conn:
            queue.set_position(conn, "topic:0", 7)
        assert views.change_mark(rt) == 7
        with rt.read_engine.begin() as conn:
            sla.set_position(conn, "topic:0", 7)
            queue.set_position(conn, "topic:1", 2)
        assert views.change_mark(rt) == 16
    finally:
        rt.close()
