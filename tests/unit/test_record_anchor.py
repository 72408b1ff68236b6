"""The council's record key and anchors: the key file is private and never replaced; an anchor
verifies under the council's key only as signed, and for its own council."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra import record_anchor
from infra.record_anchor import AnchorRejected, RecordKeyError
from projections.record_chain import Head

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HEADS = {
    "requests": Head(log="requests", position=12, event_count=11, head_hash="ab" * 32),
    "directory": Head(log="directory", position=3, event_count=3, head_hash="cd" * 32),
}


def test_a_new_key_is_private_to_its_owner_and_its_public_half_sits_beside_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "upper-lachlan.ed25519"
    printed = record_anchor.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    public = record_anchor.load_public(record_anchor.public_path(path))
    assert record_anchor.fingerprint(public) == printed
    assert record_anchor.fingerprint(record_anchor.load_private(path).public_key()) == printed


def test_an_existing_key_is_never_replaced_and_an_exposed_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "council.ed25519"
    record_anchor.generate(path)
    before = path.read_bytes()
    with pytest.raises(RecordKeyError, match="exists already"):
        record_anchor.generate(path)
    assert path.read_bytes() == before
    path.chmod(0o644)
    with pytest.raises(RecordKeyError, match="readable by others"):
        record_anchor.load_private(path)


def test_an_anchor_reads_back_as_signed_and_nothing_else_does(tmp_path: Path) -> None:
    path = tmp_path / "council.ed25519"
    record_anchor.generate(path)
    key = record_anchor.load_private(path)
    anchor = record_anchor.sign(key, "upper-lachlan", HEADS, AT)
    text = json.dumps(anchor)
    manifest = record_anchor.read(text, key.public_key(), "upper-lachlan")
    assert manifest["position"] == {"requests": 12, "directory": 3}
    assert manifest["event_count"]["requests"] == 11 and manifest["time"] == AT.isoformat()

    def rejected(changed: dict[str, object], council: str = "upper-lachlan") -> str:
        with pytest.raises(AnchorRejected) as caught:
            record_anchor.read(json.dumps(changed), key.public_key(), council)
        return caught.value.kind

    assert rejected({**anchor, "event_count": {"requests": 12, "directory": 3}}) == "forged"
    assert rejected({**anchor, "signature": anchor["signature"][:-4] + "AAA="}) == "forged"
    assert rejected({k: v for k, v in anchor.items() if k != "signature"}) == "forged"
    other = tmp_path / "other.ed25519"
    record_anchor.generate(other)
    assert (
        rejected(record_anchor.sign(record_anchor.load_private(other), "upper-lachlan", HEADS, AT))
        == "forged"
    )
    assert rejected(anchor, council="canterbury") == "foreign"
