"""What the HTTP tests share: the app on a real embedded runtime, staff users with passwords, and
a client that signs in as one of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from infra.http.app import create_app
from infra.runtime import Runtime
from infra.settings import Settings
from infra.store import Clock, system_clock
from tests.conftest import TEST_ADMIN, add_staff

COUNCIL = "upper-lachlan"
PASSWORD = "correct horse battery staple"


# a lodgement's body, by an invented resident
LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole",
    "name": "Ann Lee",
    "phone": "0400 000 000",
}


@contextmanager
def served(
    settings: Settings,
    staff: Mapping[str, Sequence[str]],
    teams: Mapping[str, Sequence[str]] | None = None,
    clock: Clock = system_clock,
    **app_options: Any,
) -> Iterator[tuple[TestClient, Runtime]]:
    """The app serving Upper Lachlan from `settings` on `clock`, each of `staff` (and the
    administrator) with the password `PASSWORD`."""
    add_staff(settings, COUNCIL, staff, teams)
    rt = Runtime(settings, clock=clock)
    try:
        for user in [TEST_ADMIN, *staff]:
            rt.credentials.set_password(COUNCIL, user, PASSWORD, TEST_ADMIN, rt.clock())
        with TestClient(create_app(rt, [COUNCIL], **app_options)) as client:
            yield client, rt
    finally:
        rt.close()


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> dict[str, str]:
    """The headers of a request signed in as `user`."""
    got = client.post("/api/v1/token", data={"username": user, "password": password})
    assert got.status_code == 200, got.text
    return {"Authorization": f"Bearer {got.json()['access_token']}"}


def stored(rt: Runtime) -> int:
    """The event store's last position (0 when empty)."""
    return rt.app.recorder.max_notification_id() or 0
