"""The councils' rules on enquiries and attachments (`[enquiry_types]`, `[attachments]`), and
sealing a document's bytes under a data key (`seal_bytes` / `open_bytes`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.council import SEED_002_ENQUIRY_TYPES
from infra.config import ConfigError, load_council
from infra.keys import KeyVault
from infra.runtime import make_engine
from infra.settings import PROJECT_ROOT
from tests.unit.test_config import VALID, write_council

AT = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Australia/Sydney"))


def test_seed_002_lists_what_is_not_a_service_request() -> None:
    upper_lachlan = load_council(PROJECT_ROOT / "config", "upper-lachlan")
    assert set(upper_lachlan.enquiry_types) == {
        "rates",
        "planning",
        "certificate",
        "permit",
        "road-closure",
        "gipa",
    }
    # a council that configures none keeps seed 002's list; Greater Dandenong keeps its own
    assert load_council(PROJECT_ROOT / "config", "kalamunda").enquiry_types == dict(
        SEED_002_ENQUIRY_TYPES
    )
    assert "payment" in load_council(PROJECT_ROOT / "config", "greater-dandenong").enquiry_types


def test_attachment_rules_are_read_and_checked(tmp_path: Path) -> None:
    write_council(
        tmp_path, VALID + '\n[attachments]\nmax_bytes = 2048\nmedia_types = ["image/png"]\n'
    )
    rule = load_council(tmp_path, "testshire").attachments
    assert rule.max_bytes == 2048 and rule.media_types == frozenset({"image/png"})
    write_council(tmp_path, VALID + '\n[attachments]\nmedia_types = ["PNG"]\n')
    with pytest.raises(ConfigError, match=r"attachments.media_types\[0\]"):
        load_council(tmp_path, "testshire")
    write_council(tmp_path, VALID + "\n[attachments]\nmax_bytes = 0\n")
    with pytest.raises(ConfigError, match="attachments.max_bytes"):
        load_council(tmp_path, "testshire")


def test_sealed_bytes_open_intact_fail_when_altered_and_die_with_their_key(tmp_path: Path) -> None:
    vault = KeyVault(make_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}"))
    key = uuid.uuid4()
    content = bytes(range(256)) * 10
    blob = vault.sealer(key, "upper-lachlan", AT).seal_bytes(content)
    assert content not in blob and str(key).encode() in blob
    assert vault.opener().open_bytes(blob) == content
    altered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(ValueError, match="fail authentication"):
        vault.opener().open_bytes(altered)
    with pytest.raises(ValueError, match="not sealed bytes"):
        vault.opener().open_bytes(content)
    vault.destroy(key)
    assert vault.opener().open_bytes(blob) is None
    vault.engine.dispose()
