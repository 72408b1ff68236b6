"""Building a read model's tables from a stream of events in bulk: the rows are folded in
memory and written once, final, with COPY on PostgreSQL (executemany on SQLite).

A `Fold` is a model's `apply` without a database: it takes the events in log order and gives
back rows when they are final (an audit entry at once, a history interval once the next version
closes it, a request's current row at the end). It applies the same rules as the model's
`apply` — the same `evolve`, the same version order — so a model built in bulk equals the same
model fed event by event (`crm projections verify` compares them).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any, Protocol

import sqlalchemy as sa

from projections.envelope import Envelope

Row = dict[str, Any]
Rows = list[tuple[sa.Table, list[Row]]]


class Fold(Protocol):
    def needs(self, event_type: str, request_id: str) -> bool:
        """False when the next event (of this type, of this request) would change nothing:
        it need not even be decoded. True whenever in doubt."""

    def add(self, env: Envelope) -> None:
        """Folds in the next event in log order."""

    def take(self) -> Rows:
        """The rows that became final since the last call (then forgotten)."""

    def finish(self) -> Rows:
        """Every row not yet taken: the end of the stream."""


def write(conn: sa.Connection, table: sa.Table, rows: Sequence[Row]) -> None:
    """Inserts `rows` into a table being built (no conflicts possible): COPY on PostgreSQL,
    one executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), list(rows))
        return
    names = [c.name for c in table.columns]
    buffer = io.StringIO(copy_text(table, rows, conn.dialect))
    quoted = ", ".join(f'"{n}"' for n in names)
    sql = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        copy = getattr(cursor, "copy_expert", None)
        if copy is not None:  # psycopg2
            copy(sql, buffer)
        else:  # psycopg 3
            with cursor.copy(sql) as out:
                out.write(buffer.getvalue())
    except conn.dialect.loaded_dbapi.Error as error:
        # Raised as SQLAlchemy raises a statement's error, so callers tell the data's fault
        # (parked) from the server's (retried) the same way for COPY as for any statement.
        invalidated = conn.dialect.is_disconnect(error, dbapi, cursor)
        if invalidated:
            conn.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            sql,
            None,
            error,
            conn.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=conn.dialect,
        ) from error
    finally:
        cursor.close()


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(table: sa.Table, rows: Sequence[Row], dialect: sa.Dialect) -> str:
    """The rows in COPY's text format, a line each, the table's columns in order: each field
    as `_field_text` gives it (a missing key is a null). The commonest fields, a null or a
    string of a column without a bind processor, are written without a call of their own."""
    names = [c.name for c in table.columns]
    fields = [_field_text(c, dialect) for c in table.columns]
    plain = [text is _copy_text for text in fields]
    together = list(zip(fields, plain))
    values = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    escapes, lines = _ESCAPES, []
    for row in rows:
        try:
            found = values(row)
        except KeyError:
            found = tuple(row.get(name) for name in names)
        lines.append(
            "\t".join(
                [
                    "\\N"
                    if v is None
                    else v.translate(escapes)
                    if is_plain and type(v) is str
                    else text(v)
                    for (text, is_plain), v in zip(together, found)
                ]
            )
        )
    lines.append("")
    return "\n".join(lines)


def _copy_text(value: Any) -> str:
    """One field in COPY's text format."""
    if value is None:
        return "\\N"
    if type(value) is str:
        return value.translate(_ESCAPES)
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def _field_text(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], str]:
    """How a value of `column` is written in COPY's text format: through the column type's
    bind processor, as an INSERT would send it. An aware instant takes a short cut (no
    processor call) to the same text as `UtcDateTime`'s processor gives: UTC, without a zone,
    formatted once per distinct instant (a request's rows repeat most of theirs);
    so does a boolean (`t`, `f`: the processor only checks it is one)."""
    from projections.base import UtcDateTime  # base builds on this module

    process = column.type.bind_processor(dialect)
    if process is None:
        return _copy_text
    if isinstance(column.type, UtcDateTime):
        written: dict[datetime, str] = {}  # an instant's text, for this column's other rows

        def utc_text(value: Any) -> str:
            if value is None:
                return "\\N"
            if type(value) is datetime and value.tzinfo is not None:
                text = written.get(value)  # equal instants, whatever their zones: one text
                if text is None:
                    instant: datetime = value if value.tzinfo is UTC else value.astimezone(UTC)
                    text = written[value] = instant.replace(tzinfo=None).isoformat()
                return text
            return _copy_text(process(value))

        return utc_text

    if isinstance(column.type, sa.Boolean):

        def bool_text(value: Any) -> str:
            if value is True:
                return "t"
            if value is False:
                return "f"
            return "\\N" if value is None else _copy_text(process(value))

        return bool_text

    def processed_text(value: Any) -> str:
        return "\\N" if value is None else _copy_text(process(value))

    return processed_text


def write_all(conn: sa.Connection, rows: Rows) -> int:
    n = 0
    for table, part in rows:
        write(conn, table, part)
        n += len(part)
    return n


class RowsAtOnce:
    """A fold for a model with at most one row per event (`row(env)`, None for an event it
    passes over), final at once; `types`, when given, are the only event types `row` makes a
    row of."""

    def __init__(self, table: sa.Table, row: Any, types: frozenset[str] | None = None) -> None:
        self.table = table
        self.row = row
        self.types = types
        self.rows: list[Row] = []

    def needs(self, event_type: str, request_id: str) -> bool:
        return self.types is None or event_type in self.types

    def add(self, env: Envelope) -> None:
        # The store holds each (request, version) once: no duplicate to skip.
        row = self.row(env)
        if row is not None:  # an event the model passes over
            self.rows.append(row)

    def take(self) -> Rows:
        rows, self.rows = self.rows, []
        return [(self.table, rows)]

    def finish(self) -> Rows:
        return self.take()


def fold_all(fold: Fold, envelopes: Iterable[Envelope]) -> None:
    for env in envelopes:
        fold.add(env)
