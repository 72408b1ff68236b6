"""The shipped council configurations load, and a broken one is refused with an error that names
the file and the field."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from domain.calendar import BusinessCalendar
from domain.council import AnonymousPolicy, Council
from domain.values import Channel
from infra.config import REQUIRED_OUTCOMES, ConfigError, list_councils, load_council, parse_council

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SHIPPED = list_councils(CONFIG_DIR)
SEEDED = {"busselton", "canterbury", "greater-dandenong", "kalamunda", "upper-lachlan"}

# A small valid council: each test below breaks one thing in a copy of it.
VALID = """\
id = "testshire"
name = "Test Shire Council"
state = "NSW"
reference_prefix = "TS"

[calendar]
timezone = "Australia/Sydney"
opens = "08:00"
closes = "16:30"
workdays = ["mon", "tue", "wed", "thu", "fri"]
subdivision = "NSW"

[policy]
anonymous = "refuse"
refused_channels = ["social-media"]
discretionary_role = "director"
due_date_horizon_days = 730

[acknowledgement]
default_days = 5

[teams]
roads = "Roads"
waste = "Waste"

[[escalation]]
role = "officer"
after_breach_days = 0
[[escalation]]
role = "director"
after_breach_days = 5

[outcomes]
completed = "Completed"
referred = "Referred"
no-action = "No action required"
duplicate = "Duplicate"
withdrawn = "Withdrawn"

[[categories]]
code = "pothole"
name = "Pothole"
team = "roads"
complete_days = 10

