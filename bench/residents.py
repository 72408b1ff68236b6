"""Invented residents for the benches, each with a phone number of their own."""

from __future__ import annotations

import itertools
import random
import threading

from domain.values import Customer

FIRST_NAMES = ("Ada", "Bo", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ira", "Jun", "Kit", "Lev")
SURNAMES = ("Arden", "Brisk", "Calloway", "Dunmore", "Esk", "Fenwick", "Garrow", "Holt", "Ives")
PHONE_STRIDE = 7_919_337  # odd and not a multiple of 5: n -> phone is one-to-one below 10**8


class Residents:
    """Invented residents, each with a phone number of their own (as real residents differ):
    the n-th of a generator has the mobile number 04 followed by (base + n x stride) mod 10**8,
    the base random per generator, so the offering processes' residents differ too (two of
    them sharing a number is a chance of about 1 in 25,000 per run). Names repeat, as names
    do."""

    def __init__(self) -> None:
        self._base = random.SystemRandom().randrange(10**8)
        self._next = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> Customer:
        with self._lock:
            n = next(self._next)
        digits = f"{(self._base + n * PHONE_STRIDE) % 10**8:08d}"
        first, last = FIRST_NAMES[n % len(FIRST_NAMES)], SURNAMES[n // 12 % len(SURNAMES)]
        return Customer(name=f"{first} {last}", phone=f"04{digits[:2]} {digits[2:5]} {digits[5:]}")
