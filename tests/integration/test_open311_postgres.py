"""Open311 on PostgreSQL: a request posted by an app is read back in both formats from the
public read model there, with its description shown only once approved, and input a database
would refuse (a NUL) is answered 400 before it reaches one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.http_support import stored
from tests.open311_support import (
    BASE,
    JO,
    REQUEST_FIELDS,
    W3C,
    error_of,
    items,
    json_of,
    prepare,
    serving,
    xml_of,
)

pytestmark = pytest.mark.postgres


def test_a_posted_request_reads_back_from_postgresql_in_both_formats(
    tmp_path: Path, pg_url: str
) -> None:
    with serving(tmp_path, prepare(tmp_path, database_url=pg_url)) as api:
        before = stored(api.rt)
        assert "control character" in error_of(api.post(description="Hole\x00"), "json", 400)
        assert stored(api.rt) == before
        ref = api.lodged(
            media_url="https://photos.example.org/p/9.jpg",
            zipcode="2583",
            lat="-34.46",
            long="149.47",
        )
        approved = api.client.post(
            f"/api/v1/requests/{ref}/public-description",
            headers=api.staff_headers(),
            json={"text": "Pothole in Spring St"},
        )
        assert approved.status_code == 200, approved.text
        [shown] = json_of(api.client.get(f"{BASE}/requests.json"))
        assert tuple(shown) == REQUEST_FIELDS and shown["service_request_id"] == ref
        assert shown["description"] == "Pothole in Spring St" and shown["zipcode"] == "2583"
        assert W3C.match(shown["updated_datetime"]) and shown["lat"] == -34.46
        [as_xml] = items(
            xml_of(api.client.get(f"{BASE}/requests/{ref}.xml"), "service_requests"), "request"
        )
        assert as_xml == {k: None if v is None else str(v) for k, v in shown.items()}
        assert not any(secret in str(shown) for secret in JO.values())
