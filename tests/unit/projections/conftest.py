"""Fixtures of the read models' tests: Upper Lachlan, an in-memory event log, a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.council import Council
from infra.config import load_council
from infra.settings import PROJECT_ROOT
from tests.fakes import FakeClock
from tests.unit.projections.story import COUNCIL, EventLog


@pytest.fixture
def council() -> Council:
    return load_council(PROJECT_ROOT / "config", COUNCIL)


@pytest.fixture
def log(council: Council, clock: FakeClock) -> Iterator[EventLog]:
    events = EventLog(council, clock)
    yield events
    events.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty read-model database: plain SQLite in the test's own directory."""
    db = sa.create_engine(f"sqlite:///{tmp_path / 'read-models.sqlite3'}")
    yield db
    db.dispose()
