"""Legacy import and KPIs end to end: the shipped Boston 311 files on SQLite and on PostgreSQL,
re-imports, an interrupted import, the KPI groupings against each other and against a direct
computation from the CSV, and a file of invented edge cases.

The shipped files are public Boston 311 data; every other row here is invented for the test."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands import requests as cmds
from domain.lodgement import Intake
from domain.values import Actor, Channel
from infra.importer import ImportReport, import_file, load_mapping
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from infra.views import read_models_ready
from projections import kpi
from projections.audit_record import AuditRecord
from projections.sla import Sla
from tests.conftest import add_staff, add_staff_to, make_settings
from tests.fakes import FakeClock

DATA = PROJECT_ROOT / "data" / "boston311"
SMALL = DATA / "boston311_100_qsv.csv"
LARGE = DATA / "boston311_animal_2018.csv"
MAPPING = PROJECT_ROOT / "config" / "mappings" / "boston311.toml"
BOSTON = ZoneInfo("America/New_York")
EVERYTHING = (date(2000, 1, 1), date(2099, 12, 31))
LATER = datetime(2030, 1, 1, tzinfo=BOSTON)


def run_import(rt: Runtime, path: Path, council: str = "boston", **kw: Any) -> ImportReport:
    return import_file(
        rt.app, rt.ports.council(council), load_mapping(MAPPING), path, vault=rt.vault, **kw
    )


def kpis(
    rt: Runtime,
    by: str,
    period: tuple[date, date] = EVERYTHING,
    council: str = "boston",
    now: datetime = LATER,
) -> kpi.KpiResult:
    c = rt.ports.council(council)
    zone = ZoneInfo(c.calendar.timezone)
    q = kpi.KpiQuery(
        council=c.id,
        by=by,
        zone=zone,
        now=now,
        targets=dict(c.kpi_targets),
        start=datetime.combine(period[0], time(0), tzinfo=zone),
        end=datetime.combine(period[1] + timedelta(days=1), time(0), tzinfo=zone),
    )
    read_models_ready(rt)
    with rt.read_engine.connect() as conn:
        return kpi.compute(conn, Sla(), AuditRecord(), q)


def from_csv(path: Path) -> dict[str, tuple[int, int, int]]:
    """Per type, straight from the file as the acceptance script reads it:
    (rows, closed, closed at or before the target text — or with no target)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            counts = out[row["type"]]
            counts[0] += 1
            if row["case_status"].strip().lower() != "closed" or not row["closed_dt"]:
                continue
            target = row.get("sla_target_dt") or row.get("target_dt") or ""
            counts[1] += 1
            counts[2] += (not target) or row["closed_dt"] <= target
    return {k: (a, b, c) for k, (a, b, c) in out.items()}


def assert_kpis_match_the_csv(rt: Runtime, *paths: Path) -> None:
    want: Counter[tuple[str, str]] = Counter()
    for path in paths:
        for category, (rows, closed, within) in from_csv(path).items():
            want[(category, "lodged")] += rows
            want[(category, "closed")] += closed
            want[(category, "within")] += within
    got = {g["category"]: g for g in kpis(rt, "category").groups}
    categories = {c for c, _ in want}
    assert set(got) == categories
    for category in categories:
        g = got[category]
        closed, within = want[(category, "closed")], want[(category, "within")]
        assert (g["lodged"], g["closed"], g["completed_within_target"]) == (
            want[(category, "lodged")],
            closed,
            within,
        ), category
        if closed:
            assert g["completed_within_target_pct"] == pytest.approx(
                100 * within / closed, abs=0.005
            )


# -- the shipped files on SQLite ------------------------------------------------------------------


@pytest.fixture(scope="module")
def boston_2018(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, ImportReport]]:
    """The 7,872-row file imported once into an embedded store shared by the tests below."""
    rt = Runtime(make_settings(tmp_path_factory.mktemp("b2018") / "data"), clock=FakeClock(LATER))
    report = run_import(rt, LARGE)
    yield rt, report
    rt.close()


