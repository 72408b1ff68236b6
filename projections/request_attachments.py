"""Which documents each request keeps: one row per `AttachmentAdded`, only ever inserted.

The row names the sealed bytes in the file store (`blob`) and the content's SHA-256, with the
media type, size, the sealed file name, who attached it and when; the bytes themselves stay in
the file store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from projections.base import ReadModel, Row, UtcDateTime, insert_ignoring_duplicates
from projections.bulk import Fold, RowsAtOnce
from projections.envelope import Envelope


class RequestAttachments(ReadModel):
    name = "request_attachments"

    def define(self, metadata: sa.MetaData) -> None:
        p = self.prefix
        self.table = sa.Table(
            f"{p}request_attachments",
            metadata,
            sa.Column("request_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, primary_key=True),
            sa.Column("council", sa.String(64), nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("blob", sa.String(64), nullable=False),
            sa.Column("media_type", sa.String(200), nullable=False),
            sa.Column("size", sa.BigInteger, nullable=False),
            sa.Column("filename", sa.Text, nullable=False),
            sa.Column("note", sa.Text),
            sa.Column("uploaded_by", sa.String(128), nullable=False),
            sa.Column("uploaded_role", sa.String(64), nullable=False),
            sa.Column("attached_at", UtcDateTime, nullable=False),
            sa.Index(f"{p}request_attachments_by_reference", "council", "reference"),
            sa.Index(f"{p}request_attachments_by_hash", "council", "sha256"),
        )

    @staticmethod
    def row(e: Envelope) -> Row | None:
        if e.event_type != "AttachmentAdded":
            return None
        return {
            "request_id": e.request_id,
            "version": e.version,
            "council": e.council,
            "reference": e.reference,
            "sha256": e.data["sha256"],
            "blob": e.data["blob"],
            "media_type": e.data["media_type"],
            "size": e.data["size"],
            "filename": e.data["filename"],
            "note": e.data.get("note"),
            "uploaded_by": e.actor["id"],
            "uploaded_role": e.actor["role"],
            "attached_at": e.occurred_at,
        }

    def apply(self, conn: sa.Connection, envelopes: Sequence[Envelope]) -> int:
        rows = [r for r in (self.row(e) for e in envelopes) if r is not None]
        insert_ignoring_duplicates(conn, self.table, rows)
        return len(rows)

    def fold(self) -> Fold:
        return RowsAtOnce(self.table, self.row, frozenset({"AttachmentAdded"}))


def of_request(
    conn: sa.Connection, model: RequestAttachments, council: str, reference: str
) -> list[dict[str, Any]]:
    t = model.table
    q = sa.select(t).where(t.c.council == council, t.c.reference == reference)
    return [dict(r._mapping) for r in conn.execute(q.order_by(t.c.version))]


def by_hash(
    conn: sa.Connection, model: RequestAttachments, council: str, sha256: str
) -> list[dict[str, Any]]:
    """Every attachment of that content in the council (the same file may be attached to
    several requests), oldest first."""
    t = model.table
    q = sa.select(t).where(t.c.council == council, t.c.sha256 == sha256)
    return [dict(r._mapping) for r in conn.execute(q.order_by(t.c.attached_at, t.c.version))]
