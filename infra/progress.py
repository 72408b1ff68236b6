"""Progress for long work: a bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import sys
import time

from infra.logs import get


class ProgressBar:
    def __init__(self, what: str, every_s: float = 5.0) -> None:
        self.what = what
        self.every_s = every_s
        self.started = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.log = get("progress")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s and done < total:
            return
        self.last = now
        pct = 100.0 * done / total if total else 100.0
        rate = done / max(now - self.started, 1e-9)
        if self.tty:
            bar = "#" * int(pct / 4)
            sys.stderr.write(
                f"\r{self.what} [{bar:<25}] {pct:5.1f}% {done}/{total} ({rate:,.0f}/s)"
            )
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        else:
            self.log.info(
                self.what, done=done, total=total, percent=round(pct, 1), per_s=round(rate)
            )
