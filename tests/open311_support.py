"""What the Open311 and portal tests share: the app serving councils from a real embedded runtime
on a clock the test moves, API keys, a staff user to approve public descriptions, and the spec's
field lists to check answers against."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from infra.http.app import create_app
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, add_staff, make_settings
from tests.fakes import FakeClock

COUNCIL = "upper-lachlan"
PASSWORD = "correct horse battery staple"
BASE = "/open311/v2"
# GeoReport v2's fields, in the spec's order
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
SERVICE_FIELDS = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)
POST_FIELDS = ("service_request_id", "token", "service_notice", "account_id")
# The W3C profile of ISO 8601 the spec requires, with the zone's offset (or Z)
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
# A resident's details that must never appear in public output
JO = {
    "first_name": "Joanna",
    "last_name": "Quokkasdottir",
    "email": "jq.private@example.org",
    "phone": "0499 876 543",
}
SECRET_WORDS = "my neighbour Bartholomew Zyx keeps parking over it"


@dataclass
class Served:
    client: TestClient
    rt: Runtime
    clock: FakeClock
    keys: dict[str, str]

    def post(
        self,
        fmt: str = "json",
        key: str = "app",
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> Any:
        form = {
            "api_key": self.keys[key],
            "service_code": "pothole",
            "description": f"Deep pothole; {SECRET_WORDS}",
            "address_string": "12 Spring St, Crookwell NSW",
            **JO,
            **fields,
        }
        return self.client.post(
            f"{BASE}/requests.{fmt}",
            headers=headers,
            data={k: v for k, v in form.items() if v is not None},
        )

    def lodged(self, **fields: Any) -> str:
        got = self.post(**fields)
        assert got.status_code == 200, got.text
        return str(got.json()[0]["service_request_id"])

    def staff_headers(self, user: str = "cs") -> dict[str, str]:
        got = self.client.post(
            "/api/v1/token", data={"username": user, "password": PASSWORD, "client_id": COUNCIL}
        )
        assert got.status_code == 200, got.text
        return {"Authorization": f"Bearer {got.json()['access_token']}"}


@dataclass(frozen=True)
class Prepared:
    """A data folder with what `serving` needs, made once per module and copied per test."""

    data: Path
    keys: dict[str, str]
    database_url: str | None = None


def prepare(folder: Path, council: str = COUNCIL, database_url: str | None = None) -> Prepared:
    """API keys `app` (mobile-app), `portal` (web-portal) and `social` (social-media) for
    `council`, and its staff `cs` (customer service) and `an` (analyst) with `PASSWORD`."""
    settings = make_settings(folder / "data", database_url)
    add_staff(settings, council, {"cs": ["customer-service"], "an": ["analyst"]})
    clock = FakeClock()
    rt = Runtime(settings, clock=clock)
    try:
        keys = {
            name: rt.credentials.add_api_key(council, name, channel, TEST_ADMIN, clock())
            for name, channel in (
                ("app", "mobile-app"),
                ("portal", "web-portal"),
                ("social", "social-media"),
            )
        }
        for user in ("cs", "an"):
            rt.credentials.set_password(council, user, PASSWORD, TEST_ADMIN, clock())
    finally:
        rt.close()
    return Prepared(folder / "data", keys, database_url)


@contextmanager
def serving(
    tmp: Path,
    prepared: Prepared,
    councils: Sequence[str] = (COUNCIL,),
    clock: FakeClock | None = None,
) -> Iterator[Served]:
    """The app serving `councils` (the first is the prepared one) from a copy of `prepared`
    (on PostgreSQL, from `prepared` itself)."""
    data = prepared.data
    if prepared.database_url is None:
        data = tmp / "data"
        shutil.copytree(prepared.data, data)
    clock = clock or FakeClock()
    rt = Runtime(make_settings(data, prepared.database_url), clock=clock)
    try:
        app = create_app(rt, list(councils), public_rate=1000.0, public_burst=100_000)
        with TestClient(app) as client:
            yield Served(client, rt, clock, dict(prepared.keys))
    finally:
        rt.close()


def xml_of(response: Any, root: str) -> ET.Element:
    """The answer's XML, checked for the spec's declaration, content type and root."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root, element.tag
    return element


def json_of(response: Any) -> Any:
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


def items(element: ET.Element, tag: str) -> list[dict[str, str | None]]:
    """Each child `tag` of `element` as {field: text}, children checked to be leaves."""
    out = []
    for child in element:
        assert child.tag == tag, child.tag
        out.append({leaf.tag: leaf.text for leaf in child})
    return out


def error_of(response: Any, fmt: str, status: int) -> str:
    """The one error's description, checked against the spec's error form."""
    assert response.status_code == status, response.text
    if fmt == "json":
        [error] = json_of(response)
        assert set(error) == {"code", "description"} and error["code"] == status
        return str(error["description"])
    [error] = items(xml_of(response, "errors"), "error")
    assert list(error) == ["code", "description"] and error["code"] == str(status)
    return str(error["description"])
