"""Shared fixtures: a fake clock, runtimes on SQLite and on the real PostgreSQL server.

The PostgreSQL and Kafka servers come from the test command (`CRM_TEST_DATABASE_URL`,
`CRM_TEST_KAFKA_BOOTSTRAP`); when those are unset the fixtures start the project's own servers
(`infra.services`), so these tests run against real servers, never skipped.

Markers follow the fixtures: a test that uses a server's fixture carries that server's marker
(`postgres`, `kafka`), so `-m "not postgres"` never starts PostgreSQL. A test that reaches
`pg_url` through `request.getfixturevalue` marks its parameter itself, and is failed if it does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from commands import users
from domain.values import Actor
from infra.config import load_council
from infra.runtime import Runtime
from infra.services.scratch import scratch_database
from infra.settings import PROJECT_ROOT, Settings
from tests.fakes import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")


SERVER_OF_FIXTURE = {"pg_server_url": "postgres", "kafka_bootstrap": "kafka"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Adds `postgres` / `kafka` to every test whose fixtures (directly or not) use that server."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in SERVER_OF_FIXTURE.items():
            if fixture in used and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture
def clock() -> FakeClock:
    # Monday 2 March 2026, 10:00 in Sydney: a plain business day.
    return FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=SYDNEY))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get("CRM_TEST_DATABASE_URL")
    if url:
        return url
    from infra import services

    return services.postgres_up()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("CRM_TEST_KAFKA_BOOTSTRAP")
    if bootstrap:
        return bootstrap
    from infra import services

    return services.kafka_up()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the real server, dropped afterwards."""
    if request.node.get_closest_marker("postgres") is None:
        pytest.fail(f"{request.node.nodeid} uses PostgreSQL but is not marked postgres")
    with scratch_database(pg_server_url, "t") as url:
        yield url


def make_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap=None,
        config_dir=PROJECT_ROOT / "config",
    )


TEST_ADMIN = "admin"
# a date a due date may be moved to whenever the tests run: ahead of today, well within the
# councils' horizon for user-set due dates (730 days)
DUE_AHEAD = (date.today() + timedelta(days=200)).isoformat()


def add_staff(
    settings: Settings,
    council: str,
    staff: Mapping[str, Sequence[str]],
    teams: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Gives the data folder's council the staff users the CLI acts as: bootstraps `admin`
    if it has none, then adds each user of `staff` (id → roles; `teams`: id → teams) not
    there yet, as that administrator."""
    rt = Runtime(settings)
    try:
        add_staff_to(rt, council, staff, teams)
    finally:
        rt.close()


def add_staff_to(
    rt: Runtime,
    council: str,
    staff: Mapping[str, Sequence[str]],
    teams: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """`add_staff` on a runtime already open."""
    c = load_council(rt.settings.config_dir, council)
    known = {u.user_id for u in users.list_users(rt.directory_ports, council)}
    if not known:
        users.bootstrap_administrator(
            users.BootstrapAdministrator(
                council=council, user_id=TEST_ADMIN, name="Test Administrator"
            ),
            rt.directory_ports,
            c,
        )
    admin = Actor(id=TEST_ADMIN, role="administrator")
    for user_id, roles in staff.items():
        if user_id not in known:
            users.add_user(
                users.AddUser(
                    council=council,
                    user_id=user_id,
                    name=user_id,
                    roles=tuple(roles),
                    teams=tuple((teams or {}).get(user_id, ())),
                    actor=admin,
                ),
                rt.directory_ports,
                c,
            )


@pytest.fixture
def sqlite_runtime(tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    rt = Runtime(make_settings(tmp_path / "data"), clock=clock)
    yield rt
    rt.close()


@pytest.fixture
def pg_runtime(tmp_path: Path, pg_url: str, clock: FakeClock) -> Iterator[Runtime]:
    rt = Runtime(make_settings(tmp_path / "data", pg_url), clock=clock)
    yield rt
    rt.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_runtime(request: pytest.FixtureRequest) -> Runtime:
    """The same contract suite, on the embedded store and on the real PostgreSQL."""
    name = "sqlite_runtime" if request.param == "sqlite" else "pg_runtime"
    runtime: Runtime = request.getfixturevalue(name)
    return runtime
