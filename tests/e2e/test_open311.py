"""Open311 GeoReport v2 end to end on the embedded default: every resource in both formats,
checked against the spec's element names, fields and formats; errors in the spec's form with its
HTTP statuses; the council's lodgement policy unchanged; and what the public may never see."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain.aggregates.service_request import request_id
from domain.values import Channel
from infra import views
from projections.envelope import SCHEMA_VERSION, Envelope
from projections.public_requests import PublicRequests
from tests.e2e.test_staff_web import web_sign_in
from tests.http_support import stored
from tests.open311_support import (
    BASE,
    COUNCIL,
    JO,
    POST_FIELDS,
    REQUEST_FIELDS,
    SECRET_WORDS,
    SERVICE_FIELDS,
    W3C,
    Prepared,
    Served,
    error_of,
    items,
    json_of,
    prepare,
    serving,
    xml_of,
)

FORMATS = ("json", "xml")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(tmp_path_factory.mktemp("open311"))


@pytest.fixture
def api(tmp_path: Path, prepared: Prepared) -> Iterator[Served]:
    with serving(tmp_path, prepared) as served:
        yield served


def test_discovery_names_this_endpoint_and_both_formats(api: Served) -> None:
    doc = json_of(api.client.get(f"{BASE}/discovery.json"))
    assert set(doc) == {"changeset", "contact", "key_service", "endpoints"}
    [endpoint] = doc["endpoints"]
    assert endpoint == {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": "http://testserver/open311/v2",
        "changeset": doc["changeset"],
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    xml = xml_of(api.client.get(f"{BASE}/discovery.xml"), "discovery")
    assert [e.tag for e in xml] == ["changeset", "contact", "key_service", "endpoints"]
    [endpoint_xml] = xml.find("endpoints") or []
    assert endpoint_xml.tag == "endpoint"
    assert [f.text for f in endpoint_xml.findall("formats/format")] == endpoint["formats"]


def test_services_are_the_councils_categories_in_both_formats(api: Served) -> None:
    council = api.rt.ports.council(COUNCIL)
    listed = json_of(api.client.get(f"{BASE}/services.json"))
    assert [s["service_code"] for s in listed] == list(council.categories)
    for service in listed:
        assert tuple(service) == SERVICE_FIELDS
        attributes = council.categories[service["service_code"]].attributes
        assert service["metadata"] is bool(attributes) and service["type"] == "realtime"
        assert service["service_name"] == council.categories[service["service_code"]].name
    as_xml = items(xml_of(api.client.get(f"{BASE}/services.xml"), "services"), "service")
    assert [tuple(s) for s in as_xml] == [SERVICE_FIELDS] * len(listed)
    assert [s["service_code"] for s in as_xml] == list(council.categories)
    assert [s["metadata"] for s in as_xml] == ["true" if s["metadata"] else "false" for s in listed]
    assert {s["service_code"] for s in listed if s["metadata"]} == {"pothole", "barking-dog"}


ATTRIBUTE_FIELDS = (
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
)


def test_a_service_definition_lists_the_categorys_attributes(api: Served) -> None:
    definition = json_of(api.client.get(f"{BASE}/services/barking-dog.json"))
    assert list(definition) == ["service_code", "attributes"]
    assert definition["service_code"] == "barking-dog"
    times, where = definition["attributes"]
    assert tuple(times) == (*ATTRIBUTE_FIELDS, "values")
    assert (
        times["variable"],
        times["code"],
        times["datatype"],
        times["required"],
        times["datatype_description"],
        times["order"],
    ) == (True, "barking_times", "multivaluelist", True, None, 1)
    assert times["description"] == "When does the dog bark?"
    assert [v["key"] for v in times["values"]] == ["morning", "day", "evening", "night"]
    assert all(tuple(v) == ("key", "name") and v["name"] for v in times["values"])
    assert tuple(where) == ATTRIBUTE_FIELDS  # no values for a string
    assert (where["code"], where["datatype"], where["required"], where["order"]) == (
        "dog_address",
        "string",
        False,
        2,
    )
    pothole = json_of(api.client.get(f"{BASE}/services/pothole.json"))["attributes"]
    assert [(a["code"], a["datatype"]) for a in pothole] == [
        ("size", "singlevaluelist"),
        ("depth_cm", "number"),
    ]
    assert pothole[1]["datatype_description"] == "a number of centimetres, e.g. 8"
    xml = xml_of(api.client.get(f"{BASE}/services/barking-dog.xml"), "service_definition")
    assert [e.tag for e in xml] == ["service_code", "attributes"]
    attributes = xml.find("attributes")
    assert attributes is not None
    [times_xml, where_xml] = list(attributes)
    assert times_xml.tag == where_xml.tag == "attribute"
    assert [e.tag for e in times_xml] == [*ATTRIBUTE_FIELDS, "values"]
    assert [(e.tag, e.text) for e in times_xml][:4] == [
        ("variable", "true"),
        ("code", "barking_times"),
        ("datatype", "multivaluelist"),
        ("required", "true"),
    ]
    assert times_xml.find("datatype_description") is not None
    assert times_xml.findtext("datatype_description") in (None, "")
    values = times_xml.find("values")
    assert values is not None
    assert [(v.tag, [c.tag for c in v]) for v in values] == [("value", ["key", "name"])] * 4
    assert [v.findtext("key") for v in values] == ["morning", "day", "evening", "night"]
    assert [e.tag for e in where_xml] == list(ATTRIBUTE_FIELDS)
    assert json_of(api.client.get(f"{BASE}/services/road-damage.json")) == {
        "service_code": "road-damage",
        "attributes": [],
    }
    for fmt in FORMATS:
        got = api.client.get(f"{BASE}/services/no-such-thing.{fmt}")
        assert "no-such-thing" in error_of(got, fmt, 404)


def test_answers_to_attributes_are_recorded_shown_to_staff_and_never_public(api: Served) -> None:
    got = api.client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": api.keys["app"],
            "service_code": "barking-dog",
            "description": "Dog barks all night",
            "address_string": "3 Spring St, Crookwell",
            **JO,
            "attribute[barking_times][]": ["night", "morning"],
            "attribute[dog_address]": "5 Wattle Lane, behind the blue gate",
        },
    )
    assert got.status_code == 200, got.text
    ref = json_of(got)[0]["service_request_id"]
    request = api.rt.ports.get(request_id(COUNCIL, ref), ref)
    times, where = request.attributes
    assert (times["code"], times["value"], times["label"]) == (
        "barking_times",
        ["night", "morning"],
        "At night (after 10 pm), Early morning (before 7 am)",
    )
    assert where["code"] == "dog_address" and where["value"].startswith("sealed:v1:")
    staff = api.client.get(f"/api/v1/requests/{ref}", headers=api.staff_headers("cs")).json()
    assert [(a["code"], a["value"]) for a in staff["attributes"]] == [
        ("barking_times", ["night", "morning"]),
        ("dog_address", "5 Wattle Lane, behind the blue gate"),
    ]
    web_sign_in(api.client, "cs")
    page = api.client.get(f"/staff/requests/{ref}").text
    assert "When does the dog bark?" in page and "5 Wattle Lane, behind the blue gate" in page
    assert "At night (after 10 pm), Early morning (before 7 am)" in page
    analyst = api.client.get(f"/api/v1/requests/{ref}", headers=api.staff_headers("an")).json()
    assert analyst["attributes"][1]["value"] == "[redacted]"
    assert analyst["attributes"][0]["value"] == ["night", "morning"]
    pothole = api.lodged(**{"attribute[size]": "large", "attribute[depth_cm]": "12.0"})
    answers = api.rt.ports.get(request_id(COUNCIL, pothole), pothole).attributes
    assert [(a["code"], a["value"]) for a in answers] == [("size", ["large"]), ("depth_cm", "12")]
    for fmt in FORMATS:
        for path in (f"requests/{ref}.{fmt}", f"requests.{fmt}"):
            public = api.client.get(f"{BASE}/{path}").text
            for secret in ("Wattle Lane", "night", "At night", "large", "depth"):
                assert secret not in public


@pytest.mark.parametrize("fmt", FORMATS)
def test_answers_that_do_not_fit_are_every_one_a_400_error_and_write_nothing(
    api: Served, fmt: str
) -> None:
    before = stored(api.rt)
    got = api.client.post(
        f"{BASE}/requests.{fmt}",
        data={
            "api_key": api.keys["app"],
            "service_code": "barking-dog",
            "description": "Barking",
            "address_string": "3 Spring St",
            **JO,
            "attribute[dog_address]": "x" * 321,
            "attribute[colour]": "brown",
        },
    )
    assert got.status_code == 400
    if fmt == "json":
        problems = json_of(got)
        assert all(set(p) == {"code", "description"} and p["code"] == 400 for p in problems)
        said = [p["description"] for p in problems]
    else:
        said = [e["description"] for e in items(xml_of(got, "errors"), "error")]
    assert len(said) == 3
    assert any("attribute[colour] is not an attribute" in s for s in said)
    assert any("attribute[barking_times] is required" in s for s in said)
    assert any("attribute[dog_address] is longer than 320" in s for s in said)
    for bad, says in (
        ({"attribute[size]": "huge"}, "has no value 'huge'"),
        ({"attribute[size][]": ["small", "large"]}, "takes one value"),
        ({"attribute[depth_cm]": "deep"}, "must be a number"),
        ({"attribute[depth_cm]": "nan"}, "must be a number"),
    ):
        assert says in error_of(api.post(fmt, **bad), fmt, 400)
    assert stored(api.rt) == before


def test_a_request_posted_with_a_key_is_lodged_on_the_keys_channel(api: Served) -> None:
    before = stored(api.rt)
    got = api.post(
        media_url="https://photos.example.org/p/1.jpg",
        address_id="PID-4471",
        zipcode="2583",
        lat="-34.46",
        long="149.47",
    )
    assert got.status_code == 200
    [answer] = json_of(got)
    assert tuple(answer) == POST_FIELDS and answer["account_id"] is None
    ref = answer["service_request_id"]
    assert ref.startswith("UL-2026-") and answer["token"].startswith("crmr_")
    assert "expects to complete this request by" in answer["service_notice"]
    request = api.rt.ports.get(request_id(COUNCIL, ref), ref)
    assert request.channel is Channel.MOBILE_APP
    assert request.media_url == "https://photos.example.org/p/1.jpg"
    assert request.location is not None and (
        request.location.address_id,
        request.location.zipcode,
    ) == ("PID-4471", "2583")
    assert stored(api.rt) > before
    as_xml = items(xml_of(api.post("xml"), "service_requests"), "request")
    assert [tuple(r) for r in as_xml] == [POST_FIELDS]
    assert as_xml[0]["service_request_id"] != ref and as_xml[0]["account_id"] is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_invalid_or_revoked_key_is_403_and_writes_nothing(api: Served, fmt: str) -> None:
    before = stored(api.rt)
    assert "api_key" in error_of(api.post(fmt, key="app", api_key=None), fmt, 403)
    api.keys["forged"] = "crmk_" + "x" * 43
    assert "api_key" in error_of(api.post(fmt, key="forged"), fmt, 403)
    api.rt.credentials.revoke_api_key(COUNCIL, "app", api.clock())
    assert "api_key" in error_of(api.post(fmt), fmt, 403)
    assert stored(api.rt) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lodgement_the_councils_policy_refuses_is_400_with_the_rules_message(
    api: Served, fmt: str
) -> None:
    before = stored(api.rt)
    anonymous = api.post(fmt, first_name=None, last_name=None, email=None, phone=None)
    assert "does not action anonymous requests" in error_of(anonymous, fmt, 400)
    refused = api.post(fmt, key="social")
    assert "does not accept requests made through social-media" in error_of(refused, fmt, 400)
    assert stored(api.rt) == before


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"service_code": ""}, 400, "service_code was not provided"),
        ({"service_code": "unicorns"}, 404, "service_code 'unicorns' not found"),
        ({"address_string": None}, 400, "say where the problem is"),
        ({"address_string": None, "lat": "-34.4"}, 400, "lat and long go together"),
        ({"lat": "north", "long": "east"}, 400, "decimal degrees"),
        ({"lat": "95", "long": "149"}, 400, "latitude 95.0 is outside"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url must be an http or https URL"),
        ({"description": "x" * 2001}, 400, "keeps a précis of at most 2000"),
        ({"description": ""}, 400, "the description must not be empty"),
        (
            {"address_string": "12 Spring\x00 St"},
            400,
            "address_string contains a control character",
        ),
    ],
)
def test_bad_input_is_answered_in_the_error_form_and_writes_nothing(
    api: Served, fields: dict[str, str | None], status: int, says: str
) -> None:
    before = stored(api.rt)
    for fmt in FORMATS:
        assert says in error_of(api.post(fmt, **fields), fmt, status)
    assert stored(api.rt) == before


def test_a_request_reads_back_with_the_specs_fields_and_formats(api: Served) -> None:
    ref = api.lodged(
        lat="-34.46",
        long="149.47",
        zipcode="2583",
        address_id="PID-9",
        media_url="https://photos.example.org/p/2.jpg",
    )
    [shown] = json_of(api.client.get(f"{BASE}/requests/{ref}.json"))
    assert tuple(shown) == REQUEST_FIELDS
    assert shown["service_request_id"] == ref and shown["status"] == "open"
    assert shown["service_code"] == "pothole" and shown["service_name"] == "Pothole in a road"
    assert (shown["lat"], shown["long"], shown["zipcode"], shown["address_id"]) == (
        -34.46,
        149.47,
        "2583",
        "PID-9",
    )
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3C.match(shown[field]), shown[field]
    assert shown["requested_datetime"] == "2026-03-02T20:00:00+11:00"  # Crookwell's own zone
    assert shown["agency_responsible"] == api.rt.ports.council(COUNCIL).teams["roads"].name
    [as_xml] = items(
        xml_of(api.client.get(f"{BASE}/requests/{ref}.xml"), "service_requests"), "request"
    )
    assert tuple(as_xml) == REQUEST_FIELDS
    assert as_xml == {k: None if v is None else str(v) for k, v in shown.items()}
    listed = json_of(api.client.get(f"{BASE}/requests.json"))
    assert listed == [shown]
    for fmt in FORMATS:
        got = api.client.get(f"{BASE}/requests/UL-2026-999999.{fmt}")
        assert "UL-2026-999999" in error_of(got, fmt, 404)


def test_closing_a_request_shows_its_outcome_and_when(api: Served) -> None:
    ref = api.lodged()
    api.clock.advance(hours=3)
    staff = api.staff_headers()
    closed = api.client.post(
        f"/api/v1/requests/{ref}/close",
        headers=staff,
        json={"outcome": "completed", "text": "Patched; rang Joanna"},
    )
    assert closed.status_code == 200, closed.text
    [shown] = json_of(api.client.get(f"{BASE}/requests/{ref}.json"))
    assert shown["status"] == "closed"
    assert shown["status_notes"] == api.rt.ports.council(COUNCIL).outcomes["completed"]
    assert shown["updated_datetime"] == "2026-03-02T23:00:00+11:00"
    assert "Joanna" not in str(shown)


def test_public_output_never_shows_contact_details_and_a_description_only_once_approved(
    api: Served,
) -> None:
    ref = api.lodged()
    token = api.post().json()[0]["token"]
    urls = [f"{BASE}/requests/{ref}", f"{BASE}/requests", f"{BASE}/tokens/{token}"]

    def public_text() -> str:
        return " ".join(api.client.get(f"{u}.{fmt}").text for u in urls for fmt in FORMATS)

    text = public_text()
    for secret in [*JO.values(), SECRET_WORDS, "Deep pothole"]:
        assert secret not in text
    assert json_of(api.client.get(f"{BASE}/requests/{ref}.json"))[0]["description"] is None
    analyst = api.client.post(
        f"/api/v1/requests/{ref}/public-description",
        headers=api.staff_headers("an"),
        json={"text": "x"},
    )
    assert analyst.status_code == 403
    approved = api.client.post(
        f"/api/v1/requests/{ref}/public-description",
        headers=api.staff_headers(),
        json={"text": "Pothole in Spring Street, Crookwell"},
    )
    assert approved.status_code == 200, approved.text
    [shown] = json_of(api.client.get(f"{BASE}/requests/{ref}.json"))
    assert shown["description"] == "Pothole in Spring Street, Crookwell"
    [as_xml] = items(
        xml_of(api.client.get(f"{BASE}/requests/{ref}.xml"), "service_requests"), "request"
    )
    assert as_xml["description"] == "Pothole in Spring Street, Crookwell"
    history = api.client.get(f"/api/v1/requests/{ref}/history", headers=api.staff_headers())
    assert history.json()[-1]["type"] == "PublicDescriptionApproved"
    assert history.json()[-1]["actor"] == {"id": "cs", "role": "customer-service"}
    text = public_text()
    for secret in [*JO.values(), SECRET_WORDS]:
        assert secret not in text


def test_the_list_filters_by_id_code_status_and_dates(api: Served) -> None:
    first = api.lodged()
    api.clock.advance(days=1)
    second = api.lodged(service_code="road-damage")
    api.clock.advance(days=1)
    third = api.lodged()
    api.client.post(
        f"/api/v1/requests/{third}/close",
        headers=api.staff_headers(),
        json={"outcome": "completed", "text": "Patched"},
    )

    def refs(**params: str) -> list[str]:
        got = api.client.get(f"{BASE}/requests.json", params=params)
        assert got.status_code == 200, got.text
        return [r["service_request_id"] for r in got.json()]

    assert refs() == [third, second, first]  # newest first
    assert refs(service_code="pothole") == [third, first]
    assert refs(service_code="pothole,road-damage", status="open") == [second, first]
    assert refs(status="closed") == [third]
    assert refs(start_date="2026-03-03T00:00:00Z") == [third, second]
    assert refs(end_date="2026-03-04T08:00:00+11:00") == [second, first]
    assert refs(start_date="2026-03-02T09:00:00Z", end_date="2026-03-02T09:00:00Z") == [first]
    # a list of ids overrides every other filter
    assert refs(
        service_request_id=f"{first}, {third.lower()}",
        status="open",
        start_date="2030-01-01T00:00:00Z",
    ) == [third, first]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:01Z"},
            "may not span more than 90 days",
        ),
        (
            {"start_date": "2026-03-02T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"},
            "end_date is before start_date",
        ),
        ({"start_date": "yesterday"}, "start_date must be a W3C datetime"),
        ({"end_date": "2026-03-01T00:00:00"}, "end_date must be a W3C datetime with its offset"),
        ({"end_date": "0001-01-01T00:00:00Z"}, "end_date must lie between 1900 and 9000"),
        ({"start_date": "0001-01-01T00:00:00+01:00"}, "start_date must lie between 1900 and 9000"),
        ({"start_date": "9999-12-31T23:59:59-05:00"}, "start_date must lie between 1900 and 9000"),
        ({"status": "pending"}, "status 'pending' is not open or closed"),
        ({"service_request_id": "UL-2026-000001\x00"}, "contains a control character"),
    ],
)
def test_a_bad_filter_is_400(api: Served, params: dict[str, str], says: str) -> None:
    for fmt in FORMATS:
        assert says in error_of(api.client.get(f"{BASE}/requests.{fmt}", params=params), fmt, 400)


def test_the_list_covers_the_last_90_days_by_default(api: Served) -> None:
    old = api.lodged()
    api.clock.advance(days=91)
    new = api.lodged()
    listed = [r["service_request_id"] for r in api.client.get(f"{BASE}/requests.json").json()]
    assert listed == [new]
    older = api.client.get(f"{BASE}/requests.json", params={"end_date": "2026-03-03T00:00:00Z"})
    assert [r["service_request_id"] for r in older.json()] == [old]
    assert api.client.get(f"{BASE}/requests/{old}.json").status_code == 200


def test_a_token_gives_its_request_and_nothing_else(api: Served) -> None:
    [answer] = api.post().json()
    token, ref = answer["token"], answer["service_request_id"]
    assert json_of(api.client.get(f"{BASE}/tokens/{token}.json")) == [
        {"service_request_id": ref, "token": token}
    ]
    [as_xml] = items(
        xml_of(api.client.get(f"{BASE}/tokens/{token}.xml"), "service_requests"), "request"
    )
    assert as_xml == {"service_request_id": ref, "token": token}
    for fmt in FORMATS:
        assert "token not found" in error_of(
            api.client.get(f"{BASE}/tokens/crmr_not-one-of-ours.{fmt}"), fmt, 404
        )


def test_an_unknown_format_is_404_and_another_method_405(api: Served) -> None:
    got = api.client.get(f"{BASE}/services.html")
    assert "use .json or .xml" in error_of(got, "json", 404)
    other = api.client.delete(f"{BASE}/requests.xml")
    assert "GET" in error_of(other, "xml", 405) and other.headers["Allow"] == "GET, POST"


def test_with_several_councils_jurisdiction_id_chooses(tmp_path: Path, prepared: Prepared) -> None:
    with serving(tmp_path, prepared, (COUNCIL, "kalamunda")) as api:
        for fmt in FORMATS:
            assert "jurisdiction_id was not provided" in error_of(
                api.client.get(f"{BASE}/services.{fmt}"), fmt, 400
            )
            assert "jurisdiction_id 'nowhere' not found" in error_of(
                api.client.get(f"{BASE}/requests.{fmt}", params={"jurisdiction_id": "nowhere"}),
                fmt,
                404,
            )
        kalamunda = api.client.get(f"{BASE}/services.json", params={"jurisdiction_id": "kalamunda"})
        assert "drainage" in [s["service_code"] for s in kalamunda.json()]
        ref = api.lodged()  # the key's own council, without a jurisdiction_id
        assert ref.startswith("UL-")
        mine = {"jurisdiction_id": COUNCIL}
        assert api.client.get(f"{BASE}/requests/{ref}.json", params=mine).status_code == 200
        elsewhere = api.client.get(
            f"{BASE}/requests/{ref}.json", params={"jurisdiction_id": "kalamunda"}
        )
        assert elsewhere.status_code == 404
        assert "not valid for this jurisdiction_id" in error_of(
            api.post(jurisdiction_id="kalamunda"), "json", 403
        )


def test_the_list_answers_at_most_1000_requests(api: Served) -> None:
    _in_public_read_model(api, 1001)
    listed = api.client.get(f"{BASE}/requests.json").json()
    assert len(listed) == 1000
    assert listed[0]["service_request_id"] == "UL-2026-001001"
    assert listed[-1]["service_request_id"] == "UL-2026-000002"  # the newest 1,000
    wanted = ",".join(f"UL-2026-{n:06d}" for n in range(1, 1002))
    too_many = api.client.get(f"{BASE}/requests.json", params={"service_request_id": wanted})
    assert "at most 1000 service_request_id" in error_of(too_many, "json", 400)


def _in_public_read_model(api: Served, n: int) -> None:
    """Given `n` lodgements, one a second, fed to the public read model as the follower feeds
    it (lodging each through the handler takes a minute and tests nothing more here)."""
    views.read_models_ready(api.rt)
    start = api.clock()
    envelopes = [
        Envelope(
            schema_version=SCHEMA_VERSION,
            council=COUNCIL,
            position=i + 1,
            event_type="Lodged",
            request_id=str(request_id(COUNCIL, f"UL-2026-{i + 1:06d}")),
            reference=f"UL-2026-{i + 1:06d}",
            version=1,
            occurred_at=(start + timedelta(seconds=i)).isoformat(),
            recorded_at=(start + timedelta(seconds=i)).isoformat(),
            actor={"id": "open311:app", "role": "client"},
            data={
                "category": "pothole",
                "team": "roads",
                "location": {"address": f"{i} Spring St"},
                "standard": {"category_name": "Pothole in a road"},
                "complete_by": None,
            },
        )
        for i in range(n)
    ]
    with api.rt.read_engine.begin() as conn:
        assert PublicRequests().apply(conn, envelopes) == n
    api.clock.advance(seconds=n)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_retried_post_with_an_idempotency_key_answers_the_first_result_and_lodges_once(
    api: Served, fmt: str
) -> None:
    retry = {"Idempotency-Key": "app-retry-1"}
    first = api.post(fmt, headers=retry)
    assert first.status_code == 200, first.text
    after_first = stored(api.rt)
    again = api.post(fmt, headers=retry)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(api.rt) == after_first
    other = api.post(fmt, headers=retry, description="Another pothole")
    assert "different request body" in error_of(other, fmt, 400)
    assert stored(api.rt) == after_first
    # the key store holds neither the resident's details nor the tracking token in clear
    token = (
        json_of(first)[0]["token"]
        if fmt == "json"
        else items(xml_of(first, "service_requests"), "request")[0]["token"]
    )
    rows = repr(
        api.rt.credentials.engine.connect()
        .exec_driver_sql("SELECT * FROM crm_idempotency")
        .fetchall()
    )
    assert all(secret not in rows for secret in (*JO.values(), "Deep pothole", str(token)))
    # the replayed token is the first one, and tracks the request
    assert api.rt.credentials.request_of_token(COUNCIL, str(token))


def test_a_retry_while_the_first_post_still_runs_is_409_and_a_refusal_is_not_kept(
    api: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.http import open311

    before = stored(api.rt)
    entered = []

    def retried_meanwhile(*args: object, **kwargs: object) -> object:
        entered.append(api.post(headers={"Idempotency-Key": "slow"}))
        raise ValueError("the store is unavailable")

    monkeypatch.setattr(open311, "lodge", retried_meanwhile)
    assert "unavailable" in error_of(api.post(headers={"Idempotency-Key": "slow"}), "json", 400)
    assert "still being handled" in error_of(entered[0], "json", 409)
    monkeypatch.undo()
    # the failed attempt let go of its key: the same key now lodges
    assert api.post(headers={"Idempotency-Key": "slow"}).status_code == 200
    assert stored(api.rt) > before
    bad = api.post(headers={"Idempotency-Key": "x" * 201})
    assert "Idempotency-Key" in error_of(bad, "json", 400)
