"""Business-calendar throughput beside naive day-by-day and minute-by-minute loops.

Run: ``python -m bench.calendar_bench`` (about 5 s). Both implementations
are measured in the same run on the same sampled inputs, and their answers are
asserted equal first, so the ratios compare like with like.
"""

from __future__ import annotations

import random
import sys
import time as clock
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from importlib.metadata import version
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays

from domain.calendar import BusinessCalendar, CalendarSpec

SPEC = CalendarSpec(
    timezone="Australia/Sydney",
    opens=time(8, 0),
    closes=time(16, 30),
    subdivision="NSW",
    extra_holidays=((date(2026, 2, 27), "Local show day"),),
)
WORKING_DAY = timedelta(hours=8, minutes=30)
MINUTE = timedelta(minutes=1)
SEED = 20260309
MIN_SECONDS = 0.4  # per measurement; enough for stable ops/s, short enough for CI

_A = TypeVar("_A")


class NaiveCalendar:
    """Reference loops: step one local date (or one minute) at a time."""

    def __init__(self, spec: CalendarSpec, years: range) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec.timezone)
        found = holidays.country_holidays(
            spec.country, subdiv=spec.subdivision, years=years, categories=("public",)
        )
        self.holidays = (set(found) | {d for d, _ in spec.extra_holidays}) - set(
            spec.removed_holidays
        )

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.spec.workdays and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        opening = datetime.combine(day, self.spec.opens, tzinfo=self.zone).astimezone(UTC)
        closing = datetime.combine(day, self.spec.closes, tzinfo=self.zone).astimezone(UTC)
        return opening, closing

    def local_date(self, t: datetime) -> date:
        return t.astimezone(self.zone).date()

    def add_business_days(self, t: datetime, n: int) -> datetime:
        day = self.local_date(t)
        if not (self.is_business_day(day) and t < self.window(day)[1]):
            day += timedelta(days=1)
            while not self.is_business_day(day):
                day += timedelta(days=1)
        while n:
            day += timedelta(days=1)
            n -= self.is_business_day(day)
        return self.window(day)[1]

    def add_duration_daily(self, t: datetime, d: timedelta) -> datetime:
        if not d:
            return t
        day, remaining = self.local_date(t), d
        while True:
            if self.is_business_day(day):
                opening, closing = self.window(day)
                start = max(t, opening)
                if start < closing:
                    if remaining <= closing - start:
                        return start + remaining
                    remaining -= closing - start
            day += timedelta(days=1)

    def is_working_time(self, t: datetime) -> bool:
        day = self.local_date(t)
        if not self.is_business_day(day):
            return False
        opening, closing = self.window(day)
        return opening <= t < closing

    def add_duration_minutely(self, t: datetime, d: timedelta) -> datetime:
        """Only for whole-minute ``t`` and ``d`` (working time is minute-aligned)."""
        current, remaining = t, d
        while remaining:
            remaining -= MINUTE if self.is_working_time(current) else timedelta(0)
            current += MINUTE
        return current

    def elapsed_daily(self, t: datetime, u: datetime) -> timedelta:
        """For ``t <= u``."""
        total, day = timedelta(0), self.local_date(t)
        while day <= self.local_date(u):
            if self.is_business_day(day):
                opening, closing = self.window(day)
                low, high = max(opening, t), min(closing, u)
                if high > low:
                    total += high - low
            day += timedelta(days=1)
        return total


def ops_per_second(fn: Callable[[_A], object], inputs: Sequence[_A]) -> float:
    """Cycle through ``inputs`` until MIN_SECONDS have passed."""
    calls, start = 0, clock.perf_counter()
    while True:
        for arg in inputs:
            fn(arg)
        calls += len(inputs)
        spent = clock.perf_counter() - start
        if spent >= MIN_SECONDS:
            return calls / spent


def random_instant(rng: random.Random, year: int, whole_minutes: bool) -> datetime:
    start = datetime(year, 1, 1, tzinfo=UTC)
    if whole_minutes:
        return start + rng.randrange(365 * 24 * 60) * MINUTE
    return start + timedelta(microseconds=rng.randrange(365 * 24 * 3600 * 10**6))


