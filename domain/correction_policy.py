"""A council's policy for corrections (reopen, recategorise) and its directory of external
agencies a request can be referred to: configuration, read from `[corrections]` and
`[agencies.*]` in `config/councils/<id>.toml`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TargetsOnRecategorise(Enum):
    """What a recategorised request is measured against: the targets recorded at lodgement
    (`keep`), or the new category's standard counted from receipt (`new`)."""

    KEEP = "keep"
    NEW = "new"


@dataclass(frozen=True, kw_only=True)
class CorrectionPolicy:
    """`reopen_complete_days`: the business days a reopened request has to be completed,
    counted from the reopening; None: its own category's completion target (none: no due
    instant). `recategorise_targets`: see `TargetsOnRecategorise`."""

    reopen_complete_days: int | None = None
    recategorise_targets: TargetsOnRecategorise = TargetsOnRecategorise.KEEP


@dataclass(frozen=True, kw_only=True)
class Agency:
    """An external body matters outside the council's jurisdiction are referred to (seed 002:
    "referred to the appropriate external contact"), with how the customer reaches it."""

    code: str
    name: str
    handles: str = ""
    phone: str | None = None
    email: str | None = None
    web: str | None = None

    @property
    def contact(self) -> str:
        """How to reach the agency, as the customer is told it."""
        ways = [
            f"phone {self.phone}" if self.phone else "",
            f"email {self.email}" if self.email else "",
            self.web or "",
        ]
        return ", ".join(w for w in ways if w)
