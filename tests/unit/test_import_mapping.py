"""The legacy-import mapping: parsing, value maps, the one-rule-per-file timestamp shift (including
the DST changes), and bad rows refused with their line numbers, nothing written.

Every row here is invented for the test (no real person, address or case)."""

from __future__ import annotations

import csv
import io
import itertools
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands.import_history import HistoricalRequest, history_of, import_actor
from domain.calendar import BusinessCalendar
from domain.values import Channel, Location, RequestKind
from infra.config import load_council
from infra.importer import (
    ImportRefused,
    Mapping,
    MappingError,
    import_file,
    load_mapping,
    order_changes,
    parse_mapping,
    read_csv,
    shifted,
    shifted_wall,
    validate,
    wall_kind,
)
from infra.runtime import Runtime
from tests.fakes import TEST_SEALER

ROOT = Path(__file__).resolve().parents[2]
MAPPING_PATH = ROOT / "config" / "mappings" / "boston311.toml"
NY = ZoneInfo("America/New_York")
HEADER = [
    "case_enquiry_id",
    "open_dt",
    "sla_target_dt",
    "closed_dt",
    "on_time",
    "case_status",
    "closure_reason",
    "case_title",
    "type",
    "queue",
    "location",
    "latitude",
    "longitude",
    "source",
    "ward",
]


@pytest.fixture(scope="module")
def mapping() -> Mapping:
    return load_mapping(MAPPING_PATH)


@pytest.fixture(scope="module")
def boston() -> Any:
    return load_council(ROOT / "config", "boston")


def row(
    ref: str,
    opened: str,
    target: str = "",
    closed: str = "",
    *,
    text: str | None = None,
    status: str | None = None,
    source: str = "Constituent Call",
    kind: str = "Pick up Dead Animal",
    **extra: str,
) -> dict[str, str]:
    """A Boston-shaped row; a closed row's closure text names `text` as Boston's local time."""
    status = status or ("Closed" if closed else "Open")
    reason = " "
    if status == "Closed":
        reason = f"Case Closed. Closed date : {text or closed}.123 Case Resolved Picked up "
    values = {
        "case_enquiry_id": ref,
        "open_dt": opened,
        "sla_target_dt": target,
        "closed_dt": closed,
        "on_time": "ONTIME",
        "case_status": status,
        "closure_reason": reason,
        "case_title": kind,
        "type": kind,
        "queue": "PWDx_District 99: Testville",
        "location": "1 Example St  Testville  MA  00000",
        "latitude": "42.3",
        "longitude": "-71.1",
        "source": source,
        "ward": "1",
    }
    values.update(extra)
    return values


def numbered(rows: list[dict[str, str]]) -> list[tuple[int, dict[str, str]]]:
    return [(i + 2, r) for i, r in enumerate(rows)]


def local_text(wall: str) -> str:
    """What Boston's closure text says for a value the writer shifted back."""
    return shifted_wall(datetime.fromisoformat(wall), NY).isoformat(sep=" ")


def shifted_row(ref: str, opened: str, target: str, closed: str) -> dict[str, str]:
    return row(ref, opened, target, closed, text=local_text(closed))


# -- the mapping file ---------------------------------------------------------------------------


def test_the_shipped_mapping_names_every_field_it_needs(mapping: Mapping) -> None:
    assert mapping.name == "boston311"
    assert mapping.columns["complete_by"] == ("sla_target_dt", "target_dt")
    assert mapping.columns["category"] == ("type",)
    assert mapping.zone.key == "America/New_York"
    assert mapping.shift == "detect-from-closure-reason"
    assert mapping.detect is not None and mapping.detect.compare_with == "closed_at"
    assert mapping.actor.id == "import:boston311" and mapping.actor.role == "system"
    assert {"reference", "lodged_at", "complete_by", "closed_at", "category"} <= set(
        mapping.required
    )


@pytest.mark.parametrize(
    ("source", "channel"),
    [
        ("Constituent Call", Channel.PHONE),
        ("Citizens Connect App", Channel.WEB_PORTAL),
        ("Self Service", Channel.WEB_PORTAL),
        ("Employee Generated", Channel.OTHER),
        ("City Worker App", Channel.OTHER),
        ("Twitter", Channel.SOCIAL_MEDIA),
        ("Constituent Call ", Channel.PHONE),
        ("Carrier Pigeon", None),
    ],
)
def test_the_channel_map(mapping: Mapping, source: str, channel: Channel | None) -> None:
    assert mapping.channel.get(source) is channel


