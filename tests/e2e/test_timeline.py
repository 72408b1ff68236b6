"""The investigation timeline and the record exports, against figures worked out by hand.

Upper Lachlan (Australia/Sydney, 08:00–16:30, 8.5 h business days, NSW public holidays).
Easter 2026: Good Friday 3 April, Easter Saturday 4, Easter Sunday 5 (daylight saving ends
that night: AEDT +11 → AEST +10), Easter Monday 6. In October daylight saving starts on
Sunday 4 (AEST → AEDT) and Monday 5 is Labour Day. A calendar that took the offset of the
lodgement for the whole span would be an hour out on each side of the change.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from commands import requests as cmds
from commands.notices import Notice, SendNotice, send_notice
from domain.lodgement import Intake
from domain.permissions import Viewer
from domain.values import Actor, Channel, ContactMethod, Customer, NoticeKind
from infra import cli, reports
from infra.record_export import record_export
from infra.runtime import Runtime
from infra.timeline import request_timeline
from projections.audit_record import AuditRecord
from tests.conftest import TEST_ADMIN, add_staff, make_settings
from tests.fakes import FakeClock
from tests.http_support import served, sign_in

SYDNEY = ZoneInfo("Australia/Sydney")
COUNCIL = "upper-lachlan"
NAME = "Zoë Ångström-Nguyễn"
DESK = Actor(id="cs.officer", role="customer-service")
OFFICER = Actor(id="o.smith", role="officer")
WATCHDOG = Actor(id="system:sla-watchdog", role="system")
STAFF = {"rec": ["records-officer"], "ana": ["analyst"], "o.smith": ["officer"]}


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An instant given as Sydney's wall clock."""
    return datetime(year, month, day, hour, minute, tzinfo=SYDNEY).astimezone(UTC)


def viewer(user: str, role: str) -> Viewer:
    return Viewer(user_id=user, role=role, roles=frozenset({role}), teams=frozenset())


class Outbox:
    def deliver(self, notice: Notice) -> None:
        pass


class Story:
    """Moves the fake clock to each step's instant and records it."""

    def __init__(self, rt: Runtime, clock: FakeClock) -> None:
        self.rt, self.clock = rt, clock

    def lodge(self, when: datetime, category: str) -> str:
        self.clock.set(when)
        intake = Intake(
            category=category,
            channel=Channel.PHONE,
            description="Bin not collected — the whole street",
            customer=Customer(
                name=NAME, email="zoe@example.org", preferred_contact=ContactMethod.EMAIL
            ),
        )
        return cmds.lodge_request(
            cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=DESK), self.rt.ports
        ).reference

    def do(self, when: datetime, make: Any, reference: str, **fields: Any) -> None:
        self.clock.set(when)
        cmds.handle(make(council=COUNCIL, reference=reference, **fields), self.rt.ports)

    def notify(self, when: datetime, reference: str, notice: NoticeKind) -> None:
        self.clock.set(when)
        send_notice(
            SendNotice(council=COUNCIL, reference=reference, actor=WATCHDOG, notice=notice),
            self.rt.ports,
            Outbox(),
        )


@pytest.fixture(scope="module")
def served_story(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, Runtime, FakeClock, dict[str, str]]]:
    """Given two requests worked through Easter and the October long weekend, with the
    clock left at Wednesday 4 November 2026, 10:00 AEDT."""
    clock = FakeClock(local(2026, 4, 2, 15, 0))
    settings = make_settings(tmp_path_factory.mktemp("timeline") / "data")
    with served(settings, STAFF, {"o.smith": ["waste"]}, clock=clock) as (client, rt):
        story = Story(rt, clock)
        # Easter: a missed bin (2 business days), delayed, escalated, closed late.
        easter = story.lodge(local(2026, 4, 2, 15, 0), "missed-bin")
        story.do(local(2026, 4, 7, 10, 0), cmds.AcknowledgeRequest, easter, actor=OFFICER)
        story.notify(local(2026, 4, 7, 10, 1), easter, NoticeKind.ACKNOWLEDGEMENT)
        story.do(
            local(2026, 4, 8, 11, 0),
            cmds.DelayRequest,
            easter,
            actor=OFFICER,
            reason="Truck broken down",
            until=date(2026, 4, 10),
        )
        story.do(
            local(2026, 4, 13, 8, 5),
            cmds.EscalateRequest,
            easter,
            actor=WATCHDOG,
            level=None,
            reason="Completion target missed",
            standard="completion",
            due=local(2026, 4, 10, 16, 30),
        )
        story.do(
            local(2026, 4, 16, 14, 0),
            cmds.CloseRequest,
            easter,
            actor=OFFICER,
            outcome="completed",
            text="Bin emptied",
        )
        # October: a pothole (20 business days), its progress notice sent a day late, still
        # open when judged.
        october = story.lodge(local(2026, 10, 2, 16, 0), "pothole")
        story.do(local(2026, 10, 6, 8, 30), cmds.AcknowledgeRequest, october, actor=OFFICER)
        story.notify(local(2026, 10, 27, 9, 0), october, NoticeKind.PROGRESS)
        clock.set(local(2026, 11, 4, 10, 0))
        yield client, rt, clock, {"easter": easter, "october": october}


