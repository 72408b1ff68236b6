"""Legacy history as events: each request of another system's export becomes a `ServiceRequest`
whose events carry the original instants.

Pure: parsed rows (`HistoricalRequest`) in, aggregates with pending events out; reading files,
mappings and the store is `infra.importer`'s job.

History is recorded as it happened, not as today's rules would have had it:
- the lodgement policy does not apply: any channel (even one the council refuses today), an
  anonymous customer, a missing location and a category outside the catalogue are all kept;
  an unknown category is an imported category (`Council.imported_category`), named by the
  source's own text;
- the `Lodged` event records the council's standard (calendar, escalation chain) with no
  targets of its own: the only due instant is the one the file gives (`complete_by`), none when
  the file has none; no acknowledgement is due, no progress notice is planned;
- nothing is issued: no notice, no escalation; `imported=True` lets every reader tell history
  from requests taken here;
- the instants are the source's (`occurred_at`), also when the source says a request was closed
  before it was lodged; the actor is the source's officer when it names one, else the import's
  system actor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from commands.ports import Sealer
from domain.aggregates.service_request import ServiceRequest
from domain.council import Council
from domain.standards import history_standard, recorded
from domain.values import Actor, Channel, Location, RequestKind

SYSTEM_ROLE = "system"
NO_CLOSING_TEXT = "Closed (the source gives no closing text)"
# The read models' column sizes: a value longer than these cannot be stored on PostgreSQL.
LIMITS = {"reference": 64, "team": 64, "category": 200, "outcome": 64}


def import_actor(source: str) -> Actor:
    """The system actor of an import whose source names no officer."""
    return Actor(id=f"import:{source}", role=SYSTEM_ROLE)


@dataclass(frozen=True, kw_only=True)
class HistoricalRequest:
    """One request of the source, parsed and checked: everything its events need."""

    line: int
    reference: str
    lodged_at: datetime
    complete_by: datetime | None
    closed_at: datetime | None
    outcome: str | None
    closing_text: str | None
    category_name: str
    team: str | None
    channel: Channel
    kind: RequestKind
    description: str
    location: Location | None
    lodged_by: Actor
    closed_by: Actor | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


def problems(council: Council, record: HistoricalRequest) -> list[str]:
    """Why `history_of` would refuse this record, or could not be stored ([] when it is fine)."""
    found = []
    if not record.reference.strip():
        found.append("no reference")
    if not record.description.strip():
        found.append("no description")
    if not record.category_name.strip():
        found.append("no category")
    category = council.imported_category(record.category_name, record.team)
    sizes = {
        "reference": record.reference,
        "team": record.team or category.team,
        "category": category.code,
        "outcome": record.outcome or "",
    }
    for what, value in sizes.items():
        if len(value) > LIMITS[what]:
            found.append(f"{what} {value[:40]!r}… is longer than {LIMITS[what]} characters")
    for what, instant in (
        ("lodged", record.lodged_at),
        ("due", record.complete_by),
        ("closed", record.closed_at),
    ):
        if instant is not None and (instant.tzinfo is None or instant.utcoffset() is None):
            found.append(f"the {what} instant has no timezone")
    if record.closed_at is not None and record.outcome not in council.outcomes:
        found.append(
            f"outcome {record.outcome!r} is not one of council {council.id}'s "
            f"({', '.join(council.outcomes)})"
        )
    return found


IMPORT_KEY_NAMESPACE = uuid.UUID("5a0f7a2c-90d4-4d61-b3a4-5e8fb1f6a7c3")


def import_key(council_id: str) -> uuid.UUID:
    """The data key that seals the descriptions of a council's imported history (which names
    no customer: the source's free text is sealed all the same, as every description is)."""
    return uuid.uuid5(IMPORT_KEY_NAMESPACE, council_id)


def history_of(council: Council, record: HistoricalRequest, sealer: Sealer) -> ServiceRequest:
    """The request as the source recorded it: `Lodged`, then `Closed` if it was closed."""
    category = council.imported_category(record.category_name, record.team)
    team = record.team or category.team
    request = ServiceRequest.lodge(
        occurred_at=record.lodged_at,
        actor=record.lodged_by,
        council=council.id,
        reference=record.reference,
        customer=None,
        category=category.code,
        team=team,
        kind=record.kind,
        channel=record.channel,
        location=record.location,
        description=sealer.seal(record.description),
        urgent=False,
        discretionary=False,
        agreed_completion=None,
        # A flag the council's anonymity policy sets on new requests; not part of history.
        resolution_not_guaranteed=False,
        # its holidays recorded, so business days to complete never move with the package
        standard=recorded(
            history_standard(council, category, team),
            record.lodged_at,
            record.closed_at or record.lodged_at,
        ),
        acknowledge_by=None,
        complete_by=record.complete_by,
        imported=True,
        media_url=None,
    )
    if record.closed_at is not None:
        request.close(
            outcome=record.outcome or "completed",
            text=(record.closing_text or "").strip() or NO_CLOSING_TEXT,
            outcomes=council.outcomes.keys(),
            occurred_at=record.closed_at,
            actor=record.closed_by or record.lodged_by,
        )
    return request
