"""The staff-alert board: a table in the write database, and its e-mail delivery.

One row per (request, event version, role), so raising an alert again is a no-op; an alert is
`open` until someone takes it (`taken`, with who, in which role and when) or the watchdog
passes it on to the role above (`passed-on`). Rows name their recipients and the e-mail
addresses the directory had for them; `AlertMailer` sends each open alert once through the same
SMTP adapter as customer notices and marks it `emailed_at`.
"""

from __future__ import annotations

import json
import smtplib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from commands.alerts import AlertRefused
from commands.ports import StaffAlert
from domain.values import Actor
from infra.notify import SmtpNotifier
from projections.base import UtcDateTime, insert_ignoring_duplicates
from projections.tables import create_tables

METADATA = sa.MetaData()
STAFF_ALERTS = sa.Table(
    "staff_alerts",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("take_by", UtcDateTime),
    sa.Column("recipients", sa.Text, nullable=False),  # JSON list of user ids
    sa.Column("emails", sa.Text, nullable=False),  # JSON list of staff addresses
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("taken_by", sa.String(128)),
    sa.Column("taken_role", sa.String(64)),
    sa.Column("taken_at", UtcDateTime),
    sa.Column("passed_on_at", UtcDateTime),
    sa.Column("emailed_at", UtcDateTime),
    sa.UniqueConstraint("request_id", "version", "role", name="staff_alerts_once"),
    sa.Index("staff_alerts_open", "status", "take_by"),
    sa.Index("staff_alerts_by_council", "council", "role", "id"),
)
OPEN, TAKEN, PASSED_ON = "open", "taken", "passed-on"
log = structlog.get_logger("councilcrm.alerts")


class AlertTable:
    """`commands.ports.AlertBoard` over the `staff_alerts` table."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._created = False

    def _ready(self) -> None:
        if not self._created:
            create_tables(METADATA, self.engine)
            self._created = True

    def raise_alert(self, alert: StaffAlert) -> None:
        self._ready()
        row = {
            "council": alert.council,
            "reference": alert.reference,
            "request_id": str(alert.request_id),
            "version": alert.version,
            "role": alert.role,
            "reason": alert.reason,
            "raised_at": alert.raised_at,
            "take_by": alert.take_by,
            "recipients": json.dumps(list(alert.recipients)),
            "emails": json.dumps(list(alert.emails)),
            "status": OPEN,
        }
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(conn, STAFF_ALERTS, [row])
        log.info(
            "alert-raised",
            reference=alert.reference,
            role=alert.role,
            recipients=len(alert.recipients),
        )

    def take(self, council: str, alert_id: int, actor: Actor, at: datetime) -> dict[str, Any]:
        self._ready()
        t = STAFF_ALERTS
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(t)
                .where(t.c.id == alert_id, t.c.council == council, t.c.status == OPEN)
                .values(status=TAKEN, taken_by=actor.id, taken_role=actor.role, taken_at=at)
            )
            row = conn.execute(
                sa.select(t).where(t.c.id == alert_id, t.c.council == council)
            ).first()
        if row is None:
            raise AlertRefused(f"no alert {alert_id} in council {council}")
        if done.rowcount != 1:
            raise AlertRefused(
                f"alert {alert_id} is {row.status} already"
                + (f" (by {row.taken_by})" if row.taken_by else "")
            )
        return _plain(row._mapping)

    def get(self, council: str, alert_id: int) -> dict[str, Any] | None:
        self._ready()
        t = STAFF_ALERTS
        with self.engine.connect() as conn:
            q = sa.select(t).where(t.c.id == alert_id, t.c.council == council)
            row = conn.execute(q).first()
        return None if row is None else _plain(row._mapping)

    def unanswered(self, council: str | None, now: datetime) -> list[dict[str, Any]]:
        self._ready()
        t = STAFF_ALERTS
        q = sa.select(t).where(t.c.status == OPEN, t.c.take_by <= now).order_by(t.c.id)
        if council:
            q = q.where(t.c.council == council)
        with self.engine.connect() as conn:
            return [_plain(r._mapping) for r in conn.execute(q)]

    def pass_on(self, alert_id: int, at: datetime) -> bool:
        self._ready()
        t = STAFF_ALERTS
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(t)
                .where(t.c.id == alert_id, t.c.status == OPEN)
                .values(status=PASSED_ON, passed_on_at=at)
            )
        return done.rowcount == 1

    def listed(
        self, council: str, role: str | None = None, open_only: bool = True
    ) -> list[dict[str, Any]]:
        """The council's alerts (one role's with `role`), open ones unless `open_only` is off,
        oldest first."""
        self._ready()
        t = STAFF_ALERTS
        q = sa.select(t).where(t.c.council == council).order_by(t.c.id)
        if role:
            q = q.where(t.c.role == role)
        if open_only:
            q = q.where(t.c.status == OPEN)
        with self.engine.connect() as conn:
            return [_plain(r._mapping) for r in conn.execute(q)]


def _plain(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["recipients"] = json.loads(out["recipients"])
    out["emails"] = json.loads(out["emails"])
    return out


class AlertMailer:
    """E-mails each open alert once to its recipients' addresses (at least once: a crash
    between the server's acceptance and the mark sends it again)."""

    def __init__(self, engine: sa.Engine, smtp: SmtpNotifier) -> None:
        self.engine, self.smtp = engine, smtp
        create_tables(METADATA, engine)

    def send_open(self, now: datetime) -> int:
        t = STAFF_ALERTS
        q = sa.select(t).where(t.c.status == OPEN, t.c.emailed_at.is_(None)).order_by(t.c.id)
        with self.engine.connect() as conn:
            rows = [_plain(r._mapping) for r in conn.execute(q)]
        sent = 0
        for row in rows:
            if not row["emails"]:
                continue
            try:
                self.smtp.send_text(
                    to=", ".join(row["emails"]),
                    subject=f"URGENT {row['reference']}: for the {row['role']}",
                    body=f"{row['reason']}\nTake it with: crm alerts ack {row['id']}",
                    message_id=f"<alert.{row['id']}@councilcrm>",
                )
            except (smtplib.SMTPException, OSError) as error:
                log.warning("alert-mail-failed", alert=row["id"], error=type(error).__name__)
                continue
            with self.engine.begin() as conn:
                conn.execute(sa.update(t).where(t.c.id == row["id"]).values(emailed_at=now))
            sent += 1
        return sent