[[categories]]
code = "new-garbage-bin"
name = "New garbage bin"
team = "waste"
complete_days = 5
"""


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the fixture should contain {old!r} exactly once"
    return text.replace(old, new)


def write_council(config_dir: Path, text: str, council_id: str = "testshire") -> Path:
    path = config_dir / "councils" / f"{council_id}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(config_dir: Path, text: str, council_id: str = "testshire") -> tuple[Path, str]:
    path = write_council(config_dir, text, council_id)
    with pytest.raises(ConfigError) as caught:
        load_council(config_dir, council_id)
    return path, str(caught.value)


def parse_error(path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_council(path, data)
    return str(caught.value)


# -- the shipped files -----------------------------------------------------------------------


def test_every_seeded_council_ships_a_configuration() -> None:
    assert SEEDED <= set(SHIPPED)


@pytest.fixture(params=SHIPPED)
def council(request: pytest.FixtureRequest) -> Council:
    return load_council(CONFIG_DIR, request.param)


@pytest.fixture(params=sorted(SEEDED))
def seeded(request: pytest.FixtureRequest) -> Council:
    return load_council(CONFIG_DIR, request.param)


def test_a_shipped_council_loads_under_its_file_name(council: Council) -> None:
    assert council.id in SHIPPED
    assert council.name and council.state and council.source


def test_a_shipped_council_has_a_pothole_category(council: Council) -> None:
    assert "pothole" in council.categories


def test_a_shipped_council_has_the_required_outcome_codes(council: Council) -> None:
    assert set(REQUIRED_OUTCOMES) <= set(council.outcomes)


def test_a_shipped_councils_categories_belong_to_its_teams(council: Council) -> None:
    for category in council.categories.values():
        assert category.team in council.teams, category.code


def test_a_seeded_council_has_the_common_request_types(seeded: Council) -> None:
    for code in ("barking-dog", "leaking-water-meter", "new-garbage-bin", "tree-over-road"):
        assert code in seeded.categories, code
    assert seeded.categories["tree-over-road"].urgent


def test_a_shipped_councils_calendar_builds(council: Council) -> None:
    calendar = BusinessCalendar(council.calendar)  # an unknown subdivision would raise here
    assert calendar.is_holiday(date(2026, 12, 25))


def test_a_seeded_councils_escalation_runs_from_officer_to_the_top(seeded: Council) -> None:
    assert seeded.roles[0] == "officer"
    assert seeded.roles[-1] in ("ceo", "general-manager")
    assert len(seeded.roles) >= 4


def test_shipped_councils_have_distinct_reference_prefixes() -> None:
    prefixes = [load_council(CONFIG_DIR, c).reference_prefix for c in SHIPPED]
    assert len(set(prefixes)) == len(prefixes)


def test_the_councils_keep_their_seeded_rules() -> None:
    upper_lachlan = load_council(CONFIG_DIR, "upper-lachlan")
    assert upper_lachlan.anonymous is AnonymousPolicy.REFUSE
    assert Channel.SOCIAL_MEDIA in upper_lachlan.refused_channels
    assert upper_lachlan.acknowledgement.days_for(Channel.PHONE) == 5
    assert upper_lachlan.progress_notice_days == 15

    canterbury = load_council(CONFIG_DIR, "canterbury")
    assert canterbury.anonymous is AnonymousPolicy.ACCEPT_FLAGGED
    assert canterbury.acknowledgement.days_for(Channel.EMAIL) == 1
    assert canterbury.acknowledgement.days_for(Channel.LETTER) == 1
    assert canterbury.discretionary_role == "director"

    kalamunda = load_council(CONFIG_DIR, "kalamunda")
    assert Channel.WEB_PORTAL not in kalamunda.refused_channels

    dandenong = load_council(CONFIG_DIR, "greater-dandenong")
    for channel in (Channel.COUNTER, Channel.PHONE, Channel.WEBCHAT):
        assert channel not in dandenong.refused_channels

    busselton = load_council(CONFIG_DIR, "busselton")
    assert busselton.kpi_targets


# -- validation errors name the file and the field -------------------------------------------


def test_the_valid_fixture_loads(tmp_path: Path) -> None:
    write_council(tmp_path, VALID)
    council = load_council(tmp_path, "testshire")
    assert council.roles == ("officer", "director")


def test_an_unknown_team_in_a_category_is_named_by_index(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, edit(VALID, 'team = "roads"', 'team = "bridges"'))
    assert str(path) in message
    assert "categories[0].team" in message
    assert "bridges" in message


def test_a_missing_timezone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "councils" / "testshire.toml"
    data = tomllib.loads(VALID)
    del data["calendar"]["timezone"]
    message = parse_error(path, data)
    assert str(path) in message
    assert "calendar.timezone" in message
    assert "required" in message


def test_an_unknown_timezone_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, '"Australia/Sydney"', '"Australia/Atlantis"')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "calendar.timezone" in message
    assert "Australia/Atlantis" in message


def test_closing_before_opening_is_refused(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, edit(VALID, 'closes = "16:30"', 'closes = "07:30"'))
    assert str(path) in message
    assert "calendar.closes" in message


def test_a_malformed_opening_time_is_refused(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, edit(VALID, 'opens = "08:00"', 'opens = "eight"'))
    assert str(path) in message
    assert "calendar.opens" in message


def test_an_escalation_chain_of_one_level_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, '[[escalation]]\nrole = "director"\nafter_breach_days = 5\n', "")
    text = edit(text, 'discretionary_role = "director"\n', "")
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "escalation" in message
    assert "two levels" in message


def test_an_escalation_that_comes_sooner_up_the_chain_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, "after_breach_days = 0", "after_breach_days = 10")
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "escalation[1].after_breach_days" in message


def test_a_role_outside_the_chain_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, 'discretionary_role = "director"', 'discretionary_role = "mayor"')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "policy.discretionary_role" in message


def test_missing_the_completed_outcome_is_refused(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, edit(VALID, 'completed = "Completed"\n', ""))
    assert str(path) in message
    assert "outcomes" in message
    assert "completed" in message


def test_an_id_that_does_not_match_the_file_name_is_refused(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, VALID, council_id="othershire")
    assert str(path) in message
    assert "id:" in message
    assert "othershire" in message


def test_invalid_toml_is_refused_with_the_path(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, VALID + "\n[teams\n")
    assert str(path) in message
    assert "not valid TOML" in message


def test_an_unknown_refused_channel_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, 'refused_channels = ["social-media"]', 'refused_channels = ["pigeon"]')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "policy.refused_channels" in message
    assert "pigeon" in message


def test_an_unknown_acknowledgement_channel_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, "default_days = 5\n", "default_days = 5\nby_channel = { pigeon = 1 }\n")
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "acknowledgement.by_channel.pigeon" in message


def test_an_unknown_anonymous_policy_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, 'anonymous = "refuse"', 'anonymous = "sometimes"')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "policy.anonymous" in message


def test_a_duplicate_category_code_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, 'code = "new-garbage-bin"', 'code = "pothole"')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "categories[1].code" in message


def test_a_negative_completion_target_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, "complete_days = 10", "complete_days = -1")
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "categories[0].complete_days" in message


def test_a_missing_file_names_the_known_councils(tmp_path: Path) -> None:
    write_council(tmp_path, VALID)
    with pytest.raises(ConfigError) as caught:
        load_council(tmp_path, "nowhere")
    assert "nowhere" in str(caught.value)
    assert "testshire" in str(caught.value)


# -- loader gaps found while writing these tests (infra/config.py is not ours to change) -----
# Each is strict: once the loader is fixed the test passes, and the marker must go.


def test_a_badly_typed_category_field_is_named_by_index(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, edit(VALID, "complete_days = 10", 'complete_days = "ten"'))
    assert str(path) in message
    assert "categories[0].complete_days" in message


def test_an_empty_workday_list_is_refused_with_the_field(tmp_path: Path) -> None:
    text = edit(VALID, 'workdays = ["mon", "tue", "wed", "thu", "fri"]', "workdays = []")
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "calendar.workdays" in message


def test_an_unknown_subdivision_is_refused(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, edit(VALID, 'subdivision = "NSW"', 'subdivision = "XX"'))
    assert str(path) in message
    assert "calendar.subdivision" in message


def test_a_non_string_refused_channel_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, 'refused_channels = ["social-media"]', "refused_channels = [1]")
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "policy.refused_channels" in message


def test_a_boolean_share_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, 'anonymous = "refuse"', 'anonymous = "refuse"\nat_risk_share = true')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "policy.at_risk_share" in message


def test_a_text_acknowledgement_figure_is_refused(tmp_path: Path) -> None:
    text = edit(VALID, "default_days = 5\n", 'default_days = 5\nby_channel = { email = "1" }\n')
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert "acknowledgement.by_channel.email" in message


def test_a_non_numeric_kpi_target_is_refused(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, VALID + '\n[kpi_targets]\ncompleted_pct = "90%"\n')
    assert str(path) in message
    assert "kpi_targets.completed_pct" in message


# -- kinds and satisfaction (seed 001 §4–5, seed 003) -------------------------------------------


def test_a_kinds_table_replaces_only_the_fields_it_names(tmp_path: Path) -> None:
    from domain.values import RequestKind

    write_council(tmp_path, VALID + "\n[kinds.complaint]\ncomplete_days = 15\n")
    council = load_council(tmp_path, "testshire")
    rules = council.kind_rules(RequestKind.COMPLAINT)
    assert (rules.complete_days, rules.priority, rules.outcome_letter) == (
        15,
        True,
        "the outcome of your complaint",
    )
    compliment = council.kind_rules(RequestKind.COMPLIMENT)
    assert not (compliment.completion_target or compliment.escalates or compliment.progress_notices)
    assert council.outcomes_for(RequestKind.COMPLAINT) == council.outcomes
    assert not council.satisfaction.invites(RequestKind.SERVICE_REQUEST)


@pytest.mark.parametrize(
    ("table", "field", "says"),
    [
        ("[kinds.complaint]\nresolve_days = 3", "kinds.complaint.resolve_days", "unknown field"),
        ('[kinds.complaint]\noutcomes = ["upheld"]', "kinds.complaint.outcomes", "unknown outcome"),
        ("[kinds.grievance]\npriority = true", "kinds.grievance", "unknown kind"),
        ("[kinds.complaint]\ncomplete_days = -1", "kinds.complaint.complete_days", "negative"),
        ('[satisfaction]\ninvite = ["praise"]', "satisfaction.invite", "unknown kind"),
        ("[satisfaction]\nsatisfied_from = 9", "satisfaction.satisfied_from", "1 to 5"),
    ],
)
def test_a_bad_kinds_or_satisfaction_table_is_refused_naming_the_field(
    tmp_path: Path,
    table: str,
    field: str,
    says: str,
) -> None:
    path = write_council(tmp_path, VALID + f"\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_council(tmp_path, "testshire")
    message = str(caught.value)
    assert str(path) in message and field in message and says in message