@pytest.fixture(scope="module")
def easter(served_story: tuple[TestClient, Runtime, FakeClock, dict[str, str]]) -> dict[str, Any]:
    _, rt, _, refs = served_story
    return request_timeline(
        rt, rt.ports.council(COUNCIL), viewer("rec", "records-officer"), refs["easter"], "test"
    )


def by_type(tl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["type"]: s for s in tl["steps"]}


def test_business_time_skips_the_easter_weekend_and_counts_the_hours_either_side_of_the_dst_change(
    easter: dict[str, Any],
) -> None:
    steps = by_type(easter)
    # Thursday 15:00–16:30 AEDT (1 h 30 m), then Tuesday 08:00–10:00 AEST (2 h).
    assert steps["Acknowledged"]["occurred_at"] == "2026-04-07T10:00:00+10:00"
    assert steps["Acknowledged"]["since_lodgement"]["business"] == "0d 3h 30m"
    assert steps["Acknowledged"]["since_lodgement"]["business_seconds"] == 3.5 * 3600
    # + Tuesday 10:00–16:30 (6 h 30 m) + Wednesday 08:00–11:00 (3 h) = 13 h.
    assert steps["Delayed"]["since_lodgement"]["business"] == "1d 4h 30m"
    assert steps["Delayed"]["since_previous"]["business"] == "1d 0h 59m"  # after the notice
    # Wednesday 11:00 to Monday 08:05: 5 h 30 m + two full days + 5 m.
    assert steps["Escalated"]["since_previous"]["business"] == "2d 5h 35m"
    assert steps["Escalated"]["since_lodgement"]["business"] == "4d 1h 35m"
    # 67 h in all by Thursday 16 April 14:00 (7 × 8.5 h + 7 h 30 m).
    assert steps["Closed"]["since_lodgement"]["business"] == "7d 7h 30m"
    assert steps["Closed"]["since_previous"]["business"] == "3d 5h 55m"


def test_each_standard_says_when_it_fell_due_and_whether_it_was_met(
    easter: dict[str, Any],
) -> None:
    standards = {(s["standard"], s.get("level")): s for s in easter["standards"]}
    ack = standards[("acknowledgement", None)]
    # 5 business days from Thursday: Tue 7, Wed 8, Thu 9, Fri 10, Mon 13 April.
    assert (ack["due"], ack["state"]) == ("2026-04-13T16:30:00+10:00", "met")
    done = standards[("completion", None)]
    # 2 business days (Tue 7, Wed 8), then the delay moved it to Friday 10 April's close.
    assert done["first_due"] == "2026-04-08T16:30:00+10:00"
    assert done["moves"][0]["to"] == "2026-04-10T16:30:00+10:00"
    assert (done["due"], done["state"]) == ("2026-04-10T16:30:00+10:00", "missed")
    assert done["missed_at"] == "2026-04-10T16:30:00+10:00"
    assert done["late_by"]["business"] == "3d 6h 0m"  # Mon–Wed, and Thursday 08:00–14:00
    up = standards[("escalation", "team-leader")]
    assert (up["cause"], up["due"], up["state"]) == (
        "completion",
        "2026-04-10T16:30:00+10:00",
        "missed",
    )
    assert up["late_by"]["business"] == "0d 0h 5m"  # the Monday morning sweep
    assert [n["notice"] for n in easter["notices"]] == ["acknowledgement"]
    assert easter["notices"][0]["recipient"] == "zoe@example.org"


