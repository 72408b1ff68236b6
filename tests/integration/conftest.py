"""Fixtures of the Kafka path's tests: a pipeline on the real broker and a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.runtime import Runtime
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
