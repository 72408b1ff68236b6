"""The request page's forms beyond the request commands (TestClient): corrections, complaints,
the customer's rating and documents, and the contact log page — each through the command
handler the API and the CLI run, shown to exactly the roles allowed, CSRF-protected, and a
refusal shown on the page with the rule's message, nothing written."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from domain.values import RequestKind
from infra.config import load_council
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.conftest import make_settings
from tests.http_support import COUNCIL, served, sign_in, stored

LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 12 Spring St",
    "name": "Ann Lee",
    "phone": "0400 000 000",
}
OPEN_FORMS = ("publish", "recategorise", "link", "refer", "attach")
CLOSED_FORMS = ("publish", "reopen", "satisfaction", "attach", "dispose")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    staff = {
        "cs": ["customer-service"],
        "off": ["officer"],
        "tl": ["team-leader"],
        "co": ["complaints-officer"],
        "an": ["analyst"],
        "rec": ["records-officer"],
    }
    data = tmp_path_factory.mktemp("web-forms") / "data"
    with served(
        make_settings(data), staff, {u: ["roads"] for u in staff}, public_burst=10_000
    ) as both:
        yield both


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def as_user(client: TestClient, user: str) -> TestClient:
    """A browser of its own, signed in as `user` (so module-scoped tests do not share one)."""
    browser = TestClient(client.app)
    form = browser.get("/staff/sign-in")
    got = browser.post(
        "/staff/sign-in",
        follow_redirects=False,
        data={
            "username": user,
            "password": "correct horse battery staple",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert got.status_code == 303, got.text
    return browser


def lodged(client: TestClient, **extra: object) -> str:
    got = client.post("/api/v1/requests", json={**LODGE, **extra}, headers=sign_in(client, "cs"))
    assert got.status_code == 201, got.text
    return str(got.json()["reference"])


def closed(client: TestClient, **extra: object) -> str:
    ref = lodged(client, **extra)
    got = client.post(
        f"/api/v1/requests/{ref}/close",
        headers=sign_in(client, "tl"),
        json={"outcome": "completed", "text": "Done"},
    )
    assert got.status_code == 200, got.text
    return ref


def version_of(page: str) -> str:
    found = re.search(r'<dd id="version">(\d+)</dd>', page)
    assert found
    return found.group(1)


def post_form(browser: TestClient, ref: str, action: str, **fields: str):  # type: ignore[no-untyped-def]
    page = browser.get(f"/staff/requests/{ref}").text
    return browser.post(
        f"/staff/requests/{ref}/{action}",
        follow_redirects=False,
        data={"csrf_token": csrf_of(page), "version": version_of(page), **fields},
    )


def history_types(client: TestClient, ref: str) -> list[str]:
    got = client.get(f"/api/v1/requests/{ref}/history", headers=sign_in(client, "tl"))
    return [e["type"] for e in got.json()]


def test_each_role_sees_exactly_the_correction_rating_and_document_forms_it_may_use(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    c = load_council(PROJECT_ROOT / "config", COUNCIL)
    open_ref, closed_ref = lodged(client), closed(client)
    for user, role in (
        ("cs", "customer-service"),
        ("off", "officer"),
        ("tl", "team-leader"),
        ("co", "complaints-officer"),
        ("an", "analyst"),
        ("rec", "records-officer"),
    ):
        browser = as_user(client, user)
        page = browser.get(f"/staff/requests/{open_ref}").text
        shown = {a for a in OPEN_FORMS if f'id="form-{a}"' in page}
        assert shown == {a for a in OPEN_FORMS if c.permissions.allows(role, a)}, role
        page = browser.get(f"/staff/requests/{closed_ref}").text
        shown = {a for a in CLOSED_FORMS if f'id="form-{a}"' in page}
        assert shown == {a for a in CLOSED_FORMS if c.permissions.allows(role, a)}, role
        assert 'id="form-close"' not in page and 'id="form-complaint-' not in page
        listed = 'id="documents' in page
        assert listed == c.permissions.allows(role, "attachments"), role


def test_a_team_leader_reopens_recategorises_and_refers_from_the_page(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    tl = as_user(client, "tl")
    ref = closed(client)
    got = post_form(tl, ref, "reopen", reason="Pothole opened up again")
    assert got.status_code == 303 and got.headers["location"].endswith("?done=reopen")
    page = tl.get(got.headers["location"]).text
    assert "Reopened." in page and '<dd id="status">closed' not in page
    got = post_form(tl, ref, "recategorise", category="road-damage", reason="The shoulder")
    assert got.status_code == 303, got.text
    got = post_form(tl, ref, "refer", agency="transport-nsw", reason="A state road")
    assert got.status_code == 303, got.text
    assert history_types(client, ref)[-3:] == ["Reopened", "Recategorised", "Referred"]


def test_a_refused_correction_shows_the_rules_message_and_writes_nothing(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    tl = as_user(client, "tl")
    ref = lodged(client)
    before = stored(rt)
    got = post_form(tl, ref, "reopen", reason="It was never closed")
    assert got.status_code == 422 and 'role="alert"' in got.text and "Not saved:" in got.text
    got = post_form(tl, ref, "link", duplicate_of=ref)
    assert got.status_code == 422 and "Not saved:" in got.text
    assert stored(rt) == before
    # an officer has no correction forms, and posting one anyway is refused before anything
    page = as_user(client, "off")
    got = post_form(page, ref, "recategorise", category="road-damage", reason="x")
    assert got.status_code == 403 and "may not run `recategorise`" in got.text
    assert stored(rt) == before


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    tl = as_user(client, "tl")
    ref = closed(client)
    before = stored(rt)
    got = tl.post(
        f"/staff/requests/{ref}/reopen",
        follow_redirects=False,
        data={"version": "3", "reason": "Again", "csrf_token": "forged"},
    )
    assert got.status_code == 403 and "CSRF" in got.text
    got = tl.post(
        "/staff/contacts", follow_redirects=False, data={"type": "rates", "channel": "phone"}
    )
    assert got.status_code == 403 and "CSRF" in got.text
    assert stored(rt) == before


def test_a_complaints_officer_records_the_subject_review_and_ombudsman_from_the_page(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    co = as_user(client, "co")
    ref = lodged(client, kind="complaint")
    page = co.get(f"/staff/requests/{ref}").text
    assert 'id="form-complaint-subject"' in page
    assert 'id="form-complaint-review"' not in page  # a review follows the outcome
    got = post_form(co, ref, "complaint/subject", officer="off", reason="About his manner")
    assert got.status_code == 303 and got.headers["location"].endswith("complaint-subject")
    # the complaint is never assigned to the officer it is about: the rule, on the page
    tl = as_user(client, "tl")
    got = post_form(tl, ref, "assign", team="roads", officer="off")
    assert got.status_code == 422 and "Not saved:" in got.text
    got = client.post(
        f"/api/v1/requests/{ref}/close",
        headers=sign_in(client, "co"),
        json={"outcome": "completed", "text": "Apology given"},
    )
    assert got.status_code == 200, got.text
    page = co.get(f"/staff/requests/{ref}").text
    assert 'id="form-complaint-review"' in page and 'id="form-complaint-subject"' not in page
    assert post_form(co, ref, "complaint/review", reason="Asked for a review").status_code == 303
    decision = next(
        iter(load_council(PROJECT_ROOT / "config", COUNCIL).outcomes_for(RequestKind.COMPLAINT))
    )
    assert (
        post_form(
            co, ref, "complaint/review-decision", decision=decision, text="Partly right", on=""
        ).status_code
        == 303
    )
    assert (
        post_form(
            co, ref, "complaint/ombudsman", reason="Went to the Ombudsman", their_reference="OMB-1"
        ).status_code
        == 303
    )
    assert history_types(client, ref)[-3:] == [
        "ComplaintReviewRequested",
        "ComplaintReviewDecided",
        "ComplaintReferredToOmbudsman",
    ]
    # a service request has no complaint forms
    other = co.get(f"/staff/requests/{lodged(client)}").text
    assert 'id="form-complaint-' not in other


def test_the_customers_rating_is_recorded_and_an_invalid_score_refused_on_the_page(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    cs = as_user(client, "cs")
    ref = closed(client)
    before = stored(rt)
    got = post_form(cs, ref, "satisfaction", score="9")
    assert got.status_code == 422 and "Not saved:" in got.text
    assert stored(rt) == before
    got = post_form(cs, ref, "satisfaction", score="4", comment="Quick work")
    assert got.status_code == 303 and history_types(client, ref)[-1] == "SatisfactionRecorded"


def test_a_document_is_attached_listed_and_downloaded_intact_from_the_page(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    off = as_user(client, "off")
    ref = lodged(client)
    page = off.get(f"/staff/requests/{ref}").text
    assert 'id="documents-none"' in page and 'enctype="multipart/form-data"' in page
    content = b"Site visit: 40cm wide, 10cm deep\n"
    got = off.post(
        f"/staff/requests/{ref}/attachments",
        follow_redirects=False,
        data={"csrf_token": csrf_of(page), "note": "Inspection"},
        files={"document": ("visit.txt", content, "text/plain")},
    )
    assert got.status_code == 303, got.text
    page = off.get(got.headers["location"]).text
    assert "Document attached." in page and "visit.txt" in page
    link = re.search(r'href="(/staff/attachments/[0-9a-f]{64})"', page)
    assert link
    download = off.get(link.group(1))
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-disposition"] == "attachment"
    before = stored(rt)
    refused = off.post(
        f"/staff/requests/{ref}/attachments",
        follow_redirects=False,
        data={"csrf_token": csrf_of(page)},
        files={"document": ("run.sh", b"#!/bin/sh\n", "application/x-sh")},
    )
    assert refused.status_code == 422 and "does not take application/x-sh" in refused.text
    assert stored(rt) == before


def test_the_contact_log_page_records_an_enquiry_and_counts_it(
    web: tuple[TestClient, Runtime],
) -> None:
    client, _ = web
    cs = as_user(client, "cs")
    page = cs.get("/staff/contacts")
    assert page.status_code == 200 and 'id="form-contact"' in page.text
    assert '<label for="contact-type">' in page.text and 'href="/staff/contacts"' in page.text
    got = cs.post(
        "/staff/contacts",
        follow_redirects=False,
        data={
            "csrf_token": csrf_of(page.text),
            "type": "rates",
            "channel": "counter",
            "note": "Asked about the rates notice",
        },
    )
    assert got.status_code == 303, got.text
    after = cs.get(got.headers["location"]).text
    assert "Contact recorded." in after
    stats = re.search(r'<table id="contact-stats">.*?</table>', after, re.DOTALL)
    assert stats and "counter" not in stats.group(0) and ">1<" in stats.group(0)
    refused = cs.post(
        "/staff/contacts",
        data={"csrf_token": csrf_of(page.text), "type": "no-such-type", "channel": "counter"},
    )
    assert refused.status_code == 422 and "Not saved:" in refused.text
    assert as_user(client, "an").get("/staff/contacts", follow_redirects=False).status_code == 403


def test_an_officer_approves_the_public_description_and_disposal_waits_for_retention(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    off = as_user(client, "off")
    ref = closed(client)
    got = post_form(off, ref, "publish", text="Pothole reported in Spring St")
    assert got.status_code == 303 and got.headers["location"].endswith("?done=publish")
    assert history_types(client, ref)[-1] == "PublicDescriptionApproved"
    rec = as_user(client, "rec")
    page = rec.get(f"/staff/requests/{ref}").text
    assert 'id="form-dispose"' in page and 'id="form-publish"' not in page
    before = stored(rt)
    kept = rec.post(
        f"/staff/requests/{ref}/dispose",
        follow_redirects=False,
        data={"csrf_token": csrf_of(page), "reason": "Retention ended"},
    )
    assert kept.status_code == 422 and 'role="alert"' in kept.text and "Not saved:" in kept.text
    assert stored(rt) == before
