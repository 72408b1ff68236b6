"""The corrections' council policy (`[corrections]`, `[agencies.*]`) and its rules
(`domain/corrections.py`), without a store."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.correction_policy import CorrectionPolicy, TargetsOnRecategorise
from domain.corrections import recategorisation, reopened_complete_by
from domain.standards import due_instants, recorded, standard_for
from domain.values import Channel, RequestKind
from infra.config import load_council
from tests.unit.test_config import CONFIG_DIR, VALID, load_error, write_council

SYDNEY = ZoneInfo("Australia/Sydney")
RECEIVED = datetime(2026, 3, 2, 10, 0, tzinfo=SYDNEY)  # Monday


def test_upper_lachlan_reopens_with_five_days_keeps_targets_and_lists_its_agencies() -> None:
    """Seed 002 (scope): matters outside Council's jurisdiction are referred to the
    appropriate external contact — the directory names each with a way to reach it."""
    c = load_council(CONFIG_DIR, "upper-lachlan")
    assert c.corrections == CorrectionPolicy(
        reopen_complete_days=5, recategorise_targets=TargetsOnRecategorise.KEEP
    )
    assert {"transport-nsw", "essential-energy", "waternsw", "nsw-epa"} <= set(c.agencies)
    assert all(a.contact for a in c.agencies.values())
    with pytest.raises(KeyError, match="unknown agency 'nasa'.*transport-nsw"):
        c.agency("nasa")


def test_a_council_without_corrections_keeps_targets_and_has_no_agencies(tmp_path: Path) -> None:
    write_council(tmp_path, VALID)
    c = load_council(tmp_path, "testshire")
    assert c.corrections == CorrectionPolicy()
    assert c.agencies == {}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[corrections]\nrecategorise_targets = "maybe"\n', "corrections.recategorise_targets"),
        ("[corrections]\nreopen_complete_days = -1\n", "corrections.reopen_complete_days"),
        ('[agencies.water]\nname = "Water Co"\n', "agencies.water.phone"),
        ('[agencies.water]\nphone = "1300 000 000"\n', "agencies.water.name"),
    ],
)
def test_a_bad_corrections_policy_or_agency_is_refused_naming_the_field(
    tmp_path: Path, text: str, field: str
) -> None:
    path, message = load_error(tmp_path, VALID + "\n" + text)
    assert str(path) in message and field in message


def test_a_reopened_request_is_due_the_councils_days_after_reopening_or_its_own_target() -> None:
    c = load_council(CONFIG_DIR, "upper-lachlan")
    standard = recorded(standard_for(c, "pothole", Channel.PHONE, False), RECEIVED, RECEIVED)
    reopened = datetime(2026, 3, 4, 11, 0, tzinfo=SYDNEY)  # Wednesday
    assert reopened_complete_by(standard, c.corrections, reopened) == datetime(
        2026, 3, 11, 16, 30, tzinfo=SYDNEY
    )
    # no council figure: the category's 20 days, counted from the reopening
    assert reopened_complete_by(standard, CorrectionPolicy(), reopened) == datetime(
        2026, 4, 1, 16, 30, tzinfo=SYDNEY
    )
    assert reopened_complete_by(None, c.corrections, reopened) is None
    untargeted = replace(standard, complete_days=None)  # imported history, say
    assert reopened_complete_by(untargeted, c.corrections, reopened) is None


def test_recategorising_under_new_takes_the_new_categorys_standard_counted_from_receipt() -> None:
    """A pothole (20 days, due 30 March) recategorised as a missed bin (2 days): under `new`
    it is due the close of Wednesday 4 March, as if lodged as one; under `keep`, still 30
    March. Either way it goes to the new category's team."""
    c = load_council(CONFIG_DIR, "upper-lachlan")
    pothole = recorded(standard_for(c, "pothole", Channel.PHONE, False), RECEIVED, RECEIVED)
    due = due_instants(pothole, RECEIVED)
    kwargs: dict[str, Any] = {
        "category": "missed-bin",
        "channel": Channel.PHONE,
        "kind": RequestKind.SERVICE_REQUEST,
        "urgent": False,
        "current": pothole,
        "acknowledge_by": due.acknowledge_by,
        "complete_by": due.complete_by,
        "received_at": RECEIVED,
        "now": RECEIVED,
    }
    kept = recategorisation(c, **kwargs)
    assert (kept.team, kept.complete_by, kept.targets) == (
        "waste",
        datetime(2026, 3, 30, 16, 30, tzinfo=SYDNEY),
        TargetsOnRecategorise.KEEP,
    )
    assert kept.standard is not None and kept.standard.complete_days == 20
    assert kept.standard.category == "missed-bin"

    policy = CorrectionPolicy(recategorise_targets=TargetsOnRecategorise.NEW)
    new = recategorisation(replace(c, corrections=policy), **kwargs)
    assert (new.team, new.complete_by, new.targets) == (
        "waste",
        datetime(2026, 3, 4, 16, 30, tzinfo=SYDNEY),
        TargetsOnRecategorise.NEW,
    )
    assert new.standard is not None and new.standard.complete_days == 2
    agreed = recategorisation(
        replace(c, corrections=policy), **{**kwargs, "agreed_completion": date(2026, 3, 20)}
    )
    assert agreed.complete_by == datetime(2026, 3, 20, 16, 30, tzinfo=SYDNEY)  # still agreed
    with pytest.raises(KeyError, match="unknown category 'volcano'"):
        recategorisation(c, **{**kwargs, "category": "volcano"})
