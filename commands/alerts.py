"""Staff alerts: an urgent request tells the people of its urgent role at once, and an alert
nobody takes in the council's time goes to the next role of the chain (after-hours cover).

Seed 002 (Upper Lachlan), step 7: a tree over a road or a broken water main needs immediate
contact with the appropriate officer or their supervisor. So an urgent request is escalated to
the urgent role in the lodgement itself (the same save as `Lodged`), and the alert is raised
right after it — not at the next SLA sweep.

Consistency is the notices' (see `commands/notices.py`): the `Escalated(standard="urgent")`
event is the record; the alert is a row of an outbox-like board, keyed by (request, event
version, role), so raising it again is a no-op. The watchdog's policy raises the alert for
every such event it reads, so a crash between the save and the alert costs a sweep's delay,
never the alert. Each alert names its recipients (the council's active users holding the role,
with their e-mail addresses from the directory) for the delivery adapters; taking it (`crm
alerts ack ID`) marks the board's row and records `AlertTaken` on the request (who, when,
which alert), so the audit record shows it. The board decides who took it first (its row
changes once); the event follows at once, retried on a concurrent change of the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from commands.errors import ConcurrencyConflict
from commands.ports import AlertBoard, Directory, Ports, StaffAlert
from commands.request_store import get_request, save_request
from commands.users import list_users
from domain.aggregates.service_request import ServiceRequest
from domain.errors import DomainError
from domain.values import Actor

URGENT = "urgent"


class AlertRefused(DomainError):
    """No such alert in this council, or it was taken (or passed on) already."""


@dataclass(frozen=True, kw_only=True)
class TakeAlert:
    council: str
    alert_id: int
    actor: Actor


# a concurrent change of the request (a note, a sweep) is retried this many times
TAKE_ATTEMPTS = 5


def take_alert(cmd: TakeAlert, ports: Ports, board: AlertBoard) -> dict[str, Any]:
    """Takes an open alert (`AlertRefused` if unknown or not open: nothing written) and records
    `AlertTaken` on its request; returns the board's row. The one who took it taking it again
    records the event if it is missing (a process that stopped between the two)."""
    try:
        row = board.take(cmd.council, cmd.alert_id, cmd.actor, ports.now())
    except AlertRefused:
        row = _taken_unrecorded(cmd, ports, board)
    taker = Actor(id=row["taken_by"], role=row["taken_role"])
    for attempt in range(TAKE_ATTEMPTS):
        request = get_request(ports, cmd.council, row["reference"])
        if row["id"] in request.alerts_taken:
            break
        request.take_alert(
            alert=row["id"],
            role=row["role"],
            about_version=row["version"],
            occurred_at=row["taken_at"],
            actor=taker,
        )
        try:
            save_request(ports, request)
            break
        except ConcurrencyConflict:
            if attempt + 1 == TAKE_ATTEMPTS:
                raise
    return row


def _taken_unrecorded(cmd: TakeAlert, ports: Ports, board: AlertBoard) -> dict[str, Any]:
    """The board's row of an alert `cmd.actor` took whose `AlertTaken` is not recorded; else
    the board's refusal again."""
    row = board.get(cmd.council, cmd.alert_id)
    if row is not None and row["status"] == "taken" and row["taken_by"] == cmd.actor.id:
        request = get_request(ports, cmd.council, row["reference"])
        if row["id"] not in request.alerts_taken:
            return row
    raise AlertRefused(
        f"no alert {cmd.alert_id} in council {cmd.council}"
        if row is None
        else f"alert {cmd.alert_id} is {row['status']} already"
        + (f" (by {row['taken_by']})" if row["taken_by"] else "")
    )


def recipients(
    directory: Directory, council: str, role: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The council's active users who hold `role`, and the e-mail addresses they gave."""
    users = [u for u in list_users(directory, council) if u.active and role in u.roles]
    return tuple(u.user_id for u in users), tuple(u.email for u in users if u.email)


def alert_for(
    request: ServiceRequest,
    version: int,
    role: str,
    reason: str,
    at: datetime,
    directory: Directory,
) -> StaffAlert:
    standard = request.standard
    minutes = standard.urgent_alert_ack_minutes if standard else None
    ids, emails = recipients(directory, request.council, role)
    return StaffAlert(
        council=request.council,
        reference=request.reference,
        request_id=request.id,
        version=version,
        role=role,
        reason=reason,
        raised_at=at,
        take_by=at + timedelta(minutes=minutes) if minutes else None,
        recipients=ids,
        emails=emails,
    )


def alert_urgent_role(
    council: str,
    reference: str,
    version: int,
    ports: Ports,
    board: AlertBoard,
) -> StaffAlert | None:
    """When an urgent request is escalated to its urgent role, alert that role's staff. None
    when the event at `version` is not such an escalation."""
    request = get_request(ports, council, reference)
    return alert_urgent(request, version, ports.directory, board)


def alert_urgent(
    request: ServiceRequest, version: int, directory: Directory, board: AlertBoard
) -> StaffAlert | None:
    escalation = request.urgent_escalation_at(version)
    if escalation is None:
        return None
    role, at = escalation
    reason = f"urgent request {request.reference}: {request.category}"
    alert = alert_for(request, version, role, reason, at, directory)
    board.raise_alert(alert)
    return alert


def pass_on_unanswered(
    council: str | None, now: datetime, ports: Ports, board: AlertBoard
) -> list[StaffAlert]:
    """Every open alert not taken in time goes to the role above its own in the request's
    chain (the top of the chain keeps it); returns the alerts raised."""
    raised: list[StaffAlert] = []
    for row in board.unanswered(council, now):
        request = ports.get(UUID(row["request_id"]), row["reference"])
        roles = request.roles
        if row["role"] not in roles or roles.index(row["role"]) + 1 >= len(roles):
            continue
        if not board.pass_on(row["id"], now):
            continue
        above = roles[roles.index(row["role"]) + 1]
        alert = alert_for(
            request,
            row["version"],
            above,
            f"not taken by {row['role']} in time: {row['reason']}",
            now,
            ports.directory,
        )
        board.raise_alert(alert)
        raised.append(alert)
    return raised