def test_the_2018_file_imports_shifted_and_its_kpis_equal_the_csv(
    boston_2018: tuple[Runtime, ImportReport],
) -> None:
    rt, report = boston_2018
    assert (report.rows, report.written, report.skipped) == (7872, 7872, 0)
    assert (report.closed, report.open) == (5464, 2408)
    assert report.timestamps["applied"] == "zone-offset"
    assert report.timestamps["agree_shifted"] == report.timestamps["evidence"] > 5000
    assert_kpis_match_the_csv(rt, LARGE)


def test_the_shifted_instants_are_bostons_local_times(
    boston_2018: tuple[Runtime, ImportReport],
) -> None:
    rt, _ = boston_2018
    # Line 2: open_dt 02:39:14, closed_dt 02:40:23; its closure text says 07:40:23 (EST).
    events = list(rt.app.events.get(_id("boston", "101002296910")))
    assert [type(e).__name__ for e in events] == ["Lodged", "Closed"]
    assert events[0].occurred_at.astimezone(BOSTON).replace(tzinfo=None) == datetime(
        2018, 1, 1, 7, 39, 14
    )
    assert events[1].occurred_at.astimezone(BOSTON).replace(tzinfo=None) == datetime(
        2018, 1, 1, 7, 40, 23
    )
    assert events[1].outcome == "no-action"
    assert events[0].imported and events[0].complete_by is None


def _id(council: str, reference: str) -> Any:
    from domain.aggregates.service_request import request_id

    return request_id(council, reference)


@pytest.mark.parametrize("by", ["day", "team", "channel", "kind"])
def test_every_grouping_adds_up_to_the_same_totals(
    boston_2018: tuple[Runtime, ImportReport], by: str
) -> None:
    rt, _ = boston_2018
    period = (date(2018, 1, 1), date(2018, 12, 31))
    reference = kpis(rt, "category", period)
    grouped = kpis(rt, by, period)
    for count in (
        "lodged",
        "closed",
        "completed_within_target",
        "breaches",
        "escalations",
        "acknowledgement_due",
        "first_contact_resolution",
    ):
        assert (
            sum(g[count] for g in grouped.groups)
            == sum(g[count] for g in reference.groups)
            == reference.total[count]
        ), (by, count)
    assert (
        grouped.total["median_business_days_to_complete"]
        == reference.total["median_business_days_to_complete"]
    )


def test_a_period_counts_what_happened_in_it(boston_2018: tuple[Runtime, ImportReport]) -> None:
    rt, _ = boston_2018
    january = kpis(rt, "day", (date(2018, 1, 1), date(2018, 1, 31)))
    assert [g["day"] for g in january.groups] == sorted(g["day"] for g in january.groups)
    assert all("2018-01-01" <= g["day"] <= "2018-01-31" for g in january.groups)
    with LARGE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # Lodged in January, Boston time: the shifted open_dt moved forward 5 h (EST).
    lodged = sum(1 for r in rows if "2017-12-31 19:00:00" <= r["open_dt"] < "2018-01-31 19:00:00")
    assert january.total["lodged"] == lodged
    # The breaches of the whole year are the file's OVERDUE rows (its own ground truth).
    year = kpis(rt, "category", (date(2018, 1, 1), date(2018, 12, 31)))
    overdue = sum(1 for r in rows if r["on_time"] == "OVERDUE")
    late_2019 = sum(
        1
        for r in rows
        if r["on_time"] == "OVERDUE" and (r["sla_target_dt"] or "9") >= "2018-12-31 19:00:00"
    )
    assert year.total["breaches"] == overdue - late_2019


def test_kpis_show_the_councils_expected_levels(boston_2018: tuple[Runtime, ImportReport]) -> None:
    rt, _ = boston_2018
    group = kpis(rt, "category").groups[0]
    assert group["completed_within_target_pct_expected"] == 85
    assert group["completed_within_target_pct_met"] == (group["completed_within_target_pct"] >= 85)
    # No acknowledgement is due on imported history, and no officer is named in it.
    assert group["acknowledged_within_standard_pct"] is None
    assert group["acknowledged_within_standard_pct_met"] is None
    assert group["first_contact_resolution_pct"] is None


# -- re-imports and interruptions ------------------------------------------------------------------


