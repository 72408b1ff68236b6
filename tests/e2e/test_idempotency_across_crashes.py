"""An `Idempotency-Key` holds across what an HTTP server cannot see through: a first attempt
whose events were stored but whose answer was never kept (its process died, or its commit's
acknowledgement was lost) is never run again, and a first attempt that died before storing
anything does not hold its key for ever. On both backends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eventsourcing.persistence import OperationalError
from fastapi.testclient import TestClient

from commands import requests as cmds
from domain.values import Actor
from infra import command_claims
from infra.http import idempotency
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.fakes import FakeClock
from tests.http_support import COUNCIL, LODGE, served, sign_in

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
NOTE = {"text": "Rang the resident back"}
BODY = json.dumps(NOTE).encode()
LODGED: dict[str, uuid.UUID] = {}


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TestClient, Runtime, FakeClock]]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    clock = FakeClock()
    with served(
        make_settings(tmp_path / "data", url),
        {"cs": ["customer-service"]},
        {"cs": ["roads"]},
        clock=clock,
    ) as (client, rt):
        yield client, rt, clock


def lodged(client: TestClient, headers: dict[str, str]) -> str:
    got = client.post("/api/v1/requests", json=LODGE, headers=headers)
    assert got.status_code == 201, got.text
    LODGED[got.json()["reference"]] = uuid.UUID(got.json()["request_id"])
    return str(got.json()["reference"])


def notes(rt: Runtime, reference: str) -> int:
    """How many notes the request's stored events hold."""
    events = rt.app.repository.event_store.get(LODGED[reference])
    return sum(type(e).__name__ == "NoteAdded" for e in events)


def noted(client: TestClient, reference: str, headers: dict[str, str]) -> httpx.Response:
    return client.post(
        f"/api/v1/requests/{reference}/notes",
        content=BODY,
        headers={**headers, "Content-Type": "application/json"},
    )


def claimed(rt: Runtime, key: str, reference: str) -> None:
    """The first attempt claims `key` for a note on `reference`, as the route would."""
    path = f"/api/v1/requests/{reference}/notes"
    body = idempotency.fingerprint("POST", path, "", BODY)
    assert rt.credentials.begin(COUNCIL, "user:cs", key, body, rt.clock()) is None


def test_an_attempt_that_stored_its_note_and_died_is_never_run_again(
    api: tuple[TestClient, Runtime, FakeClock],
) -> None:
    client, rt, clock = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    claimed(rt, "note-died", ref)
    with command_claims.claiming(command_claims.digest(COUNCIL, "user:cs", "note-died")):
        cmds.add_note(
            cmds.AddNote(
                council=COUNCIL,
                reference=ref,
                actor=Actor(id="cs", role="officer"),
                text=NOTE["text"],
            ),
            rt.ports,
        )  # stored; then the process died before keeping its answer
    assert notes(rt, ref) == 1
    keyed = {**cs, "Idempotency-Key": "note-died"}
    for wait in (0, 11):  # at once, and after an unfinished attempt would count as ended
        clock.advance(minutes=wait)
        again = noted(client, ref, keyed)
        assert again.status_code == 409, again.text
        assert "carried out" in again.json()["detail"]
        assert notes(rt, ref) == 1


def test_a_note_whose_commit_acknowledgement_was_lost_is_not_added_twice(
    api: tuple[TestClient, Runtime, FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rt, _ = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    recorder = rt.app.recorder
    stores = recorder.insert_events

    def committed_then_lost(*args: object, **kwargs: object) -> object:
        stores(*args, **kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(recorder, "insert_events", committed_then_lost)
    keyed = {**cs, "Idempotency-Key": "note-lost"}
    with pytest.raises(OperationalError):
        noted(client, ref, keyed)
    monkeypatch.undo()
    assert notes(rt, ref) == 1  # it was stored
    again = noted(client, ref, keyed)
    assert again.status_code == 409 and "carried out" in again.json()["detail"], again.text
    assert notes(rt, ref) == 1


def test_an_attempt_that_died_before_storing_holds_its_key_only_for_a_while(
    api: tuple[TestClient, Runtime, FakeClock],
) -> None:
    client, rt, clock = api
    cs = sign_in(client, "cs")
    ref = lodged(client, cs)
    claimed(rt, "note-early", ref)  # and the process died before storing anything
    keyed = {**cs, "Idempotency-Key": "note-early"}
    soon = noted(client, ref, keyed)
    assert soon.status_code == 409 and "still being handled" in soon.json()["detail"]
    clock.advance(minutes=9)
    cs = sign_in(client, "cs")
    keyed = {**cs, "Idempotency-Key": "note-early"}
    assert noted(client, ref, keyed).status_code == 409
    assert notes(rt, ref) == 0
    clock.advance(minutes=2)
    done = noted(client, ref, keyed)
    assert done.status_code == 200, done.text
    replayed = noted(client, ref, keyed)
    assert replayed.json() == done.json() and replayed.headers["Idempotent-Replayed"] == "true"
    assert notes(rt, ref) == 1
