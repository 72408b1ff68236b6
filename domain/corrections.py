"""Corrections to a request, by council policy (`domain/correction_policy.py`): the due instants
a reopened or recategorised request is measured against, and the outcomes a link or a
referral closes it with. The aggregate records them (`ServiceRequest.reopen`, `recategorise`,
`link_duplicate_of`, `refer`); the handlers in `commands/corrections.py` put the two together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from domain.correction_policy import CorrectionPolicy, TargetsOnRecategorise
from domain.council import Council
from domain.standards import (
    ServiceStandard,
    calendar_for,
    due_instants,
    recorded,
    standard_for,
)
from domain.values import Channel, RequestKind

DUPLICATE_OUTCOME = "duplicate"  # every council's outcomes include both (infra/config.py)
REFERRED_OUTCOME = "referred"


def reopened_complete_by(
    standard: ServiceStandard | None, policy: CorrectionPolicy, reopened_at: datetime
) -> datetime | None:
    """A reopened request is due `reopen_complete_days` working days after it reopens (the
    calendar's one rule), or, where the council sets none, its own completion target counted
    the same way. A request whose standard has no completion target (imported history, a
    kind without one) is due nothing when reopened either."""
    if standard is None or standard.complete_days is None:
        return None
    days = policy.reopen_complete_days
    if days is None:
        days = standard.complete_days
    return calendar_for(standard.calendar).add_business_days(reopened_at, days)


@dataclass(frozen=True, kw_only=True)
class Recategorisation:
    """What a recategorised request records: its new category and team, and the standard and
    due instants it is measured against from now on."""

    category: str
    category_name: str
    team: str
    standard: ServiceStandard | None
    acknowledge_by: datetime | None
    complete_by: datetime | None
    targets: TargetsOnRecategorise


def recategorisation(
    council: Council,
    *,
    category: str,
    channel: Channel,
    kind: RequestKind,
    urgent: bool,
    current: ServiceStandard | None,
    acknowledge_by: datetime | None,
    complete_by: datetime | None,
    received_at: datetime,
    now: datetime,
    agreed_completion: date | None = None,
) -> Recategorisation:
    """Routing always follows the new category (its team). Its standard follows the council's
    `recategorise_targets`: `keep` measures the request against the targets and due instants
    it already had (the category's name changes, nothing else); `new` takes the new
    category's standard, its due instants counted from receipt, like a request lodged in it
    (a completion date agreed with the customer stays agreed)."""
    new = council.category(category)  # KeyError naming the council's catalogue
    policy = council.corrections.recategorise_targets
    if policy is TargetsOnRecategorise.KEEP or current is None:
        kept = (
            None
            if current is None
            else replace(current, category=new.code, category_name=new.name, team=new.team)
        )
        return Recategorisation(
            category=new.code,
            category_name=new.name,
            team=new.team,
            standard=kept,
            acknowledge_by=acknowledge_by,
            complete_by=complete_by,
            targets=policy,
        )
    standard = recorded(
        standard_for(council, new.code, channel, urgent, kind=kind), received_at, now
    )
    due = due_instants(standard, received_at, agreed_completion)
    return Recategorisation(
        category=new.code,
        category_name=new.name,
        team=new.team,
        standard=standard,
        acknowledge_by=due.acknowledge_by,
        complete_by=due.complete_by,
        targets=policy,
    )
