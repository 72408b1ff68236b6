"""The residents' portal end to end: a labelled form protected against cross-site requests, a
report lodged through Open311's code path on the `web-portal` channel, and tracking by reference
and tracking code that shows only what the public may see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from domain.aggregates.service_request import request_id
from domain.values import Channel
from tests.http_support import stored
from tests.open311_support import (
    COUNCIL,
    JO,
    SECRET_WORDS,
    Prepared,
    Served,
    prepare,
    serving,
)

REPORT = {
    "service_code": "pothole",
    "description": f"Deep pothole; {SECRET_WORDS}",
    "address_string": "12 Spring St, Crookwell",
    "zipcode": "2583",
    **JO,
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(tmp_path_factory.mktemp("portal"))


@pytest.fixture
def portal(tmp_path: Path, prepared: Prepared) -> Iterator[Served]:
    with serving(tmp_path, prepared) as served:
        yield served


class Form(HTMLParser):
    """A page's form controls, their labels and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, str | None]] = {}
        self.labelled: set[str] = set()
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") == "hidden":
            self.hidden[str(a["name"])] = str(a.get("value") or "")
        elif tag in ("input", "select", "textarea"):
            self.controls[str(a.get("name"))] = a


def form_of(html: str) -> Form:
    parsed = Form()
    parsed.feed(html)
    return parsed


def submit(portal: Served, **changes: str) -> tuple[int, str]:
    page = portal.client.get("/portal")
    token = form_of(page.text).hidden["csrf_token"]
    got = portal.client.post("/portal", data={**REPORT, "csrf_token": token, **changes})
    return got.status_code, got.text