@pytest.mark.parametrize(
    ("closure", "outcome"),
    [
        (
            "Case Closed. Closed date : 2018-01-27 14:26:39.427 Duplicate of Existing Case ",
            "duplicate",
        ),
        ("Case Closed. Closed date : 2018-01-01 07:40:23.397 Case Invalid ", "no-action"),
        ("Case Closed Case Invalid  no eform  ", "no-action"),
        (
            "Case Closed. Closed date : Wed Jan 19 11:42:16 EST 2022 Resolved Removed df  ",
            "completed",
        ),
        (
            "Case Closed. Closed date : 2018-02-01 16:59:26.943 Case Noted unable to locate ",
            "completed",
        ),
        (
            "Case Closed. Closed date : 2018-05-11 17:45:19.46 Case Referred to External Agency ",
            "referred",
        ),
        (
            "Case Closed. Closed date : 2018-04-10 10:36:51.12 ROA: Refer to Other Agency ",
            "referred",
        ),
        ("Case Closed. Closed date : 2018-06-04 19:32:54.543 Request cancelled ", "withdrawn"),
        (
            "Case Closed. Closed date : 2018-11-20 17:03:46.59 BPD called back to cancel request ",
            "withdrawn",
        ),
        ("Case Closed. Closed date : 2018-03-21 17:54:03.77 Resubmitted as 2402399 ", "duplicate"),
        (
            "Case Closed. Closed date : 2018-01-24 11:12:28.723 NOVIO: No Violation Found ",
            "no-action",
        ),
        (
            "Case Closed. Closed date : 2018-02-01 14:33:02.503 VIOCOR: Violation Corrected ",
            "completed",
        ),
        # The rules look at the start of the text after the preamble, not anywhere in it.
        (
            "Case Closed. Closed date : 2018-02-01 14:33:02.503 Case Resolved, not a duplicate ",
            "completed",
        ),
    ],
)
def test_the_outcome_rules(mapping: Mapping, closure: str, outcome: str) -> None:
    assert mapping.outcome_for(closure) == outcome


def _broken(edit: dict[str, Any]) -> str:
    data = tomllib.loads(MAPPING_PATH.read_text(encoding="utf-8"))
    for dotted, value in edit.items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    with pytest.raises(MappingError) as caught:
        parse_mapping(MAPPING_PATH, data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        ({"columns.colour": ["paint"]}, "columns.colour"),
        ({"columns.reference": None}, "columns.reference"),
        ({"timestamps.zone": "America/Springfield"}, "timestamps.zone"),
        ({"timestamps.shift": "guess"}, "timestamps.shift"),
        ({"timestamps.detect.pattern": "Closed date : (.*)"}, "timestamps.detect.pattern"),
        ({"timestamps.detect.min_agreement": 0.3}, "timestamps.detect.min_agreement"),
        ({"channel.map": {"Constituent Call": "telegram"}}, "channel.map.Constituent Call"),
        ({"outcome.rules": [{"match": "(", "outcome": "duplicate"}]}, "outcome.rules[0].match"),
        ({"required": ["reference", "colour"]}, "required"),
    ],
)
def test_a_broken_mapping_is_refused_naming_the_key(edit: dict[str, Any], names: str) -> None:
    message = _broken(edit)
    assert str(MAPPING_PATH) in message and names in message


def test_a_mapping_whose_outcomes_the_council_lacks_is_refused(tmp_path: Path, boston: Any) -> None:
    text = MAPPING_PATH.read_text(encoding="utf-8").replace(
        'outcome = "withdrawn"', 'outcome = "abandoned"'
    )
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    csv_path = _write_csv(tmp_path / "a.csv", [row("T-1", "2018-01-02 10:00:00")])
    with pytest.raises(MappingError, match="abandoned"):
        import_file(_no_store(), boston, load_mapping(path), csv_path, vault=None)


# -- the shift, exactly -----------------------------------------------------------------------


def test_a_shifted_reading_is_boston_local_time_read_as_utc() -> None:
    # Winter (EST, UTC-5): the file's 02:40:23 is Boston's 07:40:23, i.e. 12:40:23 UTC.
    assert shifted(datetime(2018, 1, 1, 2, 40, 23), NY) == datetime(
        2018, 1, 1, 12, 40, 23, tzinfo=UTC
    )
    # Summer (EDT, UTC-4): 10:00 in the file is 14:00 in Boston, 18:00 UTC.
    assert shifted(datetime(2018, 7, 1, 10, 0), NY) == datetime(2018, 7, 1, 18, 0, tzinfo=UTC)