def test_the_october_long_weekend_progress_notice_and_a_standard_still_open(
    served_story: tuple[TestClient, Runtime, FakeClock, dict[str, str]],
) -> None:
    _, rt, _, refs = served_story
    tl = request_timeline(
        rt, rt.ports.council(COUNCIL), viewer("rec", "records-officer"), refs["october"], "test"
    )
    steps = by_type(tl)
    # Friday 16:00–16:30 AEST, then Tuesday 08:00–08:30 AEDT (Monday is Labour Day).
    assert steps["Acknowledged"]["since_lodgement"]["business"] == "0d 1h 0m"
    standards = [
        (s["standard"], s.get("level"), s["due"], s["state"], (s["late_by"] or {}).get("business"))
        for s in tl["standards"]
    ]
    assert standards == [
        ("acknowledgement", None, "2026-10-12T16:30:00+11:00", "met", None),
        # 20 business days from Friday 2 October: Monday 2 November; judged Wednesday 10:00.
        ("completion", None, "2026-11-02T16:30:00+11:00", "missed", "1d 2h 0m"),
        # 15 business days: Monday 26 October; sent Tuesday 09:00.
        ("progress notice", None, "2026-10-26T16:30:00+11:00", "missed", "0d 1h 0m"),
        # the next 15 business days after that notice: Tuesday 17 November.
        ("progress notice", None, "2026-11-17T16:30:00+11:00", "pending", None),
        ("escalation", "team-leader", "2026-11-02T16:30:00+11:00", "missed", "1d 2h 0m"),
    ]


def test_every_step_carries_its_chain_hash_and_matches_the_stored_event(
    easter: dict[str, Any],
    served_story: tuple[TestClient, Runtime, FakeClock, dict[str, str]],
) -> None:
    assert easter["chain"] == {"entries": 6, "matching": 6, "steps": 6}
    hashes = [s["chain_hash"] for s in easter["steps"]]
    assert all(len(h) == 64 for h in hashes) and len(set(hashes)) == 6


def test_the_pdf_renders_and_holds_the_figures_and_the_names(easter: dict[str, Any]) -> None:
    pdf = reports.rendered(reports.timeline_document(easter), "pdf")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    for expected in (
        NAME,
        "Upper Lachlan Shire Council",
        "—",
        "2026-04-07 10:00 AEST",
        "2026-04-02 15:00 AEDT",
        "0d 3h 30m",
        "7d 7h 30m",
        "3d 6h 0m",
        "0d 0h 5m",
        "missed",
        "met",
        "acknowledgement",
    ):
        assert expected in flat, expected
    assert easter["steps"][0]["chain_hash"][:24] in flat.replace(" ", "")


def test_an_analyst_sees_the_same_figures_with_the_resident_redacted(
    served_story: tuple[TestClient, Runtime, FakeClock, dict[str, str]],
    easter: dict[str, Any],
) -> None:
    _, rt, _, refs = served_story
    tl = request_timeline(
        rt, rt.ports.council(COUNCIL), viewer("ana", "analyst"), refs["easter"], "test"
    )
    assert tl["customer"]["name"] == "[redacted]"
    assert tl["notices"][0]["recipient"] == "[redacted]"
    assert tl["customer_id"].startswith("anon-")
    assert [s["since_lodgement"] for s in tl["steps"]] == [
        s["since_lodgement"] for s in easter["steps"]
    ]
    text = reports.rendered(reports.timeline_document(tl), "csv").decode()
    assert NAME not in text and "zoe@example.org" not in text and "[redacted]" in text


