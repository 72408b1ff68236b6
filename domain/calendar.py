"""Council business calendar: business days, working time and due instants.

Pure domain code: no I/O beyond reading the IANA time-zone database through
:mod:`zoneinfo`, and no wall clock. Every instant is passed in by the caller.

Definitions (these are the guarantees the rest of the system relies on)
-----------------------------------------------------------------------
*Council* configuration is a :class:`CalendarSpec`. The seed policy defines a
business day as "Monday to Friday, excluding public holidays, between 8.00am
and 4.30pm"; every part of that is a parameter here.

Holiday
    A date is a holiday of the council when it is a **public** holiday of
    ``country``/``subdivision`` in the ``holidays`` package
    (``categories=("public",)``, substitute/"observed" days included) or listed
    in ``extra_holidays``, and it is not listed in ``removed_holidays``. The
    package's other categories are excluded; for Australia they are ``bank``
    (ACT/NSW "Bank Holiday", first Monday of August: banks close, councils
    open), ``half_day`` (Christmas Eve/New Year's Eve from 6-7 pm in NT, QLD,
    SA: after closing anyway) and ``school`` (school holidays). Weekend dates
    may be holidays (Easter Saturday); that changes nothing as they are not
    workdays. Dates a government sets year by year (VIC AFL Grand Final
    Friday, WA King's Birthday, the one-off NSW Anzac Mondays of 2026-27) are
    the package's rule or prediction; ``extra_holidays``/``removed_holidays``
    correct them without a code change.

Business day
    A date whose weekday is in ``workdays`` (Monday=0) and that is not a
    holiday.

Opening, closing
    For a business day ``D`` the opening instant is the UTC instant of wall
    clock ``opens`` on ``D`` in ``timezone``, and the closing instant that of
    ``closes`` (``zoneinfo`` rules, so DST aware: 08:00 in Sydney is 21:00 UTC
    the previous day under AEDT and 22:00 UTC under AEST).

Working time
    The union of the half-open intervals ``[opening, closing)`` of all business
    days. A closing instant is therefore *not* working time; an opening is.

Which day an instant belongs to
    An instant ``t`` is looked at through its local date in ``timezone``
    (``t.astimezone(zone).date()``). This is exact as long as no DST jump
    moves the wall clock across the gap between ``closes`` and the next
    ``opens``, which holds for every real zone and office hours.

Elapsed business time
    ``business_time_elapsed(t, u)`` is the measure (exact, integer
    microseconds) of working time in ``[t, u)``, and minus that of ``[u, t)``
    when ``u < t``. It is additive: ``elapsed(a, b) + elapsed(b, c) ==
    elapsed(a, c)`` for any three instants.

Adding business time
    ``add_business_duration(t, d)`` is the earliest instant ``u >= t`` with
    ``business_time_elapsed(t, u) == d``. Hence ``u`` is working time or a
    closing instant (adding exactly what is left of today gives today's
    closing, not tomorrow's opening), and
    ``add(t, d1 + d2) == add(add(t, d1), d2)`` always holds.

Business days ("due in N business days")
    Day 0 is the local date of ``next_opening(t)``: the lodgement's own date
    when lodged in working time, else the business day of the next opening
    (lodged after hours, on a weekend or holiday). ``add_business_days(t, n)``
    is the closing instant of the n-th business day after day 0; ``n == 0``
    gives the closing of day 0. Lodged Monday 10:00, n=1 -> Tuesday's closing;
    lodged Friday 17:00, n=1 -> Tuesday's closing (Monday is day 0).

One rule for "N working days from an instant"
    Every standard counts working days with ``add_business_days``: the
    acknowledgement and completion targets from the instant the council
    received the request; progress notices from receipt, then each repeat from
    the previous notice; the resumption after a customer pause from the
    resumption instant, ``N`` being the whole business days that were left
    when the clock stopped (``business_days_left``); escalation levels from the
    breached due instant (``add_business_days_after_due``: a due instant is a
    closing, counted as the end of its own day, so 0 days after a breach is
    the breach itself and 5 days after is the 5th following closing). Hence
    every instant a standard falls due is a closing instant of a business day.
    A date-only deadline (an agreed completion, a new expected date) means the
    closing of that date, or of the next business day when the date is not one
    (``close_of_business_day``).

Recorded holidays
    A spec may carry ``resolved_holidays`` for ``resolved_years`` (first, last):
    the council's holidays of those years as resolved when the spec was
    recorded (``BusinessCalendar.resolved_spec``). For those years they are the
    holidays, whatever the installed ``holidays`` package says; other years
    are resolved as above. A request records its calendar resolved over its
    horizon, so every instant derived from it later is the same whichever
    version of the package is installed.

Day length
    ``business_days_elapsed`` divides elapsed time by the nominal working day,
    ``closes - opens`` as wall-clock times (8.5 h for 08:00-16:30). A business
    day whose opening hours contain a DST jump (none in Australia: jumps are at
    02:00/03:00) is longer or shorter in real time, and counts as such.

All returned datetimes are tz-aware in :data:`datetime.UTC` (``timezone.utc``).
Every datetime argument must be tz-aware (any zone): a naive one raises
:class:`ValueError`. Date arguments must be plain dates (a datetime raises
:class:`TypeError`, as it would silently never match a holiday).

Cost
    Per (spec, year) the calendar builds once, and caches, the year's business
    days with their UTC openings, closings and running total of working time
    (under 1 ms a year). Then every operation is a bisection or two plus one
    step per calendar year spanned, however long the duration. Past year 9999
    :class:`OverflowError` is raised.

Reach
    A span is worked out over at most ``_REACH_YEARS`` (200) years: an instant
    further than that after the earlier end of a span counts as the first
    instant (UTC) of the year 200 years away, and adding more business time
    than that reach holds gives that instant. Every span from 1900 to a due
    date within a council's horizon is well inside the reach, so nothing there
    changes; a date far beyond (stored before due dates were bounded) costs at
    most 200 year tables instead of thousands.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["BusinessCalendar", "CalendarSpec"]

_T = TypeVar("_T")
_ONE_DAY = timedelta(days=1)
_ONE_US = timedelta(microseconds=1)
_HOLIDAY_CATEGORIES = ("public",)
# A calendar with no business day for this many consecutive years is broken
# (e.g. every workday removed); without the cap a search would never end.
_MAX_BARREN_YEARS = 8
# Business time is worked out year by year; a span longer than this many years (only a date
# far past any due-date horizon, e.g. one stored before the council bounded them) is measured
# up to it, so no question builds thousands of year tables. 200 years covers every span from
# the calendar's first year (1900) to a due date within any horizon.
_REACH_YEARS = 200
_SPEC_KEYS = frozenset(
    {
        "timezone",
        "opens",
        "closes",
        "workdays",
        "country",
        "subdivision",
        "extra_holidays",
        "removed_holidays",
        "resolved_years",
        "resolved_holidays",
    }
)


@dataclass(frozen=True, kw_only=True)
class CalendarSpec:
    """Per-council calendar configuration; immutable, hashable, serialisable.

    Normalised on construction: ``workdays`` sorted and de-duplicated,
    ``extra_holidays`` and ``removed_holidays`` sorted by date, so two specs
    describing the same calendar compare (and hash) equal.

    Raises ValueError when: ``opens >= closes`` or either carries a tzinfo;
    a workday is outside 0..6 or there is none; an extra holiday is listed
    twice, also removed, or unnamed; a holiday entry is not a plain date
    (TypeError; a datetime is refused).
    """

    timezone: str
    opens: time
    closes: time
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    country: str = "AU"
    subdivision: str | None = None
    extra_holidays: tuple[tuple[date, str], ...] = ()
    removed_holidays: tuple[date, ...] = ()
    resolved_years: tuple[int, int] | None = None
    resolved_holidays: tuple[tuple[date, str], ...] = ()

    def __post_init__(self) -> None:
        _check_clock(self.opens, "opens")
        _check_clock(self.closes, "closes")
        if self.opens >= self.closes:
            raise ValueError(f"opens {self.opens} must be before closes {self.closes}")
        if not self.workdays or any(type(w) is not int or not 0 <= w <= 6 for w in self.workdays):
            raise ValueError(f"workdays must be a non-empty set of 0..6, got {self.workdays!r}")
        for day, name in self.extra_holidays:
            _check_spec_date(day, "extra_holidays")
            if not isinstance(name, str) or not name:
                raise ValueError(f"extra_holidays: name of {day} must be a non-empty str")
        for day in self.removed_holidays:
            _check_spec_date(day, "removed_holidays")
        workdays = tuple(sorted(set(self.workdays)))
        extras = tuple(sorted(((d, n) for d, n in self.extra_holidays), key=lambda e: e[0]))
        removed = tuple(sorted(set(self.removed_holidays)))
        extra_days = [d for d, _ in extras]
        if len(set(extra_days)) != len(extra_days):
            raise ValueError("extra_holidays lists a date twice")
        if set(extra_days) & set(removed):
            raise ValueError("a date is both in extra_holidays and removed_holidays")
        if not self.timezone or not self.country:
            raise ValueError("timezone and country must be non-empty")
        object.__setattr__(self, "workdays", workdays)
        object.__setattr__(self, "extra_holidays", extras)
        object.__setattr__(self, "removed_holidays", removed)
        if self.resolved_years is not None:
            first, last = (int(y) for y in self.resolved_years)
            if first > last:
                raise ValueError(f"resolved_years {self.resolved_years!r} is not (first, last)")
            object.__setattr__(self, "resolved_years", (first, last))
        for day, _ in self.resolved_holidays:
            _check_spec_date(day, "resolved_holidays")
        resolved = tuple(sorted(((d, n) for d, n in self.resolved_holidays), key=lambda e: e[0]))
        object.__setattr__(self, "resolved_holidays", resolved)

    def holidays_of(self, year: int) -> Mapping[date, str] | None:
        """The recorded holidays of `year`, or None when the spec recorded none for it."""
        if (
            self.resolved_years is None
            or not self.resolved_years[0] <= year <= self.resolved_years[1]
        ):
            return None
        return MappingProxyType({d: n for d, n in self.resolved_holidays if d.year == year})

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form: times and dates as ISO strings, tuples as lists."""
        return {
            "timezone": self.timezone,
            "opens": self.opens.isoformat(),
            "closes": self.closes.isoformat(),
            "workdays": list(self.workdays),
            "country": self.country,
            "subdivision": self.subdivision,
            "extra_holidays": [[d.isoformat(), name] for d, name in self.extra_holidays],
            "removed_holidays": [d.isoformat() for d in self.removed_holidays],
            "resolved_years": None if self.resolved_years is None else list(self.resolved_years),
            "resolved_holidays": [[d.isoformat(), n] for d, n in self.resolved_holidays],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> CalendarSpec:
        """Inverse of :meth:`to_dict`; optional keys may be absent.

        Raises ValueError on unknown keys or bad values, TypeError on values
        of the wrong JSON type.
        """
        unknown = set(d) - _SPEC_KEYS
        if unknown:
            raise ValueError(f"unknown CalendarSpec keys: {sorted(unknown)}")
        subdivision = d.get("subdivision")
        years = d.get("resolved_years")
        return cls(
            timezone=_expect(d.get("timezone"), str, "timezone"),
            opens=time.fromisoformat(_expect(d.get("opens"), str, "opens")),
            closes=time.fromisoformat(_expect(d.get("closes"), str, "closes")),
            workdays=tuple(
                _expect(w, int, "workdays") for w in _items(d.get("workdays", [0, 1, 2, 3, 4]))
            ),
            country=_expect(d.get("country", "AU"), str, "country"),
            subdivision=None if subdivision is None else _expect(subdivision, str, "subdivision"),
            extra_holidays=tuple(_extra_from_json(e) for e in _items(d.get("extra_holidays", []))),
            removed_holidays=tuple(
                date.fromisoformat(_expect(r, str, "removed_holidays"))
                for r in _items(d.get("removed_holidays", []))
            ),
            resolved_years=None if years is None else _year_pair(years),
            resolved_holidays=tuple(
                _extra_from_json(e) for e in _items(d.get("resolved_holidays", []))
            ),
        )


class BusinessCalendar:
    """Working-time arithmetic for one council; see the module docstring.

    Construction raises ValueError for an unknown time zone, country or
    subdivision. Instances are immutable apart from internal caches and safe to
    share.
    """

    __slots__ = ("_holidays", "_nominal_us", "_spec", "_tables", "_zone")

    def __init__(self, spec: CalendarSpec) -> None:
        self._spec = spec
        self._zone = _zone(spec.timezone)
        _check_region(spec.country, spec.subdivision)
        self._tables: dict[int, _YearTable] = {}
        self._holidays: dict[int, Mapping[date, str]] = {}
        self._nominal_us = _us(
            datetime.combine(date(2000, 1, 3), spec.closes)
            - datetime.combine(date(2000, 1, 3), spec.opens)
        )

    @property
    def spec(self) -> CalendarSpec:
        """The configuration this calendar was built from."""
        return self._spec

    def __repr__(self) -> str:
        return f"BusinessCalendar({self._spec!r})"

    # --- dates ---------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        """True if ``day`` is a council holiday (weekend holidays included)."""
        return _check_date(day) in self._holiday_map(day.year)

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name (names joined by "; " when several), else None."""
        return self._holiday_map(_check_date(day).year).get(day)

    def is_business_day(self, day: date) -> bool:
        """True if ``day`` is a workday and not a holiday."""
        return _check_date(day).weekday() in self._spec.workdays and not self.is_holiday(day)

    # --- instants ------------------------------------------------------------

    def is_working_time(self, t: datetime) -> bool:
        """True if ``opening <= t < closing`` of ``t``'s local business day."""
        t = _to_utc(t)
        table, i, business = self._locate(t)
        return business and table.opens[i] <= t < table.closes[i]

    def next_opening(self, t: datetime) -> datetime:
        """``t`` itself (in UTC) when it is working time, else the first opening after it."""
        t = _to_utc(t)
        table, i = self._seek(*self._day_zero(t))
        return max(t, table.opens[i])

    def add_business_duration(self, t: datetime, d: timedelta) -> datetime:
        """Earliest ``u >= t`` with ``business_time_elapsed(t, u) == d``.

        ``d == 0`` returns ``t`` (the same instant, in UTC). For ``d > 0`` the
        result is working time or a closing instant. Raises ValueError if
        ``d < 0``.
        """
        t = _to_utc(t)
        if d < timedelta(0):
            raise ValueError(f"negative business duration {d}")
        if not d:
            return t
        table, before = self._worked_in_year(t)
        target = before + _us(d)
        barren = 0
        while target > table.cum_us[-1]:
            if table.year - t.year >= _REACH_YEARS:
                return _within_reach(t, datetime.max.replace(tzinfo=UTC))
            target -= table.cum_us[-1]
            barren = barren + 1 if not table.ordinals else 0
            table = self._table(_next_year(table.year, barren))
        # First j with cum_us[j + 1] >= target: the day the target falls in,
        # preferring the earlier day's closing over the next day's opening.
        j = bisect_left(table.cum_us, target) - 1
        return table.opens[j] + timedelta(microseconds=target - table.cum_us[j])

    def add_business_days(self, t: datetime, n: int) -> datetime:
        """Closing instant of the n-th business day after day 0 (see module doc).

        Raises ValueError if ``n < 0``.
        """
        if n < 0:
            raise ValueError(f"negative number of business days {n}")
        table, i = self._day_zero(_to_utc(t))
        table, i = self._seek(table, i + n)
        return table.closes[i]

    def add_business_days_after_due(self, due: datetime, n: int) -> datetime:
        """``n`` business days after a due instant (see "One rule"): ``due`` itself for
        ``n == 0``, else the closing of the n-th business day after the one ``due`` closes."""
        if n < 0:
            raise ValueError(f"negative number of business days {n}")
        due = _to_utc(due)
        return due if n == 0 else self.add_business_days(due - _ONE_US, n)

    def business_days_left(self, t: datetime, due: datetime) -> int:
        """The fewest ``n >= 0`` with ``add_business_days(t, n) >= due``: the whole business
        days left at ``t`` until ``due`` (0 when ``due`` is not after day 0's closing)."""
        t = _to_utc(t)
        start, start_i = self._seek(*self._day_zero(t))
        due = _within_reach(t, _to_utc(due))
        table, i, business = self._locate(due)
        if business and due > table.closes[i]:
            i += 1
        end, end_i = self._seek(table, i)
        if (end.year, end_i) <= (start.year, start_i):
            return 0
        count = end_i - start_i
        for year in range(start.year, end.year):
            count += len(self._table(year).ordinals)
        return count

    def close_of_business_day(self, day: date) -> tuple[datetime, date]:
        """The closing instant a date-only deadline means, and the business day it closes:
        ``day``'s own when it is a business day, else the next business day's."""
        table = self._table(_check_date(day).year)
        table, i = self._seek(table, bisect_left(table.ordinals, day.toordinal()))
        return table.closes[i], date.fromordinal(table.ordinals[i])

    def resolved_spec(self, first_year: int, last_year: int) -> CalendarSpec:
        """This calendar's spec with its holidays of ``first_year`` .. ``last_year`` recorded
        (see "Recorded holidays"): the same calendar, now independent of the package there."""
        recorded = self._spec.resolved_years
        if recorded is not None:  # keep what was recorded; fill any gap from the package
            first_year, last_year = min(first_year, recorded[0]), max(last_year, recorded[1])
        years = range(first_year, last_year + 1)
        days = tuple((d, n) for y in years for d, n in sorted(self._holiday_map(y).items()))
        return replace(self._spec, resolved_years=(first_year, last_year), resolved_holidays=days)

    def business_time_elapsed(self, t: datetime, u: datetime) -> timedelta:
        """Working time in ``[t, u)``, negated when ``u < t``; exact and additive within
        ``_REACH_YEARS`` (see "Reach")."""
        t, u = _to_utc(t), _to_utc(u)
        if u < t:  # measured from the earlier instant, so the reach is the same both ways
            return -self.business_time_elapsed(u, t)
        u = _within_reach(t, u)
        (table_t, before_t), (table_u, before_u) = (
            self._worked_in_year(t),
            self._worked_in_year(u),
        )
        # Working time before an instant, counted from the start of its year:
        # the difference of two such counts needs only the years in between.
        if table_t.year <= table_u.year:
            total = before_u - before_t + self._years_total(table_t.year, table_u.year)
        else:
            total = before_u - before_t - self._years_total(table_u.year, table_t.year)
        return timedelta(microseconds=total)

    def business_days_elapsed(self, t: datetime, u: datetime) -> float:
        """``business_time_elapsed(t, u)`` in nominal working days (``closes - opens``)."""
        return _us(self.business_time_elapsed(t, u)) / self._nominal_us

    # --- internals -----------------------------------------------------------

    def _holiday_map(self, year: int) -> Mapping[date, str]:
        names = self._holidays.get(year)
        if names is None:
            names = _spec_holidays(self._spec, year)
            self._holidays[year] = names
        return names

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            table = _year_table(self._spec, year)
            self._tables[year] = table
        return table

    def _locate(self, t: datetime) -> tuple[_YearTable, int, bool]:
        """Table of ``t``'s local year, index of the first business day on or
        after ``t``'s local date, and whether that day is the local date itself."""
        day = t.astimezone(self._zone).date()
        table = self._table(day.year)
        ordinal = day.toordinal()
        i = bisect_left(table.ordinals, ordinal)
        return table, i, i < len(table.ordinals) and table.ordinals[i] == ordinal

    def _day_zero(self, t: datetime) -> tuple[_YearTable, int]:
        """Position (possibly one past the year's end) of day 0 for instant ``t``."""
        table, i, business = self._locate(t)
        if business and t >= table.closes[i]:
            i += 1
        return table, i

    def _worked_in_year(self, t: datetime) -> tuple[_YearTable, int]:
        """Microseconds of working time in ``t``'s local year before ``t``."""
        table, i, business = self._locate(t)
        before = table.cum_us[i]
        if business and t > table.opens[i]:
            before += _us(min(t, table.closes[i]) - table.opens[i])
        return table, before

    def _years_total(self, first: int, last: int) -> int:
        """Working microseconds in years ``first`` .. ``last - 1``."""
        return sum(self._table(year).cum_us[-1] for year in range(first, last))

    def _seek(self, table: _YearTable, index: int) -> tuple[_YearTable, int]:
        """Carry an index past the end of a year's business days into later years."""
        barren = 0
        while index >= len(table.ordinals):
            index -= len(table.ordinals)
            barren = barren + 1 if not table.ordinals else 0
            table = self._table(_next_year(table.year, barren))
        return table, index


@dataclass(frozen=True, slots=True)
class _YearTable:
    """Business days of one calendar year, their UTC windows and running lengths."""

    year: int
    ordinals: tuple[int, ...]  # date.toordinal() of each business day, ascending
    opens: tuple[datetime, ...]  # UTC opening instant of each business day
    closes: tuple[datetime, ...]  # UTC closing instant of each business day
    cum_us: tuple[int, ...]  # cum_us[i] = microseconds of working time in days[:i]; one longer


@lru_cache(maxsize=256)
def _year_table(spec: CalendarSpec, year: int) -> _YearTable:
    zone = _zone(spec.timezone)
    names = _spec_holidays(spec, year)
    workdays = frozenset(spec.workdays)
    ordinals: list[int] = []
    opens: list[datetime] = []
    closes: list[datetime] = []
    cum_us = [0]
    day, end = date(year, 1, 1), date(year, 12, 31)
    while True:
        if day.weekday() in workdays and day not in names:
            opening, closing = _instant(day, spec.opens, zone), _instant(day, spec.closes, zone)
            # Only an exotic DST jump inside opening hours could make this
            # empty; such a day has no working time, so it must not enter.
            if closing > opening:
                ordinals.append(day.toordinal())
                opens.append(opening)
                closes.append(closing)
                cum_us.append(cum_us[-1] + _us(closing - opening))
        if day == end:
            break
        day += _ONE_DAY
    return _YearTable(
        year=year,
        ordinals=tuple(ordinals),
        opens=tuple(opens),
        closes=tuple(closes),
        cum_us=tuple(cum_us),
    )


def _spec_holidays(spec: CalendarSpec, year: int) -> Mapping[date, str]:
    """The recorded holidays of `year` when the spec has them, else resolved now."""
    recorded = spec.holidays_of(year)
    if recorded is not None:
        return recorded
    return _council_holidays(
        spec.country, spec.subdivision, spec.extra_holidays, spec.removed_holidays, year
    )


@lru_cache(maxsize=1024)
def _council_holidays(
    country: str,
    subdivision: str | None,
    extras: tuple[tuple[date, str], ...],
    removed: tuple[date, ...],
    year: int,
) -> Mapping[date, str]:
    names = dict(_public_holidays(country, subdivision, year))
    for day, name in extras:
        if day.year == year:
            names[day] = f"{names[day]}; {name}" if day in names else name
    for day in removed:
        names.pop(day, None)
    return MappingProxyType(names)


@lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """Public holidays of one year; neighbours are populated so that observed
    days pushed across a year boundary are not lost."""
    years = range(max(year - 1, 1), min(year + 1, 9999) + 1)
    found = holidays.country_holidays(
        country, subdiv=subdivision, years=years, categories=_HOLIDAY_CATEGORIES
    )
    return MappingProxyType({day: name for day, name in found.items() if day.year == year})


def _check_region(country: str, subdivision: str | None) -> None:
    try:
        holidays.country_holidays(country, subdiv=subdivision, categories=_HOLIDAY_CATEGORIES)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from exc


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _to_utc(t: datetime) -> datetime:
    if not isinstance(t, datetime):
        raise TypeError(f"expected a datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: a time zone is required")
    return t.astimezone(UTC)


def _within_reach(t: datetime, u: datetime) -> datetime:
    """``u``, or when it lies more than ``_REACH_YEARS`` years after ``t`` the first instant
    of the year that far away (UTC): the far end a span is measured up to."""
    if u.year - t.year > _REACH_YEARS:
        return datetime(t.year + _REACH_YEARS, 1, 1, tzinfo=UTC)
    return u


def _us(d: timedelta) -> int:
    return d // _ONE_US


def _next_year(year: int, barren: int) -> int:
    if barren > _MAX_BARREN_YEARS:
        raise ValueError(f"calendar has no business day in {barren} consecutive years")
    if year >= 9999:
        raise OverflowError("business time runs past year 9999")
    return year + 1


def _check_clock(clock: time, field: str) -> None:
    if not isinstance(clock, time) or clock.tzinfo is not None:
        raise ValueError(f"{field} must be a naive datetime.time (local wall clock)")


def _check_spec_date(day: object, field: str) -> None:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"{field}: expected a date, got {day!r}")


def _check_date(day: date) -> date:
    # datetime is a date subclass but never equals a date, so lookups would
    # silently miss: refuse it.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def _expect(value: object, kind: type[_T], key: str) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"CalendarSpec {key}: expected {kind.__name__}, got {value!r}")
    return value


def _items(value: object) -> list[object]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list, got {value!r}")
    return list(value)


def _year_pair(value: object) -> tuple[int, int]:
    first, last = (_expect(y, int, "resolved_years") for y in _items(value))
    return first, last


def _extra_from_json(entry: object) -> tuple[date, str]:
    pair = _items(entry)
    if len(pair) != 2:
        raise ValueError(f"extra_holidays entry must be [date, name], got {entry!r}")
    return date.fromisoformat(_expect(pair[0], str, "extra_holidays")), _expect(
        pair[1], str, "extra_holidays"
    )
