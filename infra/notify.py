"""Notice delivery adapters: the outbox table (default) and SMTP.

`OutboxNotifier` writes each issued notice to `notice_outbox` in the write database, once per
(request id, event version) however often it is handed over. `OutboxSender` drains pending rows
through a transport per contact method (`SmtpNotifier` for email) and marks each row sent, or
failed after `max_attempts`; rows of a method without a transport (letters, phone calls) stay
pending for staff, listed by `crm notices`. See `commands/notices.py` for the consistency
argument.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from commands.notices import Notice, Notifier
from commands.ports import Vault
from domain.errors import DomainError
from domain.personal import is_sealed
from domain.values import Actor, ContactMethod, NoticeKind
from projections.base import UtcDateTime, insert_ignoring_duplicates
from projections.tables import create_tables

METADATA = sa.MetaData()
NOTICE_OUTBOX = sa.Table(
    "notice_outbox",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("council", sa.String(64), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("notice", sa.String(32), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("recipient", sa.String(320)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("error", sa.Text),
    # a letter posted or a call made by staff: who, how, when, and what they noted
    sa.Column("done_by", sa.String(128)),
    sa.Column("done_how", sa.String(16)),
    sa.Column("done_note", sa.Text),
    sa.UniqueConstraint("request_id", "version", name="notice_outbox_once"),
    sa.Index("notice_outbox_pending", "status", "method", "id"),
    sa.Index("notice_outbox_by_reference", "council", "reference"),
)
PENDING, SENT, FAILED, DONE = "pending", "sent", "failed", "done"
# How staff deliver what no transport does, and the methods each way serves.
BY_HAND = {"posted": (ContactMethod.LETTER,), "called": (ContactMethod.PHONE, ContactMethod.SMS)}


def create_outbox(engine: sa.Engine) -> None:
    """Creates the outbox, or adds the columns a table made by an earlier release lacks."""
    create_tables(METADATA, engine)
    have = {c["name"] for c in sa.inspect(engine).get_columns(NOTICE_OUTBOX.name)}
    missing = [c for c in NOTICE_OUTBOX.columns if c.name not in have]
    with engine.begin() as conn:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            conn.execute(
                sa.text(f"ALTER TABLE {NOTICE_OUTBOX.name} ADD COLUMN {column.name} {kind}")
            )


class NoticeWorkRefused(DomainError):
    """No such notice in this council, it is not pending, or it cannot be done that way."""


class Undeliverable(ValueError):
    """This transport cannot deliver this notice (wrong method, no recipient): retrying won't
    help."""


class OutboxNotifier:
    """The default notifier: a row in `notice_outbox`, written once per notice."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        create_outbox(engine)

    def deliver(self, notice: Notice) -> None:
        row = {
            "request_id": str(notice.request_id),
            "version": notice.version,
            "council": notice.council,
            "reference": notice.reference,
            "notice": notice.notice.value,
            "method": notice.method.value,
            "recipient": notice.recipient,
            "text": notice.text,
            "issued_at": notice.issued_at,
            "status": PENDING,
            "attempts": 0,
        }
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(conn, NOTICE_OUTBOX, [row])


def list_outbox(
    engine: sa.Engine, council: str, reference: str | None = None, pending: bool = False
) -> list[dict[str, Any]]:
    """The council's outbox rows (one request's, with `reference`; with `pending`, the work
    list: what is still to be delivered), oldest first."""
    create_outbox(engine)
    t = NOTICE_OUTBOX
    q = sa.select(t).where(t.c.council == council).order_by(t.c.id)
    if reference:
        q = q.where(t.c.reference == reference)
    if pending:
        q = q.where(t.c.status == PENDING)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def mark_done(
    engine: sa.Engine,
    council: str,
    notice_id: int,
    *,
    by: Actor,
    how: str,
    note: str | None,
    at: datetime,
) -> dict[str, Any]:
    """Records that staff delivered a pending notice by hand (`posted` a letter, `called` the
    customer): who, how, when and their note. Refused for another council's or an unknown
    notice, one not pending, or a way that does not fit its method (no letter is called)."""
    create_outbox(engine)
    t = NOTICE_OUTBOX
    if how not in BY_HAND:
        raise NoticeWorkRefused(f"--by must be one of {', '.join(BY_HAND)}")
    methods = [m.value for m in BY_HAND[how]]
    with engine.begin() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == notice_id, t.c.council == council)).first()
        if row is None:
            raise NoticeWorkRefused(f"no notice {notice_id} in council {council}")
        if row.method not in methods:
            raise NoticeWorkRefused(f"notice {notice_id} is by {row.method}: it cannot be {how}")
        done = conn.execute(
            sa.update(t)
            .where(t.c.id == notice_id, t.c.status == PENDING)
            .values(
                status=DONE,
                sent_at=at,
                done_by=f"{by.id} ({by.role})",
                done_how=how,
                done_note=(note or "").strip() or None,
            )
        )
        if done.rowcount != 1:
            raise NoticeWorkRefused(f"notice {notice_id} is {row.status}, not pending")
        return dict(conn.execute(sa.select(t).where(t.c.id == notice_id)).one()._mapping)


