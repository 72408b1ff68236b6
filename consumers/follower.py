"""The embedded default's delivery: an in-process follower of the event store's log.

Each read model keeps its own position (source `store`) in its own tables, written in the same
transaction as the rows a batch produced, so a crash between batches loses and repeats nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from consumers.store_reader import StoreReader
from projections.base import ReadModel

SOURCE = "store"
Progress = Callable[[int, int], None]


def ensure_tables(engine: sa.Engine, models: Sequence[ReadModel]) -> None:
    for model in models:
        model.create(engine)


def lock_model(conn: sa.Connection, model: ReadModel) -> None:
    """Serialises catch-ups of one read model across processes until the transaction ends:
    on PostgreSQL a transaction-level advisory lock; on SQLite the database's write lock, which
    a write statement takes even when it changes no row."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"councilcrm.read-model.{model.name}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        conn.execute(sa.update(model.positions).where(sa.false()).values(position=0))


def catch_up(
    reader: StoreReader,
    engine: sa.Engine,
    models: Sequence[ReadModel],
    batch_size: int = 1000,
    progress: Progress | None = None,
    until: int | None = None,
) -> int:
    """Applies every stored event not yet applied; returns how many events were read."""
    with engine.connect() as conn:
        positions = {m.name: m.position(conn, SOURCE) or 0 for m in models}
    head = reader.head() if until is None else until
    start = min(positions.values(), default=head)
    read = 0
    while start < head:
        batch = [e for e in reader.read(start, batch_size) if e.position <= head]
        if not batch:
            break
        with engine.begin() as conn:
            for model in models:
                # Another process may have applied this batch meanwhile: decide on the position
                # read under the model's lock, inside this transaction.
                lock_model(conn, model)
                positions[model.name] = model.position(conn, SOURCE) or 0
                fresh = [e for e in batch if e.position > positions[model.name]]
                if fresh:
                    model.apply(conn, fresh)
                    positions[model.name] = fresh[-1].position
                    model.set_position(conn, SOURCE, fresh[-1].position)
        start = batch[-1].position
        read += len(batch)
        if progress:
            progress(start, head)
    return read
