"""Fixtures of the Kafka path's tests: a pipeline on the real broker and a fresh database, and
the Kafka path's engine on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.fakes import FakeClock
from tests.integration.kafka_support import Pipeline


@pytest.fixture
def pipeline(pg_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[Pipeline]:
    made = Pipeline(pg_url, kafka_bootstrap, tmp_path / "data")
    yield made
    made.cleanup()


@pytest.fixture
def rt(pipeline: Pipeline, clock: FakeClock) -> Iterator[Runtime]:
    runtime = pipeline.runtime(clock)
    yield runtime
    runtime.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stream_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The engine the relay and the consumers use (`Runtime.stream_engine`), on SQLite and on a
    fresh PostgreSQL database in turn."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    rt = Runtime(make_settings(tmp_path / "data", url))
    try:
        yield rt.stream_engine()
    finally:
        rt.close()