def test_the_form_labels_every_control_and_sets_a_strict_csrf_cookie(portal: Served) -> None:
    page = portal.client.get("/portal")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    form = form_of(page.text)
    assert set(form.controls) == {
        "service_code",
        "description",
        "address_string",
        "zipcode",
        "media_url",
        "first_name",
        "last_name",
        "email",
        "phone",
        # each service's own questions (its Open311 attributes)
        "answer.pothole.size",
        "answer.pothole.depth_cm",
        "answer.barking-dog.barking_times",
        "answer.barking-dog.dog_address",
    }
    assert all(c["id"] in form.labelled for c in form.controls.values())
    assert form.controls["email"]["autocomplete"] == "email"
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/portal" in cookie
    assert 'lang="en-AU"' in page.text and 'name="viewport"' in page.text
    css = portal.client.get("/portal/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "style-src 'self'" in page.headers["content-security-policy"]


def test_a_post_without_a_valid_csrf_token_is_refused_and_writes_nothing(portal: Served) -> None:
    before = stored(portal.rt)
    portal.client.get("/portal")  # the cookie, but no token
    missing = portal.client.post("/portal", data=REPORT)
    assert missing.status_code == 403 and "This form had expired" in missing.text
    forged = portal.client.post("/portal", data={**REPORT, "csrf_token": "abc.def"})
    assert forged.status_code == 403
    token = form_of(portal.client.get("/portal").text).hidden["csrf_token"]
    portal.client.cookies.clear()  # another site's page cannot send the cookie
    assert portal.client.post("/portal", data={**REPORT, "csrf_token": token}).status_code == 403
    assert stored(portal.rt) == before


def test_a_report_is_lodged_on_the_web_portal_channel_and_tracked_by_its_code(
    portal: Served,
) -> None:
    status, page = submit(portal)
    assert status == 201, page
    reference = re.search(r'id="reference">([^<]+)<', page)
    token = re.search(r'id="token">([^<]+)<', page)
    assert reference and token
    ref = reference.group(1)
    request = portal.rt.ports.get(request_id(COUNCIL, ref), ref)
    assert request.channel is Channel.WEB_PORTAL and request.location is not None
    assert request.location.zipcode == "2583"
    csrf = form_of(portal.client.get("/portal/track").text).hidden["csrf_token"]
    shown = portal.client.post(
        "/portal/track",
        data={"csrf_token": csrf, "reference": ref.lower(), "token": token.group(1)},
    )
    assert shown.status_code == 200
    assert f"Request {ref}" in shown.text and "Pothole in a road" in shown.text
    for secret in [*JO.values(), SECRET_WORDS, "Deep pothole"]:
        assert secret not in shown.text
    wrong = portal.client.post(
        "/portal/track", data={"csrf_token": csrf, "reference": ref, "token": "crmr_guessed"}
    )
    assert wrong.status_code == 404 and "No request has this reference" in wrong.text
    assert f"Request {ref}" not in wrong.text


def test_a_report_the_council_refuses_says_why_and_keeps_the_answers(portal: Served) -> None:
    before = stored(portal.rt)
    status, page = submit(portal, first_name="", last_name="", email="", phone="")
    assert status == 400 and "does not action anonymous requests" in page
    assert 'role="alert"' in page and "12 Spring St, Crookwell" in page
    status, page = submit(portal, address_string="", description=" ")
    assert status == 400 and "Choose where it is." in page and "Describe the problem." in page
    assert stored(portal.rt) == before


def test_a_form_sent_twice_shows_the_first_receipt_and_lodges_once(portal: Served) -> None:
    hidden = form_of(portal.client.get("/portal").text).hidden
    assert len(hidden["idempotency_key"]) >= 16
    sent = {**REPORT, **hidden}
    first = portal.client.post("/portal", data=sent)
    assert first.status_code == 201, first.text
    after_first = stored(portal.rt)
    again = portal.client.post("/portal", data=sent)
    assert again.status_code == 201 and stored(portal.rt) == after_first
    receipt = re.compile(r'id="(?:reference|token)">([^<]+)<')
    assert receipt.findall(again.text) == receipt.findall(first.text) != []
    # another form (a fresh page) is another report
    fresh = form_of(portal.client.get("/portal").text).hidden
    assert fresh["idempotency_key"] != hidden["idempotency_key"]
    assert portal.client.post("/portal", data={**REPORT, **fresh}).status_code == 201
    assert stored(portal.rt) > after_first


def test_a_refused_report_keeps_its_key_and_the_corrected_one_lodges(portal: Served) -> None:
    hidden = form_of(portal.client.get("/portal").text).hidden
    refused = portal.client.post(
        "/portal",
        data={**REPORT, **hidden, "first_name": "", "last_name": "", "email": "", "phone": ""},
    )
    assert refused.status_code == 400
    assert form_of(refused.text).hidden["idempotency_key"] == hidden["idempotency_key"]
    assert portal.client.post("/portal", data={**REPORT, **hidden}).status_code == 201


def test_a_services_questions_are_asked_and_their_answers_recorded(portal: Served) -> None:
    page = portal.client.get("/portal").text
    assert "Only if you are reporting: Dog barking" in page
    assert page.count('type="checkbox"') == 4 and page.count('name="answer.barking-dog.') == 5
    hidden = form_of(page).hidden
    dog = {
        **REPORT,
        **hidden,
        "service_code": "barking-dog",
        "description": "Barks at night",
        "answer.pothole.size": "large",
    }  # another service's answer is left out
    refused = portal.client.post("/portal", data=dog)
    assert refused.status_code == 400 and "attribute[barking_times] is required" in refused.text
    sent = {
        **dog,
        "answer.barking-dog.barking_times": ["night", "evening"],
        "answer.barking-dog.dog_address": "5 Wattle Lane",
    }
    kept = portal.client.post("/portal", data={**sent, "answer.barking-dog.dog_address": "x" * 321})
    assert kept.status_code == 400 and "longer than 320" in kept.text
    assert kept.text.count(" checked") == 2  # the answers given stay ticked
    done = portal.client.post("/portal", data=sent)
    assert done.status_code == 201, done.text
    found = re.search(r'id="reference">([^<]+)<', done.text)
    assert found
    ref = found.group(1)
    answers = portal.rt.ports.get(request_id(COUNCIL, ref), ref).attributes
    assert [(a["code"], a["label"]) for a in answers] == [
        ("barking_times", "At night (after 10 pm), In the evening"),
        ("dog_address", None),
    ]