def test_a_reimport_adds_nothing(sqlite_runtime: Runtime) -> None:
    first = run_import(sqlite_runtime, SMALL)
    head = sqlite_runtime.app.recorder.max_notification_id()
    second = run_import(sqlite_runtime, SMALL)
    assert (first.written, first.skipped) == (100, 0)
    assert (second.written, second.skipped) == (0, 100)
    assert sqlite_runtime.app.recorder.max_notification_id() == head
    assert first.timestamps["applied"] == "none"
    assert_kpis_match_the_csv(sqlite_runtime, SMALL)


def test_an_interrupted_import_leaves_whole_requests_and_a_rerun_completes_it(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sqlite_runtime.app
    real_save = app.save
    calls = {"n": 0}

    def crash_on_the_third_chunk(*aggregates: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("the database went away")
        return real_save(*aggregates, **kw)

    monkeypatch.setattr(app, "save", crash_on_the_third_chunk)
    with pytest.raises(ConnectionError):
        run_import(sqlite_runtime, SMALL, chunk=7)
    monkeypatch.setattr(app, "save", real_save)
    saved = {n.originator_id for n in app.recorder.select_notifications(start=1, limit=10_000)}
    assert len(saved) == 14
    with SMALL.open(newline="", encoding="utf-8") as f:
        closed = {
            _id("boston", r["case_enquiry_id"])
            for r in csv.DictReader(f)
            if r["case_status"] == "Closed"
        }
    for request in saved:  # each request whole: Lodged, and Closed when the file closed it
        types = [type(e).__name__ for e in app.events.get(request)]
        assert types == (["Lodged", "Closed"] if request in closed else ["Lodged"])
    rerun = run_import(sqlite_runtime, SMALL, chunk=7)
    assert (rerun.written, rerun.skipped) == (86, 14)
    assert_kpis_match_the_csv(sqlite_runtime, SMALL)


def test_both_files_in_one_store(sqlite_runtime: Runtime) -> None:
    run_import(sqlite_runtime, SMALL)
    run_import(sqlite_runtime, LARGE)
    assert_kpis_match_the_csv(sqlite_runtime, SMALL, LARGE)


# -- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_on_postgresql(pg_runtime: Runtime) -> None:
    small, large = run_import(pg_runtime, SMALL), run_import(pg_runtime, LARGE)
    assert (small.written, large.written) == (100, 7872)
    assert large.timestamps["applied"] == "zone-offset"
    head = pg_runtime.app.recorder.max_notification_id()
    again = run_import(pg_runtime, LARGE)
    assert (again.written, again.skipped) == (0, 7872)
    assert pg_runtime.app.recorder.max_notification_id() == head
    assert_kpis_match_the_csv(pg_runtime, SMALL, LARGE)


# -- invented edge cases ---------------------------------------------------------------------------

EDGE_HEADER = [
    "case_enquiry_id",
    "open_dt",
    "target_dt",
    "closed_dt",
    "ontime",
    "case_status",
    "closure_reason",
    "case_title",
    "type",
    "queue",
    "location",
    "latitude",
    "longitude",
    "source",
    "submittedphoto",
]
CLOSED = "Case Closed. Closed date : {when} {what}"


def edge_rows() -> list[list[str]]:
    """Invented requests (no real person, address or case), in true local time like the 2022
    file: each row is one edge case."""

    def closed(
        ref: str,
        opened: str,
        target: str,
        when: str,
        what: str,
        kind: str,
        source: str = "Constituent Call",
        lat: str = "42.31",
        long: str = "-71.08",
        queue: str = "TEST_Queue A",
    ) -> list[str]:
        return [
            ref,
            opened,
            target,
            when,
            "ONTIME",
            "Closed",
            CLOSED.format(when=when, what=what),
            kind,
            kind,
            queue,
            "9 Invented Way  Testville  MA  00000",
            lat,
            long,
            source,
            "",
        ]

    return [
        # Closed at the very second it was due: within target.
        closed(
            "E-1",
            "2022-02-01 09:00:00",
            "2022-02-02 08:30:00",
            "2022-02-02 08:30:00",
            "Case Resolved removed",
            "Pick up Dead Animal",
        ),
        # Closed a second late: a breach.
        closed(
            "E-2",
            "2022-02-01 09:00:00",
            "2022-02-02 08:30:00",
            "2022-02-02 08:30:01",
            "Case Resolved removed",
            "Pick up Dead Animal",
        ),
        # No target: within target, whenever it closed.
        closed(
            "E-3",
            "2022-02-01 09:00:00",
            "",
            "2022-03-30 12:00:00",
            "Case Noted owner found",
            "Animal Found",
            source="Self Service",
        ),
        # The source says it was closed before it was lodged: recorded so, counted as closed,
        # left out of the durations.
        closed(
            "E-4",
            "2022-02-03 12:00:00",
            "2022-02-10 08:30:00",
            "2022-02-03 11:00:00",
            "Duplicate of Existing Case",
            "Wandering Emu",
            source="Twitter",
            queue="TEST_Queue B",
        ),
        # City Hall's placeholder point, and a closing text over three lines.
        closed(
            "E-5",
            "2022-02-04 09:00:00",
            "2022-02-07 08:30:00",
            "2022-02-04 10:00:00",
            "Case Invalid\nwrong form\nplease re-enter",
            "Wandering Emu",
            source="Employee Generated",
            lat="42.3594",
            long="-71.0587",
            queue="TEST_Queue B",
        ),
        # Open, with a closed_dt the status overrides; overdue by now.
        [
            "E-6",
            "2022-02-01 09:00:00",
            "2022-02-08 08:30:00",
            "2022-02-05 10:00:00",
            "OVERDUE",
            "Open",
            " ",
            "Animal Lost",
            "Animal Lost",
            "TEST_Queue A",
            " ",
            "",
            "",
            "Citizens Connect App",
            "",
        ],
    ]


def write_edge_csv(path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EDGE_HEADER)
    writer.writerows(edge_rows())
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_invented_edge_cases(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    report = run_import(sqlite_runtime, write_edge_csv(tmp_path / "edge.csv"))
    assert (report.written, report.closed, report.open) == (6, 5, 1)
    assert report.timestamps["applied"] == "none"
    notes = " | ".join(report.notes)
    assert "closed before lodged" in notes and "line 5" in notes
    assert "placeholder point dropped" in notes
    assert "closing instant ignored" in notes

    groups = {g["category"]: g for g in kpis(sqlite_runtime, "category", now=LATER).groups}
    dead = groups["Pick up Dead Animal"]
    assert (dead["closed"], dead["completed_within_target"], dead["breaches"]) == (2, 1, 1)
    assert dead["category_code"] == "dead-animal"  # the council's own category
    assert groups["Animal Found"]["completed_within_target"] == 1
    emu = groups["Wandering Emu"]  # an imported category
    assert emu["category_code"] == "imported:wandering emu"
    assert (emu["closed"], emu["completed_within_target"]) == (2, 2)
    assert emu["median_business_days_to_complete"] == pytest.approx(1 / 8.5, abs=0.01)
    assert groups["Animal Lost"]["breaches"] == 1
    assert groups["Animal Lost"]["closed"] == 0
    channels = {g["channel"]: g["lodged"] for g in kpis(sqlite_runtime, "channel").groups}
    assert channels == {"phone": 2, "web-portal": 2, "social-media": 1, "other": 1}

    app = sqlite_runtime.app
    lodged, closed = app.events.get(_id("boston", "E-5"))
    assert lodged.location.lat is None and lodged.location.address
    assert closed.outcome == "no-action" and "please re-enter" in closed.text
    lodged, closed = app.events.get(_id("boston", "E-4"))
    assert closed.occurred_at < lodged.occurred_at and closed.outcome == "duplicate"


def test_first_contact_resolution_counts_officers_who_close_what_they_lodged(
    sqlite_runtime: Runtime, clock: FakeClock
) -> None:
    ports = sqlite_runtime.ports
    ann, bob = Actor(id="ann", role="officer"), Actor(id="bob", role="officer")
    refs = []
    for _ in range(3):
        intake = Intake(
            category="animal-noise",
            channel=Channel.PHONE,
            description="Dog barking all night at an invented address",
        )
        refs.append(
            cmds.lodge_request(
                cmds.LodgeRequest(council="boston", intake=intake, actor=ann), ports
            ).reference
        )
    clock.advance(minutes=5)
    cmds.close_request(
        cmds.CloseRequest(
            council="boston",
            reference=refs[0],
            actor=ann,
            outcome="completed",
            text="Spoke to the owner",
        ),
        ports,
    )
    add_staff_to(sqlite_runtime, "boston", {"ann": ["officer"]}, {"ann": ["animal-control"]})
    cmds.assign_request(
        cmds.AssignRequest(
            council="boston", reference=refs[1], actor=ann, team="animal-control", officer="ann"
        ),
        ports,
    )
    cmds.close_request(
        cmds.CloseRequest(
            council="boston", reference=refs[1], actor=ann, outcome="completed", text="Visited"
        ),
        ports,
    )
    cmds.close_request(
        cmds.CloseRequest(
            council="boston", reference=refs[2], actor=bob, outcome="completed", text="Visited"
        ),
        ports,
    )
    day = clock().astimezone(BOSTON).date()
    group = kpis(
        sqlite_runtime, "category", (day - timedelta(days=1), day + timedelta(days=1)), now=clock()
    ).groups[0]
    assert (group["closed"], group["closed_by_officer"], group["first_contact_resolution"]) == (
        3,
        3,
        1,
    )
    assert group["first_contact_resolution_pct"] == pytest.approx(33.33)
    # Lodged by phone: acknowledgement due the same business day; none was recorded.
    assert group["acknowledgement_due"] == 0


# -- the command line ---------------------------------------------------------------------------------


def crm(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_CONFIG_DIR", "CRM_COUNCIL"}
    }
    env.update(CRM_DATA_DIR=str(data_dir), CRM_ACTOR="records.officer")
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "--council", "boston", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_staff(make_settings(data), "boston", {"records.officer": ["records-officer", "officer"]})
    bad = tmp_path / "bad.csv"
    rows = edge_rows()
    rows[2][1] = "yesterday"
    rows[4][13] = "Carrier Pigeon"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([EDGE_HEADER, *rows])
    bad.write_text(out.getvalue(), encoding="utf-8")
    refused = crm(data, "import", str(bad), "--mapping", str(MAPPING))
    assert refused.returncode == 2 and refused.stdout == ""
    assert "line 4: " in refused.stderr and "yesterday" in refused.stderr
    assert "line 6: " in refused.stderr and "Carrier Pigeon" in refused.stderr
    assert "Traceback" not in refused.stderr
    first = crm(data, "import", str(SMALL), "--mapping", str(MAPPING))
    second = crm(data, "import", str(SMALL), "--mapping", str(MAPPING), "--json")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "imported 100 requests" in first.stdout
    assert json.loads(second.stdout)["written"] == 0
    ran = crm(
        data, "kpi", "--by", "category", "--from", "2022-01-01", "--to", "2022-01-31", "--json"
    )
    assert ran.returncode == 0, ran.stderr
    groups = json.loads(ran.stdout)
    assert {"category", "closed", "completed_within_target", "completed_within_target_pct"} <= set(
        groups[0]
    )
    ran = crm(data, "kpi", "--by", "team", "--from", "2022-01-01", "--to", "2022-01-31", "--csv")
    assert ran.returncode == 0 and ran.stdout.startswith("team,team_name,lodged,")
    # The watchdog finds nothing to do in imported history: no notice, no escalation.
    head = _head(data)
    swept = crm(data, "sla", "sweep", "--now", "2030-01-02T10:00:00-05:00")
    assert swept.returncode == 0, swept.stderr
    assert _head(data) == head
    wrong = crm(data, "kpi", "--by", "colour", "--from", "2022-01-01", "--to", "2022-01-31")
    assert wrong.returncode == 2


def _head(data: Path) -> int:
    from infra.store import open_event_store

    app = open_event_store(make_settings(data))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def test_percentiles_interpolate_between_the_closest_ranks() -> None:
    assert kpi.percentile([], 0.9) is None
    assert kpi.percentile([4.0], 0.9) == 4.0
    assert kpi.percentile([float(n) for n in range(1, 11)], 0.9) == pytest.approx(9.1)
    assert kpi.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
