"""Open311's GET resources driven by a real client, `georeport` from PyPI, against the app served
by uvicorn on a loopback port (the client cannot POST: requests are lodged over HTTP with
`requests`, as an app would)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import uvicorn
from georeport import GeoReport

from infra.http.app import create_app
from infra.runtime import Runtime
from tests.conftest import make_settings
from tests.open311_support import COUNCIL, JO, REQUEST_FIELDS, SERVICE_FIELDS, W3C, prepare

STARTUP = 30.0  # seconds


@dataclass(frozen=True)
class Live:
    base: str
    key: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app on a free loopback port, served by uvicorn in a thread until the module ends."""
    folder = tmp_path_factory.mktemp("georeport")
    prepared = prepare(folder)
    rt = Runtime(make_settings(prepared.data))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # held open and handed to uvicorn: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt, [COUNCIL]), log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, f"uvicorn did not start within {STARTUP} s"
        thread.join(0.02)  # a bounded wait on the server thread, then look again
    try:
        yield Live(f"http://127.0.0.1:{port}/open311/v2", prepared.keys["app"])
    finally:
        server.should_exit = True
        thread.join(STARTUP)
        sock.close()
        rt.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback straight, whatever proxy the environment names."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def lodge(live: Live, code: str = "pothole") -> str:
    got = requests.post(
        f"{live.base}/requests.json",
        timeout=30,
        data={
            "api_key": live.key,
            "service_code": code,
            "description": "Deep pothole",
            "address_string": "12 Spring St, Crookwell",
            "lat": "-34.46",
            "long": "149.47",
            **JO,
        },
    )
    assert got.status_code == 200, got.text
    return str(got.json()[0]["service_request_id"])


def as_list(answer: Any) -> list[Any]:
    """The client parses XML with xmltodict, which gives one `<request>` as a dict."""
    return answer if isinstance(answer, list) else [answer]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_reads_services_and_definitions(live: Live, fmt: str) -> None:
    client = GeoReport(live.base, jurisdiction=COUNCIL, output_format=fmt)
    services = client.get_service_list()
    assert len(services) > 5
    assert all(tuple(s) == SERVICE_FIELDS for s in services)
    assert "pothole" in [s["service_code"] for s in services]
    assert {s["service_code"]: str(s["metadata"]).lower() for s in services}["pothole"] == "true"
    definition = client.get_service_definition("barking-dog")
    assert definition["service_code"] == "barking-dog"
    # xmltodict gives <attributes><attribute/>…</attributes> as {"attribute": [...]}
    attributes = definition["attributes"]
    listed = attributes["attribute"] if isinstance(attributes, dict) else attributes
    assert [a["code"] for a in listed] == ["barking_times", "dog_address"]
    times = listed[0]
    assert str(times["required"]).lower() == "true" and times["datatype"] == "multivaluelist"
    values = times["values"]["value"] if fmt == "xml" else times["values"]
    assert [v["key"] for v in values] == ["morning", "day", "evening", "night"]
    none = client.get_service_definition("road-damage")
    assert none["attributes"] in ([], None)  # JSON's empty list; XML's empty element


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_reads_requests_one_and_many(live: Live, fmt: str) -> None:
    first, second = lodge(live), lodge(live, "road-damage")
    client = GeoReport(live.base, jurisdiction=COUNCIL, output_format=fmt)
    one = client.get_service_request(first)
    assert tuple(one) == REQUEST_FIELDS
    assert one["service_request_id"] == first and one["status"] == "open"
    assert W3C.match(one["requested_datetime"]) and W3C.match(one["expected_datetime"])
    assert float(one["lat"]) == -34.46 and float(one["long"]) == 149.47
    assert JO["email"] not in str(one) and JO["first_name"] not in str(one)
    both = as_list(client.get_service_requests(service_request_id=f"{first},{second}"))
    assert sorted(r["service_request_id"] for r in both) == sorted([first, second])
    roads = as_list(client.get_service_requests(service_code="road-damage", status="open"))
    assert second in [r["service_request_id"] for r in roads]
    assert first not in [r["service_request_id"] for r in roads]
    with pytest.raises(requests.HTTPError) as missing:
        client.get_service_request("UL-2026-999999")
    assert missing.value.response.status_code == 404