class SmtpNotifier:
    """Sends an email notice through an SMTP server (stdlib `smtplib`)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        timeout: float = 10.0,
        credentials: tuple[str, str] | None = None,
        starttls: bool = False,
        vault: Vault | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.credentials, self.starttls, self.vault = credentials, starttls, vault

    def _address(self, notice: Notice) -> str:
        """The recipient's address, opened at the last moment (the outbox keeps it sealed)."""
        if notice.method is not ContactMethod.EMAIL or not notice.recipient:
            raise Undeliverable(
                f"notice {notice.reference} v{notice.version}: by {notice.method.value} "
                "has no e-mail address"
            )
        if not is_sealed(notice.recipient):
            return notice.recipient
        opened = self.vault.opener().open(notice.recipient) if self.vault else None
        if opened is None:
            raise Undeliverable(
                f"notice {notice.reference} v{notice.version}: the customer's details were erased"
                if self.vault
                else "no data keys to open the recipient with"
            )
        return opened

    def deliver(self, notice: Notice) -> None:
        self.send_text(
            to=self._address(notice),
            subject=f"Your request {notice.reference}: {_SUBJECTS[notice.notice]}",
            body=notice.text,
            message_id=f"<{notice.request_id}.{notice.version}@councilcrm>",
        )

    def send_text(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        """One plain-text message; customer notices and staff alerts both go through it."""
        msg = EmailMessage()
        msg["From"], msg["To"] = self.sender, to
        msg["Subject"] = subject
        msg["Message-ID"] = message_id
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.credentials:
                smtp.login(*self.credentials)
            smtp.send_message(msg)


_SUBJECTS = {
    NoticeKind.ACKNOWLEDGEMENT: "received",
    NoticeKind.PROGRESS: "progress",
    NoticeKind.DELAY: "delayed",
    NoticeKind.CLOSURE: "closed",
}


def smtp_from_env(
    env: Mapping[str, str] | None = None, vault: Vault | None = None
) -> SmtpNotifier | None:
    """`CRM_SMTP_HOST` (unset: no SMTP), `CRM_SMTP_PORT` (25), `CRM_SMTP_FROM`,
    `CRM_SMTP_USER`/`CRM_SMTP_PASSWORD`, `CRM_SMTP_STARTTLS=1`."""
    env = os.environ if env is None else env
    host = env.get("CRM_SMTP_HOST")
    if not host:
        return None
    user = env.get("CRM_SMTP_USER")
    return SmtpNotifier(
        host,
        int(env.get("CRM_SMTP_PORT") or 25),
        env.get("CRM_SMTP_FROM") or "no-reply@councilcrm.invalid",
        credentials=(user, env.get("CRM_SMTP_PASSWORD") or "") if user else None,
        starttls=env.get("CRM_SMTP_STARTTLS") == "1",
        vault=vault,
    )


@dataclass(frozen=True, kw_only=True)
class Drained:
    sent: int
    failed: int
    retrying: int


class OutboxSender:
    """Drains pending outbox rows through the transports it has, marking each row.

    Each row is claimed, sent and marked in one short transaction (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL, so concurrent senders never share a row); a crash after the server accepted a
    message and before the mark resends it: delivery is at least once."""

    def __init__(
        self,
        engine: sa.Engine,
        transports: Mapping[ContactMethod, Notifier],
        max_attempts: int = 5,
    ) -> None:
        self.engine, self.transports, self.max_attempts = engine, transports, max_attempts
        create_outbox(engine)

    def send_pending(self, now: datetime, limit: int = 100) -> Drained:
        """Tries each pending row at most once per call (a failing server is tried again at
        the next call, not hammered), oldest first."""
        counts = {SENT: 0, FAILED: 0, PENDING: 0}
        after = 0
        for _ in range(limit):
            tried = self._send_one(now, after)
            if tried is None:
                break
            after, status = tried
            counts[status] += 1
        return Drained(sent=counts[SENT], failed=counts[FAILED], retrying=counts[PENDING])

    def _send_one(self, now: datetime, after: int) -> tuple[int, str] | None:
        t = NOTICE_OUTBOX
        methods = [m.value for m in self.transports]
        claim = (
            sa.select(t)
            .where(t.c.status == PENDING, t.c.method.in_(methods), t.c.id > after)
            .order_by(t.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            row = conn.execute(claim).first()
            if row is None:
                return None
            values = self._attempt(dict(row._mapping), now)
            conn.execute(sa.update(t).where(t.c.id == row.id).values(**values))
        return row.id, str(values["status"])

    def _attempt(self, row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        notice = Notice(
            request_id=UUID(row["request_id"]),
            council=row["council"],
            reference=row["reference"],
            version=row["version"],
            notice=NoticeKind(row["notice"]),
            method=ContactMethod(row["method"]),
            recipient=row["recipient"],
            text=row["text"],
            issued_at=row["issued_at"],
        )
        attempts = row["attempts"] + 1
        try:
            self.transports[notice.method].deliver(notice)
        except Undeliverable as e:
            return {"status": FAILED, "attempts": attempts, "error": str(e)}
        except (smtplib.SMTPException, OSError) as e:
            status = FAILED if attempts >= self.max_attempts else PENDING
            return {"status": status, "attempts": attempts, "error": f"{type(e).__name__}: {e}"}
        return {"status": SENT, "attempts": attempts, "sent_at": now, "error": None}
