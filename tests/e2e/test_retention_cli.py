"""`crm record due-for-disposal` and `crm record dispose`: closed requests past their retention
are listed; a records officer disposes of one, which erases its customer's personal data through
the customer erasure and records a disposal certificate; the chain still verifies. On SQLite and
on PostgreSQL.

The requests are lodged and closed in March 2020 on a fake clock; the CLI then runs on the wall
clock (2026 or later): Upper Lachlan keeps routine requests 2 years and requests about roads and
trees 7 years after closure (`[retention]` in its configuration).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from commands import requests as cmds
from domain.lodgement import make_intake
from domain.values import Actor, Channel
from infra import cli
from infra.runtime import Runtime
from tests.conftest import SYDNEY, TEST_ADMIN, add_staff, make_settings
from tests.fakes import FakeClock

COUNCIL = "upper-lachlan"
ADMIN = Actor(id=TEST_ADMIN, role="administrator")
LODGED = datetime(2020, 3, 2, 10, 0, tzinfo=SYDNEY)  # closed the same day: 2 March 2020


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


Crm = Callable[..., Ran]


@dataclass(frozen=True)
class Story:
    """Ann: a pothole (7 years). Bea: a barking dog and a missed bin (2 years each). Cal: a
    missed bin closed, and a barking dog still open."""

    pothole: str
    dog: str
    bin: str
    cal_bin: str
    cal_dog: str
    bea: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def story(tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch) -> Story:
    for name in ("CRM_KAFKA_BOOTSTRAP", "CRM_COUNCIL", "CRM_ACTOR", "CRM_ROLE", "CRM_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    if database:
        monkeypatch.setenv("CRM_DATABASE_URL", database)
    else:
        monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    settings = make_settings(tmp_path / "data", database)
    add_staff(settings, COUNCIL, {"rec": ["records-officer"]})
    rt = Runtime(settings, clock=FakeClock(LODGED))
    try:

        def lodge(category: str, name: str, phone: str, customer: str | None = None) -> Any:
            intake = make_intake(
                category=category,
                channel=Channel.PHONE,
                description=f"{category} reported by phone",
                name=None if customer else name,
                phone=None if customer else phone,
                customer_number=customer,
            )
            return cmds.lodge_request(
                cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=ADMIN), rt.ports
            )

        def close(ref: str) -> None:
            cmds.handle(
                cmds.CloseRequest(
                    council=COUNCIL, reference=ref, actor=ADMIN, outcome="completed", text="Done"
                ),
                rt.ports,
            )

        pothole = lodge("pothole", "Ann Quillfeather", "0400 111 001").reference
        dog = lodge("barking-dog", "Bea Marrowick", "0400 111 002")
        bin_ = lodge("missed-bin", "", "", customer=dog.customer).reference
        cal_bin = lodge("missed-bin", "Cal Ostrander", "0400 111 003")
        cal_dog = lodge("barking-dog", "", "", customer=cal_bin.customer).reference
        for ref in (pothole, dog.reference, bin_, cal_bin.reference):
            close(ref)
        return Story(
            pothole=pothole,
            dog=dog.reference,
            bin=bin_,
            cal_bin=cal_bin.reference,
            cal_dog=cal_dog,
            bea=dog.customer,
        )
    finally:
        rt.close()


@pytest.fixture
def crm(story: Story, capsys: pytest.CaptureFixture[str]) -> Iterator[Crm]:
    logs = structlog.get_config()

    def run(*args: str, user: str = "rec") -> Ran:
        capsys.readouterr()
        code = cli.main(["--council", COUNCIL, "--as", user, *args])
        got = capsys.readouterr()
        return Ran(code, got.out, got.err)

    yield run
    structlog.configure(**logs)


def due(crm: Crm, *args: str) -> dict[str, dict[str, Any]]:
    ran = crm("record", "due-for-disposal", "--json", *args)
    assert ran.code == 0, ran.err
    return {r["reference"]: r for r in json.loads(ran.out)}


def stored(crm: Crm, ref: str) -> list[str]:
    ran = crm("history", ref, "--json")
    assert ran.code == 0, ran.err
    return [e["type"] for e in json.loads(ran.out)]


def test_closed_requests_past_their_retention_are_listed_with_what_holds_them(
    crm: Crm, story: Story
) -> None:
    listed = due(crm)
    assert set(listed) == {story.dog, story.bin, story.cal_bin}  # the pothole: until 2027
    assert listed[story.dog]["retention_class"] == "routine"
    assert listed[story.dog]["due_on"] == "2022-03-02"
    assert listed[story.dog]["waits_for"] == []
    assert listed[story.cal_bin]["waits_for"] == [story.cal_dog]  # still open
    assert set(due(crm, "--on", "2027-03-02")) == set(listed) | {story.pothole}
    assert due(crm, "--on", "2022-03-01") == {}
    table = crm("record", "due-for-disposal")
    assert table.code == 0 and story.dog in table.out and "routine" in table.out


def test_a_request_not_due_open_or_holding_anothers_data_is_refused_and_nothing_changes(
    crm: Crm, story: Story
) -> None:
    cases = {
        story.pothole: "kept until 2027-03-02",
        story.cal_dog: "still open",
        story.cal_bin: f"still needed by their other requests: {story.cal_dog} (open)",
    }
    for ref, says in cases.items():
        before = stored(crm, ref)
        ran = crm("record", "dispose", ref, "--reason", "Disposal run 2026")
        assert ran.code == 2, ran.err
        assert says in ran.err and ran.out == ""
        assert stored(crm, ref) == before
    assert crm("customer", "show", story.bea, "--json").code == 0
    ran = crm("record", "dispose", story.dog, "--reason", "Disposal run", user=TEST_ADMIN)
    assert ran.code == 1 and "may not run `dispose`" in ran.err
    assert crm("record", "dispose", story.dog, "--reason", " ").code == 2
    assert set(due(crm)) == {story.dog, story.bin, story.cal_bin}


def test_disposal_erases_the_customer_certifies_each_request_and_the_chain_verifies(
    crm: Crm, story: Story
) -> None:
    assert "Bea Marrowick" in crm("show", story.bin, "--json").out
    ran = crm("record", "dispose", story.dog.lower(), "--reason", "Disposal run 2026 under GA39")
    assert ran.code == 0, ran.err
    assert f"disposed of {story.dog}, {story.bin}" in ran.out
    assert f"customer {story.bea}'s personal data erased" in ran.out

    for ref in (story.dog, story.bin):
        history = json.loads(crm("history", ref, "--json").out)
        certificate = history[-1]
        assert certificate["type"] == "Disposed"
        assert certificate["actor"] == {"id": "rec", "role": "records-officer"}
        data = certificate["data"]
        assert (data["retention_class"], data["retention_years"], data["due_on"]) == (
            "routine",
            2,
            "2022-03-02",
        )
        assert (data["erased"], data["customer"], data["asked_for"]) == (
            "customer",
            story.bea,
            story.dog,
        )
        assert data["reason"] == "Disposal run 2026 under GA39" and "GA39" in data["citation"]
        shown = crm("show", ref, "--json").out
        assert "Bea Marrowick" not in shown and "0400 111 002" not in shown

    audit = json.loads(crm("audit", "--ref", story.dog, "--json").out)
    assert "Disposed of: retention class routine (2 years, due 2022-03-02)" in audit[-1]["summary"]
    customer = json.loads(crm("customer", "show", story.bea, "--json").out)
    assert customer["erased_at"]
    assert set(due(crm)) == {story.cal_bin}
    again = crm("record", "dispose", story.bin, "--reason", "Again")
    assert again.code == 2 and "was disposed of on" in again.err
    verified = crm("record", "verify")
    assert verified.code == 0, verified.out + verified.err
    assert crm("projections", "verify", user=TEST_ADMIN).code == 0


def test_every_command_on_a_disposed_request_is_refused_and_changes_nothing(
    crm: Crm, story: Story, tmp_path: Path
) -> None:
    ran = crm("record", "dispose", story.dog, "--reason", "Disposal run 2026")
    assert ran.code == 0, ran.err
    letter = tmp_path / "letter.txt"
    letter.write_text("A letter from the resident")
    commands = [
        ("reopen", story.dog, "--reason", "The dog barks again"),
        ("note", story.dog, "Rang the owner"),
        ("acknowledge", story.dog),
        ("assign", story.dog, "--team", "roads"),
        ("close", story.dog, "--outcome", "completed", "--text", "Done"),
        ("recategorise", story.dog, "--category", "missed-bin", "--reason", "A bin"),
        ("publish", story.dog, "--text", "A barking dog"),
        ("attach", story.dog, str(letter), "--type", "text/plain"),
        ("link", story.dog, "--duplicate-of", story.pothole),
        ("link", story.pothole, "--duplicate-of", story.dog),
        ("refer", story.dog, "--agency", "transport-nsw", "--reason", "A state road"),
    ]
    before = {ref: stored(crm, ref) for ref in (story.dog, story.pothole)}
    for command in commands:
        ran = crm(*command, user=TEST_ADMIN)
        assert ran.code == 2, (command, ran.out, ran.err)
        assert f"request {story.dog} was disposed of on" in ran.err and ran.out == ""
    assert {ref: stored(crm, ref) for ref in before} == before
    verified = crm("record", "verify")
    assert verified.code == 0, verified.out + verified.err