def _minutes(start: datetime, hours: int) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(hours * 60)]


def test_the_shift_never_reorders_or_merges_readings_across_the_fall_back() -> None:
    """Around 4 November 2018 (EDT → EST at 02:00): both the file's hour 01:00–02:00 and the
    local hour it lands on repeat; read as their first occurrence, every minute still maps
    after the one before."""
    walls = _minutes(datetime(2018, 11, 3, 18, 0), 12)
    assert any(wall_kind(w, NY) == "repeated" for w in walls)
    assert any(wall_kind(shifted_wall(w, NY), NY) == "repeated" for w in walls)
    instants = [shifted(w, NY) for w in walls]
    assert all(a < b for a, b in itertools.pairwise(instants))


def test_the_shift_can_reorder_readings_on_the_eve_of_the_spring_forward() -> None:
    """Readings 21:00–22:00 on 10 March 2018 land in the hour Boston skips on the 11th: this is
    why the rule is checked on every row before it is applied."""
    earlier, later = datetime(2018, 3, 10, 21, 30), datetime(2018, 3, 10, 22, 5)
    assert wall_kind(shifted_wall(earlier, NY), NY) == "skipped"
    assert shifted(earlier, NY) > shifted(later, NY)
    walls = {"lodged_at": earlier, "closed_at": later}
    assert order_changes(walls, {k: shifted(v, NY) for k, v in walls.items()})


# -- the decision, per file ----------------------------------------------------------------------


