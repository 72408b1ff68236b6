"""Business calendar: hand-checked 2025-2027 cases and hypothesis properties.

Expected values were worked out by hand from the real calendars; the comment
beside each case gives the reasoning. Package-derived holiday facts are those
of ``holidays`` 0.109 (public category).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import BusinessCalendar, CalendarSpec

SYD = ZoneInfo("Australia/Sydney")
MEL = ZoneInfo("Australia/Melbourne")
PER = ZoneInfo("Australia/Perth")
NYC = ZoneInfo("America/New_York")
OPENS, CLOSES = time(8, 0), time(16, 30)
DAY = timedelta(hours=8, minutes=30)
US = timedelta(microseconds=1)

NSW_SPEC = CalendarSpec(timezone="Australia/Sydney", opens=OPENS, closes=CLOSES, subdivision="NSW")
VIC_SPEC = CalendarSpec(
    timezone="Australia/Melbourne", opens=OPENS, closes=CLOSES, subdivision="VIC"
)
WA_SPEC = CalendarSpec(timezone="Australia/Perth", opens=OPENS, closes=CLOSES, subdivision="WA")
NSW = BusinessCalendar(NSW_SPEC)
VIC = BusinessCalendar(VIC_SPEC)
WA = BusinessCalendar(WA_SPEC)
BY_STATE = {"NSW": (NSW, SYD), "VIC": (VIC, MEL), "WA": (WA, PER)}


def at(zone: ZoneInfo, y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, 0, us, tzinfo=UTC)


# --- holidays per state ----------------------------------------------------------

HOLIDAY_CASES = [
    # (state, date, is it a council holiday?, fragment of the package's name)
    ("NSW", date(2026, 4, 3), True, "Good Friday"),
    ("NSW", date(2026, 4, 4), True, "Easter Saturday"),  # weekend anyway
    ("NSW", date(2026, 4, 6), True, "Easter Monday"),
    # 25 Apr 2026 is a Saturday. NSW declared Mon 27 Apr 2026 (and Mon 26 Apr
    # 2027) additional public holidays in Feb 2026; the package has them.
    ("NSW", date(2026, 4, 27), True, "ANZAC Day (observed)"),
    ("NSW", date(2026, 6, 8), True, "King's Birthday"),  # 2nd Monday of June
    ("NSW", date(2026, 9, 28), False, None),  # WA's King's Birthday only
    ("NSW", date(2026, 8, 3), False, None),  # Bank Holiday: "bank" category, councils open
    ("NSW", date(2026, 10, 5), True, "Labor Day"),
    ("NSW", date(2026, 12, 28), True, "Boxing Day (observed)"),  # 26 Dec is a Saturday
    ("NSW", date(2027, 12, 27), True, "Christmas Day (observed)"),  # 25 Dec 2027 Saturday
    ("NSW", date(2027, 12, 28), True, "Boxing Day (observed)"),  # 26 Dec 2027 Sunday
    ("NSW", date(2028, 1, 3), True, "New Year's Day (observed)"),  # 1 Jan 2028 Saturday
    ("VIC", date(2026, 4, 4), True, "Easter Saturday"),
    ("VIC", date(2026, 4, 27), False, None),  # VIC never substitutes Anzac Day
    ("VIC", date(2026, 3, 9), True, "Labor Day"),  # 2nd Monday of March
    ("VIC", date(2026, 6, 8), True, "King's Birthday"),
    ("VIC", date(2026, 9, 25), True, "AFL Grand Final"),  # package's predicted Friday
    ("VIC", date(2026, 11, 3), True, "Melbourne Cup"),  # statewide by law
    ("VIC", date(2026, 12, 28), True, "Boxing Day (observed)"),
    ("WA", date(2026, 4, 3), True, "Good Friday"),
    ("WA", date(2026, 4, 4), False, None),  # WA has no Easter Saturday holiday
    ("WA", date(2026, 4, 6), True, "Easter Monday"),
    ("WA", date(2026, 4, 27), True, "ANZAC Day (observed)"),  # WA always substitutes
    ("WA", date(2026, 3, 2), True, "Labor Day"),  # 1st Monday of March
    ("WA", date(2026, 6, 1), True, "Western Australia Day"),
    ("WA", date(2026, 6, 8), False, None),  # the eastern King's Birthday
    ("WA", date(2026, 9, 28), True, "King's Birthday"),  # last Monday of September
    ("WA", date(2026, 12, 28), True, "Boxing Day (observed)"),
    ("WA", date(2027, 12, 28), True, "Boxing Day (observed)"),
]


@pytest.mark.parametrize(("state", "day", "holiday", "name"), HOLIDAY_CASES)
def test_state_holidays(state: str, day: date, holiday: bool, name: str | None) -> None:
    cal, _ = BY_STATE[state]
    assert cal.is_holiday(day) is holiday
    found = cal.holiday_name(day)
    if name is None:
        assert found is None
    else:
        assert found is not None and name in found
    if day.weekday() < 5:
        assert cal.is_business_day(day) is not holiday


@pytest.mark.parametrize(
    ("state", "business_days"),
    [
        # 2026 has 261 weekdays. NSW weekday holidays: 1 Jan, 26 Jan, 3 Apr,
        # 6 Apr, 27 Apr, 8 Jun, 5 Oct, 25 Dec, 28 Dec = 9 -> 252.
        ("NSW", 252),
        # VIC: 1 Jan, 26 Jan, 9 Mar, 3 Apr, 6 Apr, 8 Jun, 25 Sep, 3 Nov,
        # 25 Dec, 28 Dec = 10 -> 251.
        ("VIC", 251),
        # WA: 1 Jan, 26 Jan, 2 Mar, 3 Apr, 6 Apr, 27 Apr, 1 Jun, 28 Sep,
        # 25 Dec, 28 Dec = 10 -> 251.
        ("WA", 251),
    ],
)
def test_business_days_in_2026(state: str, business_days: int) -> None:
    cal, zone = BY_STATE[state]
    year = cal.business_days_elapsed(at(zone, 2026, 1, 1), at(zone, 2027, 1, 1))
    assert year == float(business_days)
    assert cal.business_time_elapsed(at(zone, 2026, 1, 1), at(zone, 2027, 1, 1)) == (
        business_days * DAY
    )
    # Adding the whole year's working time lands exactly on the year's last
    # closing (Thu 31 Dec 2026 is a business day everywhere), not in 2027.
    assert cal.add_business_duration(at(zone, 2026, 1, 1), business_days * DAY) == at(
        zone, 2026, 12, 31, 16, 30
    )


# --- due dates ("N business days") -------------------------------------------------

DUE_CASES = [
    # (state, lodged (local), n, due (local closing))
    # Monday 10:00 is day 0, Tuesday is day 1.
    ("NSW", (2026, 3, 9, 10), 1, (2026, 3, 10)),
    ("NSW", (2026, 3, 9, 10), 0, (2026, 3, 9)),
    # 07:59 is before opening: the same Monday is still day 0.
    ("NSW", (2026, 3, 9, 7, 59), 0, (2026, 3, 9)),
    # Exactly 16:30 is a closing instant, not working time: day 0 is Tuesday.
    ("NSW", (2026, 3, 9, 16, 30), 0, (2026, 3, 10)),
    # After hours Friday: day 0 is Monday 16 Mar, day 1 Tuesday.
    ("NSW", (2026, 3, 13, 17), 1, (2026, 3, 17)),
    ("NSW", (2026, 3, 13, 17), 0, (2026, 3, 16)),
    # Saturday: day 0 Monday 16, day 5 Monday 23.
    ("NSW", (2026, 3, 14, 12), 5, (2026, 3, 23)),
    # Australia Day Mon 26 Jan 2026: day 0 Tue 27, day 1 Wed 28.
    ("NSW", (2026, 1, 26, 10), 1, (2026, 1, 28)),
    # Easter: Thu 2 Apr day 0; Fri 3 - Mon 6 closed; day 1 Tue 7 (after DST ends).
    ("NSW", (2026, 4, 2, 10), 1, (2026, 4, 7)),
    ("WA", (2026, 4, 2, 10), 1, (2026, 4, 7)),
    ("VIC", (2026, 4, 2, 10), 1, (2026, 4, 7)),
    # Anzac Day Sat 25 Apr 2026: Monday 27 closed in NSW and WA, open in VIC.
    ("NSW", (2026, 4, 24, 10), 1, (2026, 4, 28)),
    ("WA", (2026, 4, 24, 10), 1, (2026, 4, 28)),
    ("VIC", (2026, 4, 24, 10), 1, (2026, 4, 27)),
    # WA Day Mon 1 Jun 2026 (WA only).
    ("WA", (2026, 5, 29, 10), 1, (2026, 6, 2)),
    ("NSW", (2026, 5, 29, 10), 1, (2026, 6, 1)),
    # King's Birthday Mon 8 Jun (NSW, VIC) vs Mon 28 Sep (WA).
    ("NSW", (2026, 6, 5, 10), 1, (2026, 6, 9)),
    ("VIC", (2026, 6, 5, 10), 1, (2026, 6, 9)),
    ("WA", (2026, 6, 5, 10), 1, (2026, 6, 8)),
    ("WA", (2026, 9, 25, 10), 1, (2026, 9, 29)),
    ("NSW", (2026, 9, 25, 10), 1, (2026, 9, 28)),
    # VIC: Fri 25 Sep 2026 is the AFL Grand Final holiday, so lodging on it
    # makes Mon 28 day 0 and Tue 29 day 1.
    ("VIC", (2026, 9, 25, 10), 1, (2026, 9, 29)),
    # Christmas 2026: Fri 25, Sat 26, Mon 28 (Boxing Day substitute) closed.
    ("NSW", (2026, 12, 24, 10), 1, (2026, 12, 29)),
    ("VIC", (2026, 12, 24, 10), 1, (2026, 12, 29)),
    ("WA", (2026, 12, 24, 10), 1, (2026, 12, 29)),
    # Christmas 2027: Sat 25, Sun 26 -> Mon 27 and Tue 28 closed.
    ("NSW", (2027, 12, 24, 10), 1, (2027, 12, 29)),
    ("WA", (2027, 12, 24, 10), 1, (2027, 12, 29)),
    # ... day 3 Fri 31 Dec; 1 Jan 2028 is a Saturday, Mon 3 Jan substitute,
    # so day 4 is Tue 4 Jan 2028.
    ("NSW", (2027, 12, 24, 10), 3, (2027, 12, 31)),
    ("NSW", (2027, 12, 24, 10), 4, (2028, 1, 4)),
]


@pytest.mark.parametrize(("state", "lodged", "n", "due"), DUE_CASES)
def test_add_business_days(
    state: str, lodged: tuple[int, ...], n: int, due: tuple[int, int, int]
) -> None:
    cal, zone = BY_STATE[state]
    result = cal.add_business_days(at(zone, *lodged), n)
    assert result == datetime.combine(date(*due), CLOSES, tzinfo=zone)
    assert result.tzinfo is UTC


def test_due_instants_in_utc_follow_dst() -> None:
    # Thu 2 Apr 2026 16:30 AEDT (UTC+11) = 05:30Z; Tue 7 Apr 16:30 AEST (UTC+10) = 06:30Z.
    assert NSW.add_business_days(at(SYD, 2026, 4, 2, 10), 0) == utc(2026, 4, 2, 5, 30)
    assert NSW.add_business_days(at(SYD, 2026, 4, 2, 10), 1) == utc(2026, 4, 7, 6, 30)
    # Perth has no DST: 16:30 AWST is 08:30Z all year.
    assert WA.add_business_days(at(PER, 2026, 1, 14, 10), 0) == utc(2026, 1, 14, 8, 30)
    assert WA.add_business_days(at(PER, 2026, 7, 14, 10), 0) == utc(2026, 7, 14, 8, 30)


# --- openings, DST ----------------------------------------------------------------


def test_opening_utc_instants_shift_by_an_hour_around_dst() -> None:
    # Sydney DST ends Sun 5 Apr 2026. Thu 2 Apr 08:00 AEDT = Wed 1 Apr 21:00Z;
    # lodged on Good Friday, next opening is Tue 7 Apr 08:00 AEST = Mon 6 Apr 22:00Z.
    assert NSW.next_opening(at(SYD, 2026, 4, 2, 7)) == utc(2026, 4, 1, 21)
    assert NSW.next_opening(at(SYD, 2026, 4, 3, 12)) == utc(2026, 4, 6, 22)
    # DST starts Sun 4 Oct 2026; Mon 5 Oct is Labour Day. Fri 2 Oct 08:00 AEST
    # = Thu 1 Oct 22:00Z; Tue 6 Oct 08:00 AEDT = Mon 5 Oct 21:00Z.
    assert NSW.next_opening(at(SYD, 2026, 10, 2, 7)) == utc(2026, 10, 1, 22)
    assert NSW.next_opening(at(SYD, 2026, 10, 2, 17)) == utc(2026, 10, 5, 21)
    # Perth: 08:00 AWST = 00:00Z in January and July alike.
    assert WA.next_opening(at(PER, 2026, 1, 15, 7)) == utc(2026, 1, 15)
    assert WA.next_opening(at(PER, 2026, 7, 15, 7)) == utc(2026, 7, 15)


def test_elapsed_across_dst_weekends_ignores_the_clock_change() -> None:
    # Thu 2 Apr 12:00 AEDT -> Tue 7 Apr 12:00 AEST: Thu 12:00-16:30 (4h30)
    # + Tue 08:00-12:00 (4h) = 8h30, although 5 days 1 hour pass in UTC.
    start, end = at(SYD, 2026, 4, 2, 12), at(SYD, 2026, 4, 7, 12)
    # (Subtract in UTC: same-tzinfo subtraction would give wall-clock time.)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=5, hours=1)
    assert NSW.business_time_elapsed(start, end) == DAY
    assert NSW.add_business_duration(start, DAY) == end
    # Fri 2 Oct 12:00 AEST -> Tue 6 Oct 12:00 AEDT (Mon is Labour Day): 8h30
    # again, over 3 days 23 hours of UTC.
    start, end = at(SYD, 2026, 10, 2, 12), at(SYD, 2026, 10, 6, 12)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=3, hours=23)
    assert NSW.business_time_elapsed(start, end) == DAY
    assert NSW.add_business_duration(start, DAY) == end == utc(2026, 10, 6, 1)


def test_us_calendar_with_dst_and_state_holiday() -> None:
    cal = BusinessCalendar(
        CalendarSpec(
            timezone="America/New_York",
            opens=time(9),
            closes=time(17),
            country="US",
            subdivision="MA",
        )
    )
    assert cal.holiday_name(date(2026, 4, 20)) == "Patriots' Day"
    # DST starts Sun 8 Mar 2026: Fri 09:00 EST = 14:00Z, Mon 09:00 EDT = 13:00Z.
    assert cal.next_opening(at(NYC, 2026, 3, 6, 8)) == utc(2026, 3, 6, 14)
    assert cal.next_opening(at(NYC, 2026, 3, 6, 18)) == utc(2026, 3, 9, 13)
    # Fri 13:00 -> Mon 13:00: 4h + 4h.
    assert cal.business_time_elapsed(at(NYC, 2026, 3, 6, 13), at(NYC, 2026, 3, 9, 13)) == (
        timedelta(hours=8)
    )


# --- durations --------------------------------------------------------------------


def test_adding_exactly_the_rest_of_today_gives_todays_closing() -> None:
    start = at(SYD, 2026, 3, 9, 14)  # Monday
    assert NSW.add_business_duration(start, timedelta(hours=2, minutes=30)) == at(
        SYD, 2026, 3, 9, 16, 30
    )
    # One microsecond more spills into Tuesday's opening.
    assert NSW.add_business_duration(start, timedelta(hours=2, minutes=30) + US) == (
        at(SYD, 2026, 3, 10, 8) + US
    )
    # A full working day from 14:00 Monday is 14:00 Tuesday.
    assert NSW.add_business_duration(start, DAY) == at(SYD, 2026, 3, 10, 14)


def test_duration_over_weekend_and_after_hours() -> None:
    # Fri 13 Mar 15:00 + 3h: 1h30 on Friday, 1h30 from Monday 08:00 -> 09:30.
    assert NSW.add_business_duration(at(SYD, 2026, 3, 13, 15), timedelta(hours=3)) == at(
        SYD, 2026, 3, 16, 9, 30
    )
    # Saturday noon + 1h: counts from Monday's opening -> 09:00.
    assert NSW.add_business_duration(at(SYD, 2026, 3, 14, 12), timedelta(hours=1)) == at(
        SYD, 2026, 3, 16, 9
    )
    # Zero duration returns the instant unchanged, even on a weekend.
    sat = at(SYD, 2026, 3, 14, 12)
    assert NSW.add_business_duration(sat, timedelta(0)) == sat


def test_duration_over_perth_easter_2025() -> None:
    # Thu 17 Apr 2025 15:00 + 3h: 1h30 Thursday; Good Friday 18 and Easter
    # Monday 21 closed; Tue 22 Apr 08:00 + 1h30 = 09:30 AWST = 01:30Z.
    result = WA.add_business_duration(at(PER, 2025, 4, 17, 15), timedelta(hours=3))
    assert result == utc(2025, 4, 22, 1, 30)


def test_business_days_elapsed() -> None:
    # Mon 08:00 -> Wed 08:00 is two whole days; Mon 08:00 -> 12:15 is 4h15 of 8h30.
    assert NSW.business_days_elapsed(at(SYD, 2026, 3, 9, 8), at(SYD, 2026, 3, 11, 8)) == 2.0
    assert NSW.business_days_elapsed(at(SYD, 2026, 3, 9, 8), at(SYD, 2026, 3, 9, 12, 15)) == 0.5
    assert NSW.business_days_elapsed(at(SYD, 2026, 3, 11, 8), at(SYD, 2026, 3, 9, 8)) == -2.0


def test_elapsed_accepts_any_zone_and_is_antisymmetric() -> None:
    a = at(SYD, 2026, 3, 9, 10)
    b = a.astimezone(PER) + timedelta(days=3)  # Thu 12 Mar 10:00 Sydney
    assert NSW.business_time_elapsed(a, b) == 3 * DAY
    assert NSW.business_time_elapsed(b, a) == -3 * DAY


def test_working_time_is_half_open() -> None:
    assert NSW.is_working_time(at(SYD, 2026, 3, 9, 8))
    assert NSW.is_working_time(at(SYD, 2026, 3, 9, 16, 30) - US)
    assert not NSW.is_working_time(at(SYD, 2026, 3, 9, 16, 30))
    assert not NSW.is_working_time(at(SYD, 2026, 3, 14, 10))  # Saturday
    assert not NSW.is_working_time(at(SYD, 2026, 1, 26, 10))  # Australia Day
    working = at(SYD, 2026, 3, 9, 11)
    assert NSW.next_opening(working) == working


# --- council's own holidays ---------------------------------------------------------


def test_local_extra_holiday_and_removed_holiday() -> None:
    spec = CalendarSpec(
        timezone="Australia/Sydney",
        opens=OPENS,
        closes=CLOSES,
        subdivision="NSW",
        # Illustrative local show day, and a council that works the Boxing Day substitute.
        extra_holidays=((date(2026, 2, 27), "Crookwell Show Day"),),
        removed_holidays=(date(2026, 12, 28),),
    )
    cal = BusinessCalendar(spec)
    assert cal.holiday_name(date(2026, 2, 27)) == "Crookwell Show Day"
    assert not cal.is_business_day(date(2026, 2, 27))
    # Thu 26 Feb day 0; Fri 27 closed; day 1 Mon 2 Mar.
    assert cal.add_business_days(at(SYD, 2026, 2, 26, 10), 1) == at(SYD, 2026, 3, 2, 16, 30)
    # Without the substitute, Mon 28 Dec is day 1 after Thu 24 Dec (Fri 25 closed).
    assert not cal.is_holiday(date(2026, 12, 28))
    assert cal.holiday_name(date(2026, 12, 28)) is None
    assert cal.add_business_days(at(SYD, 2026, 12, 24, 10), 1) == at(SYD, 2026, 12, 28, 16, 30)
    # The state calendar is unchanged.
    assert NSW.add_business_days(at(SYD, 2026, 2, 26, 10), 1) == at(SYD, 2026, 2, 27, 16, 30)


def test_saturday_working_council() -> None:
    cal = BusinessCalendar(
        CalendarSpec(
            timezone="Australia/Sydney",
            opens=time(9),
            closes=time(12),
            workdays=(5, 0, 1, 2, 3, 4),
            subdivision="NSW",
        )
    )
    assert cal.spec.workdays == (0, 1, 2, 3, 4, 5)
    assert cal.is_business_day(date(2026, 3, 14))
    assert not cal.is_business_day(date(2026, 4, 4))  # Easter Saturday
    # Fri 13 Mar 17:00 -> day 0 Sat 14, day 1 Mon 16.
    assert cal.add_business_days(at(SYD, 2026, 3, 13, 17), 1) == at(SYD, 2026, 3, 16, 12)


# --- spec -------------------------------------------------------------------------


def test_spec_round_trips_through_json() -> None:
    spec = CalendarSpec(
        timezone="Australia/Perth",
        opens=time(8, 15),
        closes=time(16, 45, 30),
        workdays=(4, 3, 2, 1, 0),
        subdivision="WA",
        extra_holidays=((date(2026, 10, 1), "Show"), (date(2026, 2, 1), "Local")),
        removed_holidays=(date(2026, 12, 28),),
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["opens"] == "08:15:00"
    assert data["extra_holidays"][0] == ["2026-02-01", "Local"]
    assert CalendarSpec.from_dict(data) == spec
    assert hash(CalendarSpec.from_dict(data)) == hash(spec)


def test_spec_from_minimal_dict_uses_defaults() -> None:
    spec = CalendarSpec.from_dict(
        {"timezone": "Australia/Sydney", "opens": "08:00", "closes": "16:30"}
    )
    assert spec == CalendarSpec(timezone="Australia/Sydney", opens=OPENS, closes=CLOSES)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opens": time(17), "closes": time(8)},
        {"opens": OPENS, "closes": OPENS},
        {"opens": OPENS, "closes": CLOSES, "workdays": (7,)},
        {"opens": OPENS, "closes": CLOSES, "workdays": ()},
        {"opens": time(8, tzinfo=UTC), "closes": CLOSES},
        {
            "opens": OPENS,
            "closes": CLOSES,
            "extra_holidays": ((date(2026, 1, 2), "x"),),
            "removed_holidays": (date(2026, 1, 2),),
        },
    ],
)
def test_spec_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CalendarSpec(timezone="Australia/Sydney", **kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError):
        NSW.is_working_time(datetime(2026, 3, 9, 10))  # naive
    with pytest.raises(ValueError):
        NSW.business_time_elapsed(at(SYD, 2026, 3, 9), datetime(2026, 3, 9))
    with pytest.raises(ValueError):
        NSW.add_business_duration(at(SYD, 2026, 3, 9), -US)
    with pytest.raises(ValueError):
        NSW.add_business_days(at(SYD, 2026, 3, 9), -1)
    with pytest.raises(TypeError):
        NSW.is_holiday(datetime(2026, 1, 26, tzinfo=SYD))
    with pytest.raises(ValueError):
        BusinessCalendar(CalendarSpec(timezone="Mars/Olympus", opens=OPENS, closes=CLOSES))
    with pytest.raises(ValueError):
        BusinessCalendar(
            CalendarSpec(timezone="Australia/Sydney", opens=OPENS, closes=CLOSES, subdivision="XX")
        )


def test_long_durations_are_fast_and_consistent() -> None:
    start = at(SYD, 2026, 3, 9, 10)
    far = NSW.add_business_duration(start, 2500 * DAY)  # roughly ten years
    assert NSW.business_time_elapsed(start, far) == 2500 * DAY
    assert NSW.is_working_time(far) or far == NSW.add_business_days(far - US, 0)


# --- properties -------------------------------------------------------------------

CALENDARS = [
    NSW,
    WA,
    VIC,
    BusinessCalendar(
        CalendarSpec(
            timezone="America/New_York",
            opens=time(9, 15),
            closes=time(17, 5),
            workdays=(0, 1, 2, 3, 5),
            country="US",
            subdivision="MA",
            extra_holidays=((date(2026, 3, 10), "Town Meeting"),),
        )
    ),
]
PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def instants(draw: st.DrawFn, cal: BusinessCalendar) -> datetime:
    """Arbitrary instants, with a bias to openings and closings and their neighbours."""
    if draw(st.booleans()):
        return draw(
            st.datetimes(
                min_value=datetime(2025, 12, 1),
                max_value=datetime(2027, 6, 30),
                timezones=st.just(UTC),
            )
        )
    day = draw(st.dates(min_value=date(2025, 12, 1), max_value=date(2027, 6, 30)))
    clock = draw(st.sampled_from([cal.spec.opens, cal.spec.closes]))
    nudge = draw(st.sampled_from([-US, timedelta(0), timedelta(0), US]))
    return datetime.combine(day, clock, tzinfo=ZoneInfo(cal.spec.timezone)).astimezone(UTC) + nudge


durations = st.one_of(
    st.just(timedelta(0)),
    st.integers(min_value=1, max_value=3).map(lambda k: k * US),
    st.integers(min_value=0, max_value=400).map(lambda k: k * timedelta(minutes=15)),
    st.integers(min_value=0, max_value=int(150 * DAY / US)).map(lambda k: k * US),
)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime]:
    cal = draw(st.sampled_from(CALENDARS))
    return cal, draw(instants(cal))


def _closing_of_business_day(cal: BusinessCalendar, t: datetime) -> bool:
    local = t.astimezone(ZoneInfo(cal.spec.timezone))
    return cal.is_business_day(local.date()) and local.timetz().replace(tzinfo=None) == (
        cal.spec.closes
    )


def _naive_elapsed(cal: BusinessCalendar, t: datetime, u: datetime) -> timedelta:
    """Day-by-day reference for t <= u, from the public date predicates only."""
    zone = ZoneInfo(cal.spec.timezone)
    total = timedelta(0)
    day = t.astimezone(zone).date() - timedelta(days=1)
    while day <= u.astimezone(zone).date() + timedelta(days=1):
        if cal.is_business_day(day):
            opening = datetime.combine(day, cal.spec.opens, tzinfo=zone).astimezone(UTC)
            closing = datetime.combine(day, cal.spec.closes, tzinfo=zone).astimezone(UTC)
            low, high = max(opening, t), min(closing, u)
            if high > low:
                total += high - low
        day += timedelta(days=1)
    return total


@PROPERTY_SETTINGS
@given(scenario(), durations)
def test_prop_elapsed_inverts_add_and_add_is_earliest(
    case: tuple[BusinessCalendar, datetime], d: timedelta
) -> None:
    cal, t = case
    u = cal.add_business_duration(t, d)
    assert u >= t and u.tzinfo is UTC
    assert cal.business_time_elapsed(t, u) == d
    if d:
        assert cal.business_time_elapsed(t, u - US) == d - US  # so nothing earlier reaches d
        assert cal.is_working_time(u) or _closing_of_business_day(cal, u)


@PROPERTY_SETTINGS
@given(scenario(), durations, durations)
def test_prop_add_is_monotonic_and_composes(
    case: tuple[BusinessCalendar, datetime], d1: timedelta, d2: timedelta
) -> None:
    cal, t = case
    first = cal.add_business_duration(t, d1)
    both = cal.add_business_duration(t, d1 + d2)
    assert first <= both
    assert cal.add_business_duration(t, min(d1, d2)) <= cal.add_business_duration(t, max(d1, d2))
    # Holds at closing instants too: from a closing, a positive duration moves
    # to the next opening first, which is what the single addition does.
    assert cal.add_business_duration(first, d2) == both


@PROPERTY_SETTINGS
@given(st.data())
def test_prop_elapsed_is_additive_and_matches_naive(data: st.DataObject) -> None:
    cal = data.draw(st.sampled_from(CALENDARS))
    a, b, c = (data.draw(instants(cal)) for _ in range(3))
    ab, bc, ac = (cal.business_time_elapsed(x, y) for x, y in ((a, b), (b, c), (a, c)))
    assert ab + bc == ac
    assert cal.business_time_elapsed(b, a) == -ab
    low, high = min(a, b), max(a, b)
    if high - low <= timedelta(days=120):
        assert cal.business_time_elapsed(low, high) == _naive_elapsed(cal, low, high)


@PROPERTY_SETTINGS
@given(scenario(), st.integers(min_value=0, max_value=300))
def test_prop_add_business_days_lands_on_closing(
    case: tuple[BusinessCalendar, datetime], n: int
) -> None:
    cal, t = case
    due = cal.add_business_days(t, n)
    assert due > t and due.tzinfo is UTC
    assert _closing_of_business_day(cal, due)
    # Exactly n business days lie after day 0 up to and including the due day.
    zone = ZoneInfo(cal.spec.timezone)
    day0 = cal.next_opening(t).astimezone(zone).date()
    assert cal.is_business_day(day0)
    due_day = due.astimezone(zone).date()
    between = sum(
        cal.is_business_day(day0 + timedelta(days=k)) for k in range(1, (due_day - day0).days + 1)
    )
    assert between == n


@PROPERTY_SETTINGS
@given(scenario())
def test_prop_next_opening(case: tuple[BusinessCalendar, datetime]) -> None:
    cal, t = case
    opening = cal.next_opening(t)
    assert opening >= t and cal.is_working_time(opening)
    assert cal.business_time_elapsed(t, opening) == timedelta(0)
    assert cal.is_working_time(t) == (opening == t)
    assert cal.is_working_time(t) == (cal.business_time_elapsed(t, t + US) == US)


# -- one rule for "N working days", date-only deadlines, recorded holidays ---------------------


@PROPERTY_SETTINGS
@given(scenario(), st.integers(min_value=0, max_value=300))
def test_prop_days_left_inverts_add_business_days(
    case: tuple[BusinessCalendar, datetime], n: int
) -> None:
    cal, t = case
    due = cal.add_business_days(t, n)
    assert cal.business_days_left(t, due) == n
    # the fewest: one day fewer closes before the due instant
    if n:
        assert cal.add_business_days(t, n - 1) < due


@PROPERTY_SETTINGS
@given(st.data())
def test_prop_days_left_reaches_any_due_with_the_fewest_days(data: st.DataObject) -> None:
    cal = data.draw(st.sampled_from(CALENDARS))
    t, due = data.draw(instants(cal)), data.draw(instants(cal))
    n = cal.business_days_left(t, due)
    assert n >= 0
    assert cal.add_business_days(t, n) >= due or due <= t
    if n:
        assert cal.add_business_days(t, n - 1) < due


@PROPERTY_SETTINGS
@given(scenario(), st.integers(min_value=0, max_value=60))
def test_prop_days_after_a_due_instant_count_from_the_day_it_closes(
    case: tuple[BusinessCalendar, datetime], n: int
) -> None:
    cal, t = case
    due = cal.add_business_days(t, 3)  # a closing instant, as every due instant is
    later = cal.add_business_days_after_due(due, n)
    assert _closing_of_business_day(cal, later)
    # the same as counting n business days from any working instant of the due's own day
    assert later == (due if n == 0 else cal.add_business_days(due - timedelta(hours=1), n))
    assert cal.business_days_left(due - US, later) == n


@PROPERTY_SETTINGS
@given(
    st.sampled_from(CALENDARS), st.dates(min_value=date(2025, 12, 1), max_value=date(2027, 6, 30))
)
def test_prop_a_date_only_deadline_is_the_close_of_that_or_the_next_business_day(
    cal: BusinessCalendar, day: date
) -> None:
    closing, business_day = cal.close_of_business_day(day)
    assert cal.is_business_day(business_day) and business_day >= day
    assert _closing_of_business_day(cal, closing)
    assert closing.astimezone(ZoneInfo(cal.spec.timezone)).date() == business_day
    assert all(
        not cal.is_business_day(day + timedelta(days=k)) for k in range((business_day - day).days)
    )


def test_christmas_day_as_a_deadline_means_the_close_of_the_next_business_day() -> None:
    # 25 December 2026 is a Friday; Monday 28 is the Boxing Day substitute in NSW: Tuesday 29.
    assert NSW.close_of_business_day(date(2026, 12, 25)) == (
        at(SYD, 2026, 12, 29, 16, 30),
        date(2026, 12, 29),
    )
    # a business day is its own
    assert NSW.close_of_business_day(date(2026, 12, 24)) == (
        at(SYD, 2026, 12, 24, 16, 30),
        date(2026, 12, 24),
    )


def test_a_friday_evening_request_is_owed_its_progress_notice_on_the_monday_after() -> None:
    # Seed 002: a progress notice if not complete within 15 working days. Lodged Friday
    # 6 November 2026 at 18:00 (day 0 is Monday 9): the 15th business day after it closes
    # Monday 30 November (10-13, 16-20, 23-27, 30), not Friday 27 November (15 × 8.5 hours).
    lodged = at(SYD, 2026, 11, 6, 18)
    assert NSW.add_business_days(lodged, 15) == at(SYD, 2026, 11, 30, 16, 30)


def test_a_recorded_calendar_keeps_its_holidays_whatever_the_package_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = NSW.resolved_spec(2026, 2028)
    assert recorded.holidays_of(2026) is not None
    assert date(2026, 4, 27) in recorded.holidays_of(2026)  # the NSW Anzac Monday of 2026
    before = BusinessCalendar(recorded).add_business_days(at(SYD, 2026, 4, 24, 10), 1)

    import domain.calendar as calendar_module

    calendar_module._public_holidays.cache_clear()
    calendar_module._council_holidays.cache_clear()
    calendar_module._year_table.cache_clear()
    monkeypatch.setattr(calendar_module, "_public_holidays", lambda *_: {})
    try:
        assert not BusinessCalendar(NSW.spec).is_holiday(date(2026, 4, 27))  # now "no holidays"
        assert BusinessCalendar(recorded).is_holiday(date(2026, 4, 27))
        assert BusinessCalendar(recorded).add_business_days(at(SYD, 2026, 4, 24, 10), 1) == before
        assert CalendarSpec.from_dict(recorded.to_dict()) == recorded
    finally:
        calendar_module._council_holidays.cache_clear()
        calendar_module._year_table.cache_clear()
