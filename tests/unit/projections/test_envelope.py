"""Decoding an envelope: whatever a message holds, decoding says what is wrong with it (it is
parked), and one from a newer release is told apart (it is waited for, not parked)."""

from __future__ import annotations

import json

import pytest

from projections import envelope as envelope_module
from projections.envelope import Envelope, EnvelopeError, NewerSchema

GOOD = {
    "schema_version": 1,
    "council": "upper-lachlan",
    "position": 7,
    "event_type": "Acknowledged",
    "request_id": "6f0c6b8e-8a52-4c55-9a43-5d1c4b0a7e21",
    "reference": "UL-2026-000001",
    "version": 2,
    "occurred_at": "2026-03-02T10:00:00+11:00",
    "recorded_at": "2026-03-02T10:00:01+11:00",
    "actor": {"id": "jsmith", "role": "officer"},
    "data": {},
}

BAD: dict[str, bytes | None] = {
    "a tombstone": None,
    "nesting too deep": b"[" * 100_000 + b"]" * 100_000,
    "not UTF-8": b"\xff\xfe{",
    "a list": b"[1, 2]",
    "a missing field": json.dumps({k: v for k, v in GOOD.items() if k != "data"}).encode(),
    "an actor that is not an object": json.dumps(GOOD | {"actor": "nobody"}).encode(),
    "a request id that is not a UUID": json.dumps(GOOD | {"request_id": 12}).encode(),
    "a version that is a string": json.dumps(GOOD | {"version": "2"}).encode(),
    "schema version 0": json.dumps(GOOD | {"schema_version": 0}).encode(),
    "schema version true": json.dumps(GOOD | {"schema_version": True}).encode(),
}


@pytest.mark.parametrize("what", BAD)
def test_a_message_that_is_not_an_envelope_is_refused_with_a_reason(what: str) -> None:
    with pytest.raises(EnvelopeError) as refused:
        Envelope.from_json(BAD[what])
    assert not isinstance(refused.value, NewerSchema)
    assert str(refused.value)


def test_an_envelope_from_a_newer_release_is_told_apart() -> None:
    newer_version = envelope_module.SCHEMA_VERSION + 1
    with pytest.raises(NewerSchema) as newer:
        Envelope.from_json(json.dumps(GOOD | {"schema_version": newer_version, "more": 1}).encode())
    assert newer.value.version == newer_version


def test_an_upgraded_reader_still_reads_older_envelopes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope_module, "SCHEMA_VERSION", envelope_module.SCHEMA_VERSION + 1)
    assert Envelope.from_json(json.dumps(GOOD).encode()).version == 2