def row(name: str, fast: float, naive: float, minute: float | None = None) -> None:
    line = f"{name:<44} {fast:>12,.0f} {naive:>12,.1f} {fast / naive:>9,.1f}x"
    if minute is not None:
        line += f" {minute:>10,.2f} {fast / minute:>10,.1f}x"
    print(line)


def main() -> int:
    rng = random.Random(SEED)
    cal = BusinessCalendar(SPEC)
    naive = NaiveCalendar(SPEC, range(2025, 2040))

    lodged = [random_instant(rng, 2026, whole_minutes=False) for _ in range(300)]
    short = [
        (random_instant(rng, 2026, whole_minutes=True), rng.randrange(0, 2 * 510 + 1) * MINUTE)
        for _ in range(30)
    ]
    long = [
        (
            t,
            timedelta(
                microseconds=rng.randrange(
                    int(100 * WORKING_DAY / MINUTE * 60e6), int(300 * WORKING_DAY / MINUTE * 60e6)
                )
            ),
        )
        for t in lodged[:100]
    ]
    spans = [(t, t + timedelta(days=365, seconds=rng.randrange(-86400, 86400))) for t in lodged]

    # Agreement first: a fast wrong answer is worth nothing.
    for t in lodged:
        assert cal.add_business_days(t, 20) == naive.add_business_days(t, 20), t
    for t, d in short:
        expected = naive.add_duration_minutely(t, d)
        assert cal.add_business_duration(t, d) == expected == naive.add_duration_daily(t, d), t
    for t, d in long:
        assert cal.add_business_duration(t, d) == naive.add_duration_daily(t, d), (t, d)
    for t, u in spans:
        assert cal.business_time_elapsed(t, u) == naive.elapsed_daily(t, u), (t, u)
    checked = len(lodged) + len(short) + len(long) + len(spans)

    print(f"holidays {version('holidays')}, {SPEC.subdivision} calendar, inputs in 2026")
    print(
        f"{'operation (warm caches)':<44} {'calendar/s':>12} {'naive-day/s':>12} "
        f"{'ratio':>10} {'minute/s':>10} {'ratio':>11}"
    )
    row(
        "add_business_days(n=20)",
        ops_per_second(lambda t: cal.add_business_days(t, 20), lodged),
        ops_per_second(lambda t: naive.add_business_days(t, 20), lodged),
    )
    row(
        "add_business_duration(<=2 business days)",
        ops_per_second(lambda a: cal.add_business_duration(*a), short),
        ops_per_second(lambda a: naive.add_duration_daily(*a), short),
        ops_per_second(lambda a: naive.add_duration_minutely(*a), short[:5]),
    )
    row(
        "add_business_duration(100-300 business days)",
        ops_per_second(lambda a: cal.add_business_duration(*a), long),
        ops_per_second(lambda a: naive.add_duration_daily(*a), long[:20]),
    )
    row(
        "business_time_elapsed(~1 year)",
        ops_per_second(lambda a: cal.business_time_elapsed(*a), spans),
        ops_per_second(lambda a: naive.elapsed_daily(*a), spans[:50]),
    )

    # Cold: every call on a calendar for a spec never seen before, so its
    # per-year tables are built (the package's own holiday lists stay cached).
    fresh = iter(range(10**9))

    def cold(t: datetime) -> datetime:
        extra = ((date(2099, 1, 1 + next(fresh) % 28), f"bench {next(fresh)}"),)
        spec = CalendarSpec(
            timezone=SPEC.timezone,
            opens=SPEC.opens,
            closes=SPEC.closes,
            subdivision=SPEC.subdivision,
            extra_holidays=extra,
        )
        return BusinessCalendar(spec).add_business_days(t, 20)

    cold_rate = ops_per_second(cold, lodged[:50])
    print(
        f"{'add_business_days(n=20), cold new calendar':<44} {cold_rate:>12,.0f}"
        f"  ({1000 / cold_rate:.2f} ms each: builds the year table(s))"
    )
    print(f"agreement checked on {checked} sampled inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
