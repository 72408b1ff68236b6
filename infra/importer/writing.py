"""Writing the checked records (step 3 of an import) and the import's report.

Guarantees:
- `write` saves requests in chunks, one transaction per chunk, so a crash leaves whole requests
  only; a request already in the store is skipped, so re-runs complete an import and a
  re-import adds nothing.
- `import_file` writes nothing unless every row of the file is valid.
"""

from __future__ import annotations

import time as wallclock
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from commands.errors import ConcurrencyConflict
from commands.import_history import HistoricalRequest, history_of, import_key
from commands.ports import Sealer, Vault
from domain.aggregates.service_request import request_id
from domain.council import Council
from infra.importer.mapping import check_against
from infra.importer.model import ImportRefused, Mapping, Progress
from infra.importer.reading import read_csv, validate


def _chunks(items: Sequence[HistoricalRequest], size: int) -> Iterator[Sequence[HistoricalRequest]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def recorded(app: Application[UUID], ids: Iterable[UUID]) -> set[UUID]:
    """Which of these requests the store already has."""
    return {i for i in ids if app.recorder.select_events(i, limit=1)}


def write(
    app: Application[UUID],
    council: Council,
    records: Sequence[HistoricalRequest],
    sealer: Sealer,
    chunk: int = 500,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Saves the records' requests, `chunk` per transaction; returns (written, already there).

    A chunk is first saved whole (the common case: none of it is there yet). If the store
    refuses it because some request exists (a re-import, a re-run after a crash, another
    import at the same time), the chunk's existing requests are looked up and the rest saved."""
    written = skipped = done = 0
    for part in _chunks(records, chunk):
        pending = list(part)
        for _attempt in range(3):
            try:
                if pending:
                    app.save(*(history_of(council, r, sealer) for r in pending))
                break
            except IntegrityError:
                there = recorded(app, (request_id(council.id, r.reference) for r in pending))
                skipped += sum(1 for r in pending if request_id(council.id, r.reference) in there)
                pending = [r for r in pending if request_id(council.id, r.reference) not in there]
        else:
            raise ConcurrencyConflict(
                "the store kept refusing a chunk of requests another writer was adding: "
                "run the import again (what is there is skipped)"
            )
        written += len(pending)
        done += len(part)
        if progress:
            progress(done, len(records))
    return written, skipped


@dataclass(kw_only=True)
class ImportReport:
    file: str
    mapping: str
    council: str
    rows: int
    written: int
    skipped: int
    closed: int
    open: int
    timestamps: dict[str, Any]
    notes: list[str]
    seconds: float
    dry_run: bool = False

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def import_file(
    app: Application[UUID],
    council: Council,
    mapping: Mapping,
    path: Path,
    *,
    vault: Vault | None,
    chunk: int = 500,
    dry_run: bool = False,
    progress: Callable[[str], Progress | None] = lambda what: None,
) -> ImportReport:
    """Reads, validates (refusing the file on any bad row, with nothing written), then writes."""
    started = wallclock.perf_counter()
    check_against(mapping, council)
    header, rows = read_csv(path)
    checked = validate(council, mapping, header, rows, progress=progress(f"validate {path.name}"))
    if checked.errors:
        n = len(checked.errors)
        raise ImportRefused(
            f"{path}: {n} row{'s' if n > 1 else ''} cannot be imported; nothing was written",
            checked.errors,
        )
    written = skipped = 0
    if not dry_run:
        if vault is None:
            raise ValueError("an import that writes needs the data keys to seal descriptions")
        sealer = vault.sealer(import_key(council.id), council.id, datetime.now(UTC))
        written, skipped = write(
            app, council, checked.records, sealer, chunk, progress=progress(f"import {path.name}")
        )
    d = checked.decision
    closed = sum(1 for r in checked.records if r.closed)
    return ImportReport(
        file=str(path),
        mapping=str(mapping.path),
        council=council.id,
        rows=checked.rows,
        written=written,
        skipped=skipped,
        closed=closed,
        open=len(checked.records) - closed,
        timestamps={
            "zone": mapping.zone.key,
            "declared": d.declared if d else mapping.shift,
            "applied": d.rule if d else "none",
            "reason": d.reason if d else "",
            "evidence": d.evidence if d else 0,
            "agree_shifted": d.agree_shifted if d else 0,
            "agree_as_written": d.agree_as_written if d else 0,
        },
        notes=checked.notes,
        seconds=wallclock.perf_counter() - started,
        dry_run=dry_run,
    )
