"""`crm import`: a CSV export of another system's requests, read through a mapping, becomes history.

Three steps, in this order:
1. **Read and validate the whole file** (`validate`, pure): every row is parsed through the
   mapping and checked against the council; a row that does not parse is reported with its line
   number and every reason. One bad row refuses the file, and then nothing is written.
2. **Decide the timestamp rule once for the file** (`decide_shift`): the same reading for every
   timestamp column of every row — shifted or as written — never a mix.
3. **Write** (`write`): requests in chunks, one `app.save(*aggregates)` (one transaction) per
   chunk, so a crash leaves whole requests only; a request already in the store (same council and
   reference, hence the same aggregate id) is skipped, so a re-run completes an interrupted
   import and a re-import adds nothing.

Mapping files (TOML; `config/mappings/boston311.toml` is an example):

``name``            the source's name; the system actor is ``import:<name>`` unless ``[actor]`` says.
``required``        fields the header must provide (one of their columns), or the file is refused.
``[actor]``         ``id``, ``role`` of the system actor (default ``import:<name>``, ``system``);
                    when the source names officers (the ``actor`` field), each becomes
                    ``Actor(officer, officer_role)`` (default role ``officer``).
``[columns]``       field → list of column names; a row's value is the first non-blank value among
                    those the header has. Fields: reference, lodged_at, complete_by, closed_at,
                    status, category, team, channel, kind, closure, description, address, latitude,
                    longitude, actor.
``[timestamps]``    ``zone`` (IANA name of the wall clock the file is written in), ``formats``
                    (strptime formats tried in order) and ``shift``:
                    ``"none"`` (as written), ``"zone-offset"`` (the file's wall-clock readings were
                    moved back by the zone's UTC offset: the writer read local times as UTC and
                    converted them to local) or ``"detect-from-closure-reason"`` (decide per file
                    from ``[timestamps.detect]``: ``field`` holding a text, ``pattern`` with a
                    ``when`` group, its ``formats``, the timestamp field to ``compare_with``, and
                    ``min_agreement``, the share of evidence that must agree).
``[status]`` ``[channel]`` ``[kind]``  ``map`` of source value → ours, optional ``default``.
``[outcome]``       ``field``, ``preamble`` regex removed before matching, ``rules`` (``match``
                    regex anchored at the start, case-insensitive → ``outcome``), ``default``.
``[location]``      ``placeholder_points``: [lat, long] pairs (compared at 4 decimals) that mean
                    "no known place".

The shift, exactly. A wall-clock reading ``w`` in zone ``Z`` means the instant ``Z(w)``:
``w`` read in ``Z`` with ``fold=0`` (the first of a repeated hour, the offset before the change
for a skipped one). Shifted, it means ``Z(utc_wall(Z(w)))``: the UTC wall clock of ``Z(w)`` is
the true local reading. Both maps are strictly increasing, except near a spring-forward. Across
a fall-back they keep every order: a reading in the repeated hour (or one landing there) is read
as its first occurrence — consistently, so a row's texts keep their order, though within that
hour the source itself cannot say which occurrence it meant. Near a spring-forward a reading in
the skipped hour (or one landing there) comes out after a later reading; so the rule is
checked on every row: if reading a file shifted would change the order, or equality, of any two
instants of one row, the shift is not applied (the report names the row) and the file is read
as written. A row whose own readings cannot keep their order even as written (a wall-clock time
the zone skips) is refused. In every imported row, therefore, ``closed <= due`` holds for the
instants exactly when it holds for the texts.
"""

from __future__ import annotations

from infra.importer.mapping import check_against, load_mapping, parse_mapping
from infra.importer.model import (
    DST_NOTES,
    FIELDS,
    MAX_LISTED_ERRORS,
    SHIFT_RULES,
    STATUSES,
    TIME_FIELDS,
    Detect,
    ImportRefused,
    Mapping,
    MappingError,
    OutcomeRule,
    Progress,
    RowError,
    ShiftDecision,
    Validated,
    ValueMap,
)
from infra.importer.reading import read_csv, validate
from infra.importer.timestamps import (
    as_written,
    decide_shift,
    order_changes,
    parse_wall,
    shifted,
    shifted_wall,
    wall_kind,
)
from infra.importer.writing import ImportReport, import_file, recorded, write

__all__ = [
    "DST_NOTES",
    "FIELDS",
    "MAX_LISTED_ERRORS",
    "SHIFT_RULES",
    "STATUSES",
    "TIME_FIELDS",
    "Detect",
    "ImportRefused",
    "ImportReport",
    "Mapping",
    "MappingError",
    "OutcomeRule",
    "Progress",
    "RowError",
    "ShiftDecision",
    "Validated",
    "ValueMap",
    "as_written",
    "check_against",
    "decide_shift",
    "import_file",
    "load_mapping",
    "order_changes",
    "parse_mapping",
    "parse_wall",
    "read_csv",
    "recorded",
    "shifted",
    "shifted_wall",
    "validate",
    "wall_kind",
    "write",
]
