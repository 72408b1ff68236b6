"""`Lodged` version 2 (`media_url`) reads version-1 events, stored before it existed, exactly as
they were, with no link."""

from __future__ import annotations

import dataclasses

from domain.aggregates.service_request import ServiceRequest
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from tests.fakes import FakeClock
from tests.unit.projections.story import OFFICER, EventLog


def test_a_version_1_lodgement_reads_back_with_no_media_url() -> None:
    log = EventLog(load_council(PROJECT_ROOT / "config", "upper-lachlan"), FakeClock())
    try:
        story = log.lodge(at=FakeClock()(), actor=OFFICER)
        [lodged] = log.app.repository.event_store.get(story.request.id)
        mapper = log.app.mapper
        stored = mapper.to_stored_event(lodged)
        state = mapper.transcoder.decode(stored.state)
        assert state.pop("class_version") == 2 and state.pop("media_url") is None
        as_v1 = dataclasses.replace(stored, state=mapper.transcoder.encode(state))

        read = mapper.to_domain_event(as_v1)

        assert isinstance(read, ServiceRequest.Lodged) and read.media_url is None
        assert read.reference == lodged.reference and read.location == lodged.location
    finally:
        log.close()
