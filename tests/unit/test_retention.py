"""Retention classes in council configuration, and when a closed request falls due for
disposal: counted in years from the day it closed in the council's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from domain.permissions import default_permissions
from domain.retention import RetentionClass, add_years, disposal_due
from infra.config import load_council
from tests.unit.test_config import CONFIG_DIR, SEEDED, SHIPPED, VALID, edit, load_error

ROUTINE = RetentionClass(code="routine", years=2, citation="GA39 (NSW): routine")
RETENTION = """
[retention]
default = "routine"

[retention.classes.routine]
years = 2
citation = "GA39 (NSW): routine requests"

[retention.classes.assets]
years = 7
citation = "GA39 (NSW): council assets"
"""


def test_a_year_later_is_the_same_day_and_29_february_becomes_28() -> None:
    assert add_years(date(2020, 3, 2), 2) == date(2022, 3, 2)
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_the_period_runs_from_the_local_day_of_closure() -> None:
    # 1 March 2020 23:30 UTC is already 2 March in Sydney (AEDT, UTC+11)
    late = datetime(2020, 3, 1, 23, 30, tzinfo=UTC)
    assert disposal_due(late, ROUTINE, "Australia/Sydney") == date(2022, 3, 2)
    assert disposal_due(late, ROUTINE, "America/New_York") == date(2022, 3, 1)


@pytest.mark.parametrize("council_id", SHIPPED)
def test_every_shipped_category_has_a_retention_class_citing_its_authority(
    council_id: str,
) -> None:
    council = load_council(CONFIG_DIR, council_id)
    authority = {
        "NSW": "GA39",
        "VIC": "PROS",
        "WA": "General Disposal Authority for Local Government",
        "MA": "Massachusetts",
    }[council.state]
    for code in council.categories:
        found = council.retention_of(code)
        assert found is not None and found.years >= 1 and authority in found.citation
    assert council.retention_of("imported:anything") == council.retention_classes["routine"]
    if council_id in SEEDED:
        assert council.retention_of("pothole") == council.retention_classes["assets"]


def test_a_category_takes_its_own_class_or_the_default(tmp_path: Path) -> None:
    text = edit(VALID + RETENTION, 'code = "pothole"\n', 'code = "pothole"\nretention = "assets"\n')
    (tmp_path / "councils").mkdir()
    (tmp_path / "councils" / "testshire.toml").write_text(text, encoding="utf-8")
    council = load_council(tmp_path, "testshire")
    assert council.retention_of("pothole") == RetentionClass(
        code="assets", years=7, citation="GA39 (NSW): council assets"
    )
    assert council.retention_of("new-garbage-bin").code == "routine"  # type: ignore[union-attr]
    assert load_council_without_retention(tmp_path).retention_of("pothole") is None


def load_council_without_retention(tmp_path: Path) -> object:
    (tmp_path / "councils" / "testshire.toml").write_text(VALID, encoding="utf-8")
    return load_council(tmp_path, "testshire")


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            'code = "pothole"\n',
            'code = "pothole"\nretention = "forever"\n',
            "categories.pothole.retention: unknown retention class 'forever'",
        ),
        ('default = "routine"', 'default = "later"', "retention.default: unknown retention class"),
        ('default = "routine"\n', "", "retention.default: is required while a category names no"),
        ("years = 7", "years = -1", "retention.classes.assets.years: must not be negative"),
        (
            'citation = "GA39 (NSW): council assets"',
            'citation = " "',
            "retention.classes.assets.citation: must name the disposal authority's class",
        ),
        ("years = 7\n", "", "retention.classes.assets.years: is required"),
    ],
)
def test_a_broken_retention_section_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    path, error = load_error(tmp_path, edit(VALID + RETENTION, old, new))
    assert error.startswith(str(path)) and says in error, error


def test_only_records_officers_dispose_by_default() -> None:
    table = default_permissions(("officer", "director"))
    holders = {role for role in table.roles if table.allows(role, "dispose")}
    assert holders == {"records-officer"}
    assert table.allows("administrator", "record") and not table.allows("administrator", "dispose")


def test_an_anonymous_request_is_disposed_of_by_destroying_its_own_key(
    tmp_path: Path,
) -> None:
    """Boston takes anonymous requests: sealed under a key of their own, which disposal
    destroys (no customer record to erase); the certificate says so."""
    from commands import requests as cmds
    from commands import retention
    from domain.errors import DisposalRefused
    from domain.lodgement import make_intake
    from domain.values import Actor, Channel
    from infra import views
    from infra.runtime import Runtime
    from tests.conftest import make_settings
    from tests.fakes import FakeClock

    clock = FakeClock(datetime(2020, 3, 2, 15, 0, tzinfo=UTC))
    rt = Runtime(make_settings(tmp_path / "data"), clock=clock)
    staff, records = (
        Actor(id="cs", role="customer-service"),
        Actor(id="rec", role="records-officer"),
    )
    try:
        intake = make_intake(
            category="animal-noise",
            channel=Channel.PHONE,
            description="Dog barking all night at the corner",
        )
        ref = cmds.lodge_request(
            cmds.LodgeRequest(council="boston", intake=intake, actor=staff), rt.ports
        ).reference
        cmds.handle(
            cmds.CloseRequest(
                council="boston",
                reference=ref,
                actor=staff,
                outcome="completed",
                text="Spoke to the owner",
            ),
            rt.ports,
        )
        c = rt.ports.council("boston")
        sealed = views.load_request(rt, c, ref).description
        assert rt.vault.opener().open(sealed) == "Dog barking all night at the corner"

        def dispose() -> retention.Disposal:
            return retention.dispose_request(
                retention.DisposeRequest(
                    council="boston", reference=ref, reason="Run 2022", actor=records
                ),
                rt.ports,
                lambda _c, _n: [],
            )

        clock.set(datetime(2022, 3, 1, 15, 0, tzinfo=UTC))  # the day before it falls due
        with pytest.raises(DisposalRefused, match="kept until 2022-03-02"):
            dispose()
        assert rt.vault.opener().open(sealed) is not None
        clock.set(datetime(2022, 3, 2, 15, 0, tzinfo=UTC))
        done = dispose()
        assert (done.disposed, done.erased, done.customer) == ((ref,), "request", None)
        assert rt.vault.opener().open(sealed) is None
        request = views.load_request(rt, c, ref)
        assert request.disposed_at == datetime(2022, 3, 2, 15, 0, tzinfo=UTC)
    finally:
        rt.close()