def test_the_http_twin_answers_json_and_each_document_format(
    served_story: tuple[TestClient, Runtime, FakeClock, dict[str, str]],
    easter: dict[str, Any],
) -> None:
    client, _, _, refs = served_story
    headers = sign_in(client, "rec")
    path = f"/api/v1/requests/{refs['easter']}/timeline"
    got = client.get(path, headers=headers)
    assert got.status_code == 200, got.text
    assert got.json()["steps"] == easter["steps"]
    pdf = client.get(path, params={"format": "pdf"}, headers=headers)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    csv_text = client.get(path, params={"format": "csv"}, headers=headers).text
    assert "0d 3h 30m" in csv_text and NAME in csv_text
    html = client.get(path, params={"format": "html"}, headers=headers).text
    assert "<h1>Investigation timeline of" in html and "7d 7h 30m" in html
    ana = client.get(path, params={"format": "csv"}, headers=sign_in(client, "ana")).text
    assert NAME not in ana and "0d 3h 30m" in ana


def test_the_export_prints_the_verification_and_each_entrys_chain_hash(
    served_story: tuple[TestClient, Runtime, FakeClock, dict[str, str]],
) -> None:
    client, rt, _, refs = served_story
    got = client.get(
        "/api/v1/record/export",
        params={"request": refs["easter"], "format": "pdf"},
        headers=sign_in(client, "rec"),
    )
    assert got.status_code == 200, got.text
    assert got.headers["x-record-verified"] == "true"
    text = " ".join(
        "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(got.content)).pages).split()
    )
    assert "VERIFIED: the event store agrees" in text and NAME in text
    ex = record_export(
        rt, rt.ports.council(COUNCIL), viewer("rec", "records-officer"), "test", officer="o.smith"
    )
    assert [e["event_type"] for e in ex["entries"]] == [
        "Acknowledged",
        "Delayed",
        "Closed",
        "Acknowledged",
    ]
    assert all(len(e["chain_hash"]) == 64 for e in ex["entries"])
    hidden = record_export(
        rt,
        rt.ports.council(COUNCIL),
        viewer("ana", "analyst"),
        "test",
        date_from=date(2026, 4, 1),
        date_to=date(2026, 4, 30),
    )
    lodged = next(e for e in hidden["entries"] if e["event_type"] == "Lodged")
    assert NAME not in lodged["personal"] and "[redacted]" in lodged["personal"]


def test_an_export_of_an_edited_record_says_so_and_exits_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    add_staff(make_settings(data), COUNCIL, {"rec": ["records-officer"]})
    for name in ("CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    crm = ["--council", COUNCIL]
    assert (
        cli.main(
            [
                *crm,
                "--as",
                TEST_ADMIN,
                "lodge",
                "--category",
                "pothole",
                "--channel",
                "phone",
                "--description",
                "Deep pothole",
                "--name",
                NAME,
                "--phone",
                "0400 000 000",
            ]
        )
        == 0
    )
    ref = capsys.readouterr().out.strip()
    out = tmp_path / "export.csv"
    assert (
        cli.main(
            [
                *crm,
                "--as",
                "rec",
                "record",
                "export",
                "--request",
                ref,
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "VERIFIED" in out.read_text() and NAME in out.read_text()
    capsys.readouterr()
    assert cli.main([*crm, "--as", "rec", "timeline", ref, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"][0]["type"] == "Lodged"
    assert (
        cli.main(
            [
                *crm,
                "--as",
                "rec",
                "timeline",
                ref,
                "--format",
                "json",
                "--as-at",
                "2099-01-01T09:00",
            ]
        )
        == 0
    )
    later = json.loads(capsys.readouterr().out)
    assert later["judged_at"] == "2099-01-01T09:00:00+11:00"
    assert [s["state"] for s in later["standards"][:2]] == ["missed", "missed"]
    assert cli.main([*crm, "--as", "rec", "timeline", ref, "--as-at", "2000-01-01"]) == 4
    assert "not yet lodged" in capsys.readouterr().err
    rt = Runtime(make_settings(data))
    try:
        t = AuditRecord().table
        with rt.read_engine.begin() as conn:
            conn.execute(sa.update(t).values(actor_id="someone.else"))
    finally:
        rt.close()
    capsys.readouterr()
    assert (
        cli.main(
            [
                *crm,
                "--as",
                "rec",
                "record",
                "export",
                "--request",
                ref,
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 1
    )
    assert "NOT VERIFIED" in out.read_text() and "audit record disagrees" in out.read_text()
    assert "does not verify" in capsys.readouterr().err