def test_a_file_whose_closure_texts_are_its_times_moved_forward_is_shifted(
    mapping: Mapping, boston: Any
) -> None:
    rows = [
        shifted_row("T-1", "2018-01-02 03:00:00", "2018-01-03 03:30:00", "2018-01-02 20:00:00"),
        shifted_row("T-2", "2018-07-02 03:00:00", "2018-07-03 04:30:00", "2018-07-03 04:30:00"),
        row("T-3", "2018-07-02 05:00:00", "2018-07-05 04:30:00"),
    ]
    checked = validate(boston, mapping, HEADER, numbered(rows))
    assert not checked.errors
    assert checked.decision is not None and checked.decision.rule == "zone-offset"
    assert (checked.decision.evidence, checked.decision.agree_shifted) == (2, 2)
    first, second, third = checked.records
    assert first.lodged_at == datetime(2018, 1, 2, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert first.closed_at == datetime(2018, 1, 3, 6, 0, tzinfo=UTC)
    assert second.closed_at == second.complete_by  # equal stays equal
    assert third.closed_at is None and third.complete_by == datetime(2018, 7, 5, 12, 30, tzinfo=UTC)


def test_a_file_whose_closure_texts_are_its_times_is_read_as_written(
    mapping: Mapping, boston: Any
) -> None:
    rows = [
        row(
            "T-1",
            "2022-01-03 09:00:00",
            "2022-01-04 08:30:00",
            "2022-01-03 11:00:00",
            closure_reason="Case Closed. Closed date : Mon Jan 03 11:00:00 EST 2022 Resolved ",
        ),
        row("T-2", "2022-01-03 09:00:00", "", "2022-01-03 12:00:00"),
    ]
    checked = validate(boston, mapping, HEADER, numbered(rows))
    assert checked.decision is not None and checked.decision.rule == "none"
    assert checked.decision.agree_as_written == 2
    assert checked.records[0].closed_at == datetime(2022, 1, 3, 16, 0, tzinfo=UTC)
    assert checked.records[1].complete_by is None


def test_a_file_with_no_evidence_is_read_as_written(mapping: Mapping, boston: Any) -> None:
    rows = [row("T-1", "2018-01-02 03:00:00"), row("T-2", "2018-01-02 04:00:00")]
    checked = validate(boston, mapping, HEADER, numbered(rows))
    assert checked.decision is not None and checked.decision.rule == "none"
    assert "no row" in checked.decision.reason


def test_a_file_whose_evidence_disagrees_is_refused(mapping: Mapping, boston: Any) -> None:
    rows = [
        shifted_row("T-1", "2018-01-02 03:00:00", "", "2018-01-02 20:00:00"),
        row("T-2", "2018-01-02 03:00:00", "", "2018-01-02 21:00:00"),
        row("T-3", "2018-01-02 03:00:00", "", "2018-01-02 22:00:00", text="2018-01-09 10:00:00"),
    ]
    with pytest.raises(ImportRefused, match="cannot be decided"):
        validate(boston, mapping, HEADER, numbered(rows))


def test_a_shift_that_would_reorder_a_row_is_not_applied_at_all(
    mapping: Mapping, boston: Any
) -> None:
    """The evidence says shifted, but line 3 was lodged at 21:30 and closed at 22:05 on the eve
    of the spring-forward: shifted, its closure would come before its lodgement. No timestamp
    of the file is shifted, and the reason names the line."""
    rows = [
        shifted_row("T-1", "2018-01-02 03:00:00", "", "2018-01-02 20:00:00"),
        shifted_row("T-2", "2018-03-10 21:30:00", "2018-03-12 04:30:00", "2018-03-10 22:05:00"),
    ]
    checked = validate(boston, mapping, HEADER, numbered(rows))
    assert not checked.errors
    d = checked.decision
    assert d is not None and d.rule == "none" and d.agree_shifted == 2
    assert "line 3" in d.reason and "no shift applied" in d.reason
    first, second = checked.records
    assert first.lodged_at == datetime(2018, 1, 2, 8, 0, tzinfo=UTC)  # as written: 03:00 EST
    assert second.lodged_at < second.closed_at  # type: ignore[operator]


def test_a_row_in_the_fall_back_hour_keeps_its_order_and_is_noted(
    mapping: Mapping, boston: Any
) -> None:
    """Line 2's readings fall in the hour the file's clock repeats (01:00–02:00 on 4 Nov 2018)
    and line 3's land in the hour Boston's clock repeats: shifted, each row keeps the order of
    its texts — closed 01:50 after due 01:40 stays late, equal stays equal."""
    rows = [
        shifted_row("T-1", "2018-11-04 01:10:00", "2018-11-04 01:40:00", "2018-11-04 01:50:00"),
        shifted_row("T-2", "2018-11-03 21:20:00", "2018-11-03 22:10:00", "2018-11-03 21:45:00"),
        shifted_row("T-3", "2018-11-04 01:30:00", "2018-11-04 02:15:00", "2018-11-04 02:15:00"),
    ]
    checked = validate(boston, mapping, HEADER, numbered(rows))
    assert not checked.errors
    assert checked.decision is not None and checked.decision.rule == "zone-offset"
    late, early, equal = checked.records
    assert late.closed_at > late.complete_by  # type: ignore[operator]
    assert early.closed_at < early.complete_by  # type: ignore[operator]
    assert equal.closed_at == equal.complete_by
    assert any("fall-back repeats" in n and "lines 2, 3, 4" in n for n in checked.notes)


def test_a_reading_the_zone_skips_is_refused_when_it_would_break_its_rows_order(
    mapping: Mapping, boston: Any
) -> None:
    """As written, 02:30 on 11 March 2018 does not exist in Boston; read with the offset before
    the change it comes after the row's 03:10, so the row is refused."""
    rows = [
        row(
            "T-1",
            "2018-03-11 02:30:00",
            "",
            "2018-03-11 03:10:00",
            closure_reason="Case Closed. Case Resolved ",
        )
    ]
    checked = validate(boston, mapping, HEADER, numbered(rows))
    assert [e.line for e in checked.errors] == [2]
    assert "order" in str(checked.errors[0])


# -- bad rows -----------------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _no_store() -> Any:
    class NoStore:
        def save(self, *_: Any) -> None:
            raise AssertionError("a refused file must not be written")

    return NoStore()


def test_bad_rows_are_reported_with_their_line_numbers_and_nothing_is_written(
    tmp_path: Path, mapping: Mapping, boston: Any, sqlite_runtime: Runtime
) -> None:
    good = row(
        "T-1",
        "2022-01-03 09:00:00",
        "",
        "2022-01-03 10:00:00",
        closure_reason="Case Closed.\nClosed date : Mon Jan 03 10:00:00 EST 2022\nResolved",
    )
    rows = [
        good,  # lines 2–4
        row("T-2", "03/01/2022 9am"),  # line 5
        row("T-3", "2022-01-03 09:00:00", source="Carrier Pigeon"),  # line 6
        row("T-1", "2022-01-03 09:00:00"),  # line 7
        row("T-5", "2022-01-03 09:00:00", status="Closed"),  # line 8
        row("T-6", "2022-01-03 09:00:00", latitude="north"),  # line 9
        row("T-7", "2022-01-03 09:00:00", case_status="Pending"),  # line 10
        row("T-8", "2022-01-03 09:00:00", latitude="95", longitude="-71.1"),  # line 11
        row("T-9", "2022-01-03 09:00:00", type=" "),  # line 12
        row("T-10", "2022-01-03 09:00:00"),  # line 13
    ]
    path = _write_csv(tmp_path / "bad.csv", rows)
    with path.open("a", encoding="utf-8") as f:
        f.write("T-11,2022-01-03 09:00:00,,,ONTIME,Open, ,x,x,q,,,,Constituent Call\n")  # line 14
    with pytest.raises(ImportRefused) as caught:
        import_file(sqlite_runtime.app, boston, mapping, path, vault=sqlite_runtime.vault)
    errors = {e.line: str(e) for e in caught.value.errors}
    assert sorted(errors) == [5, 6, 7, 8, 9, 10, 11, 12, 14]
    assert "03/01/2022 9am" in errors[5]
    assert "Carrier Pigeon" in errors[6]
    assert "already on line 2" in errors[7]
    assert "no closing instant" in errors[8]
    assert "north" in errors[9]
    assert "Pending" in errors[10]
    assert "latitude 95" in errors[11]
    assert "no category" in errors[12]
    assert "cells" in errors[14]
    assert "nothing was written" in str(caught.value)
    assert sqlite_runtime.app.recorder.max_notification_id() in (None, 0)


def test_a_file_without_a_required_column_is_refused(
    tmp_path: Path, mapping: Mapping, boston: Any
) -> None:
    header = [h for h in HEADER if h != "sla_target_dt"]
    rows = [{k: v for k, v in row("T-1", "2022-01-03 09:00:00").items() if k in header}]
    path = _write_csv(tmp_path / "no-target.csv", rows, header)
    with pytest.raises(ImportRefused, match="complete_by"):
        import_file(_no_store(), boston, mapping, path, vault=None)


def test_line_numbers_count_the_lines_a_quoted_field_spans(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('a,b\n1,"x\ny"\n2,z\n', encoding="utf-8")
    _, rows = read_csv(path)
    assert [line for line, _ in rows] == [2, 4]


# -- rows → events ------------------------------------------------------------------------------


def test_history_is_recorded_as_it_happened_whatever_todays_policy(tmp_path: Path) -> None:
    """Upper Lachlan refuses social media and anonymous requests today; history taken that way
    is still recorded, under an imported category, with the file's instants and no target but
    the file's."""
    council = load_council(ROOT / "config", "upper-lachlan")
    actor = import_actor("test")
    lodged = datetime(2019, 6, 1, 23, 0, tzinfo=UTC)
    record = HistoricalRequest(
        line=2,
        reference="old-77",
        lodged_at=lodged,
        complete_by=None,
        closed_at=lodged - timedelta(hours=1),
        outcome="duplicate",
        closing_text="Dup of 76",
        category_name="Possum in the roof",
        team=None,
        channel=Channel.SOCIAL_MEDIA,
        kind=RequestKind.COMPLAINT,
        description="Possum noise",
        location=Location(address="1 Example Rd"),
        lodged_by=actor,
    )
    request = history_of(council, record, TEST_SEALER)
    lodged_event, closed_event = request.collect_events()
    assert lodged_event.imported is True
    assert lodged_event.category == "imported:possum in the roof"
    assert lodged_event.standard.category_name == "Possum in the roof"
    assert lodged_event.standard.complete_days is None
    assert lodged_event.standard.acknowledge_days is None
    # the council's calendar, its holidays recorded from the year lodged to two years on
    assert lodged_event.standard.calendar == BusinessCalendar(council.calendar).resolved_spec(
        2019, 2021
    )
    assert (lodged_event.acknowledge_by, lodged_event.complete_by) == (None, None)
    assert lodged_event.customer is None and lodged_event.channel is Channel.SOCIAL_MEDIA
    assert lodged_event.occurred_at == lodged and lodged_event.actor == actor
    # Closed an hour before it was lodged, as the source says.
    assert closed_event.occurred_at == lodged - timedelta(hours=1)
    assert (closed_event.outcome, closed_event.text) == ("duplicate", "Dup of 76")
