"""The SLA view as it stood at any past instant: every state each request's SLA row has had,
with the interval of recorded time it held (`projections/temporal.py`). The SLA questions
(`projections/sla_queries.py`) asked of it at T read the rows in force at T and judge each state
at T: what had breached or was at risk that morning, by what the council had recorded then."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from projections.sla import Sla
from projections.temporal import TemporalHistory


class SlaHistory(TemporalHistory):
    name = "sla_history"
    live_model = Sla

    def indexes(self) -> list[tuple[str, tuple[str, ...]]]:
        return [("by_council", ("council", "valid_from"))]

    def open_rows(self, t: sa.Table) -> Any:
        return t.c.open == sa.true()
