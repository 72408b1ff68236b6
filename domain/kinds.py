"""How each kind of request is handled, as the council's policy says (`[kinds.<kind>]`).

Seed 001 §4 distinguishes requests, complaints and compliments; seed 002 says complaints and
compliments are not service requests and are managed apart. A compliment is recorded,
acknowledged, passed to the team and closed: no completion target, no progress notice, no
escalation. A complaint has its own standards (acknowledge and resolve targets), is handled
with priority (seed 003: "complex requests and complaints will be handled with priority"), is
never investigated by the officer it is about, and closes with an outcome letter.

A council that says nothing gets `DEFAULT_KINDS`; a `[kinds.<kind>]` table replaces only the
fields it names. What applies to a request is recorded on its `Lodged` event (its standard), so
a later change of policy never rewrites its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from domain.values import RequestKind


@dataclass(frozen=True, kw_only=True)
class KindRules:
    """One kind's handling.

    `acknowledge_days` / `complete_days`: the kind's own targets in business days (None: the
    category's, or the channel's for acknowledgement); `completion_target` False: no completion
    target at all. `progress_notices` and `escalates` False: no progress notice, no escalation
    (the watchdog skips it). `priority`: listed before other requests of the same urgency.
    `outcomes`: the closure outcomes it may take (empty: every outcome of the council).
    `outcome_letter`: what the closure notice is called and says (e.g. "the outcome of your
    complaint"); None: the plain closure notice. `subject_officer`: a recorded subject officer
    may never be assigned it (complaints about an officer)."""

    kind: RequestKind
    acknowledge_days: int | None = None
    complete_days: int | None = None
    completion_target: bool = True
    progress_notices: bool = True
    escalates: bool = True
    priority: bool = False
    outcomes: tuple[str, ...] = ()
    outcome_letter: str | None = None
    subject_officer: bool = False

    def with_fields(self, fields: Mapping[str, Any]) -> KindRules:
        return replace(self, **fields)


DEFAULT_KINDS: Mapping[RequestKind, KindRules] = {
    RequestKind.SERVICE_REQUEST: KindRules(kind=RequestKind.SERVICE_REQUEST),
    RequestKind.ENQUIRY: KindRules(kind=RequestKind.ENQUIRY),
    RequestKind.COMPLAINT: KindRules(
        kind=RequestKind.COMPLAINT,
        priority=True,
        subject_officer=True,
        outcome_letter="the outcome of your complaint",
    ),
    RequestKind.COMPLIMENT: KindRules(
        kind=RequestKind.COMPLIMENT,
        completion_target=False,
        progress_notices=False,
        escalates=False,
    ),
}
KIND_FIELDS = (
    "acknowledge_days",
    "complete_days",
    "completion_target",
    "progress_notices",
    "escalates",
    "priority",
    "outcomes",
    "outcome_letter",
    "subject_officer",
)


@dataclass(frozen=True, kw_only=True)
class SatisfactionPolicy:
    """Seed 003 (Kalamunda) tracks satisfaction: at closure, requests of the kinds in `invite`
    are invited to rate the service 1–5 through the customer's preferred method (in the closure
    notice); a score of `satisfied_from` or more counts as satisfied (`customer_satisfaction_pct`).
    By default nobody is invited."""

    invite: frozenset[RequestKind] = frozenset()
    satisfied_from: int = 4
    scale: tuple[int, int] = (1, 5)

    def invites(self, kind: RequestKind) -> bool:
        return kind in self.invite

    def check_score(self, score: int) -> int:
        low, high = self.scale
        if not low <= score <= high:
            raise ValueError(f"a score is {low} to {high}, not {score}")
        return score
