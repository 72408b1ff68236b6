"""Every date, instant or number of seconds a client gives, on every interface, near the ends
of the calendar (year 1, year 9999), just outside the usable span (1900 to 9000), without an
offset, and where a number is parsed, NaN and infinity: a clear refusal naming the field or
flag — a 422 on the staff API and the staff web, Open311's 400 error list, exit 2 on the
command line — that writes nothing; never a server error or a traceback. On the embedded store
and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from infra import cli
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, add_staff, make_settings
from tests.e2e.test_staff_web_forms import as_user, post_form
from tests.http_support import COUNCIL, served, sign_in, stored
from tests.open311_support import BASE, error_of, prepare, serving

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SPAN = "between 1900 and 9000"
DAYS = ["0001-01-01", "1899-12-31", "9000-01-02", "9999-12-31"]
INSTANTS = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "1900-01-01T00:00:00+14:00",
]
LODGE = {
    "category": "pothole",
    "channel": "phone",
    "description": "Deep pothole outside 4 Quarry Rd",
    "name": "Ula Fenwick",
    "phone": "0400 000 222",
}
STAFF = {
    "cs": ["customer-service"],
    "an": ["analyst"],
    "rec": ["records-officer"],
    "co": ["complaints-officer"],
    "tl": ["team-leader"],
}


def _url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    settings = make_settings(tmp_path / "data", _url(request))
    with served(settings, STAFF, {u: ["roads"] for u in STAFF}, public_burst=10_000) as both:
        yield both


def _lodged(client: TestClient, **extra: object) -> tuple[str, str]:
    got = client.post("/api/v1/requests", json={**LODGE, **extra}, headers=sign_in(client, "cs"))
    assert got.status_code == 201, got.text
    return str(got.json()["reference"]), str(got.json()["customer"])


def _closed_complaint(client: TestClient) -> str:
    ref, _ = _lodged(client, kind="complaint")
    got = client.post(
        f"/api/v1/requests/{ref}/close",
        headers=sign_in(client, "cs"),
        json={"outcome": "completed", "text": "Looked into"},
    )
    assert got.status_code == 200, got.text
    return ref


# (method, path, user, where the value goes, field, a day or an instant, the other fields)
STAFF_API: list[tuple[str, str, str, str, str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/requests", "cs", "json", "agreed_completion", "day", LODGE),
    ("POST", "/api/v1/requests", "cs", "json", "received_at", "instant", LODGE),
    (
        "POST",
        "/api/v1/requests/{ref}/delay",
        "cs",
        "json",
        "until",
        "day",
        {"reason": "Asphalt supply delayed"},
    ),
    ("GET", "/api/v1/requests/{ref}", "cs", "query", "as_at", "instant", {}),
    ("GET", "/api/v1/requests/{ref}/history", "cs", "query", "as_at", "instant", {}),
    ("GET", "/api/v1/requests/{ref}/timeline", "cs", "query", "as_at", "instant", {}),
    ("GET", "/api/v1/queue", "cs", "query", "as_at", "instant", {"team": "roads"}),
    ("GET", "/api/v1/sla/breached", "cs", "query", "as_at", "instant", {}),
    ("GET", "/api/v1/sla/at-risk", "cs", "query", "now", "instant", {}),
    ("POST", "/api/v1/sla/sweep", "cs", "json", "now", "instant", {}),
    ("GET", "/api/v1/audit", "an", "query", "as_at", "instant", {"ref": "{ref}"}),
    ("GET", "/api/v1/audit", "an", "query", "from", "day", {"to": "2026-12-31"}),
    ("GET", "/api/v1/audit", "an", "query", "to", "day", {"from": "2026-01-01"}),
    ("GET", "/api/v1/kpi", "an", "query", "from", "day", {"by": "day", "to": "2026-12-31"}),
    ("GET", "/api/v1/kpi", "an", "query", "to", "day", {"by": "day", "from": "2026-01-01"}),
    ("GET", "/api/v1/stats", "cs", "query", "from", "day", {"by": "day,type"}),
    ("GET", "/api/v1/stats", "cs", "query", "to", "day", {"by": "day,type"}),
    ("GET", "/api/v1/complaints/report", "an", "query", "from", "day", {}),
    ("GET", "/api/v1/complaints/report", "an", "query", "to", "day", {}),
    ("GET", "/api/v1/record/export", "rec", "query", "from", "day", {"to": "2026-12-31"}),
    ("GET", "/api/v1/record/export", "rec", "query", "to", "day", {"from": "2026-01-01"}),
    ("GET", "/api/v1/record/due-for-disposal", "rec", "query", "on", "day", {}),
    (
        "POST",
        "/api/v1/requests/{complaint}/complaint/review",
        "co",
        "json",
        "on",
        "day",
        {"reason": "The customer asked"},
    ),
    (
        "POST",
        "/api/v1/requests/{complaint}/complaint/review-decision",
        "co",
        "json",
        "on",
        "day",
        {"decision": "completed", "text": "Upheld the finding"},
    ),
    (
        "POST",
        "/api/v1/requests/{complaint}/complaint/ombudsman",
        "co",
        "json",
        "on",
        "day",
        {"reason": "Referred"},
    ),
    ("GET", "/api/v1/customers/reviews-due", "co", "query", "on", "day", {}),
    (
        "POST",
        "/api/v1/customers/{customer}/declarations",
        "co",
        "json",
        "review_by",
        "day",
        {"conduct": "unreasonable-persistence", "reason": "Daily calls"},
    ),
    (
        "POST",
        "/api/v1/customers/{customer}/restrictions",
        "co",
        "json",
        "review_by",
        "day",
        {"channels": ["phone"], "reason": "Daily calls"},
    ),
    (
        "POST",
        "/api/v1/customers/{customer}/restrictions",
        "co",
        "json",
        "until",
        "day",
        {"channels": ["phone"], "reason": "Daily calls", "review_by": "2099-01-01"},
    ),
    (
        "POST",
        "/api/v1/customers/{customer}/restrictions/1/review",
        "co",
        "json",
        "next_review",
        "day",
        {"note": "Still calling"},
    ),
]


def _filled(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _filled(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, names) for v in value]
    return value


def test_the_staff_api_refuses_every_date_and_instant_outside_the_calendar_with_a_422(
    api: tuple[TestClient, Runtime],
) -> None:
    client, rt = api
    ref, customer = _lodged(client)
    names = {"ref": ref, "customer": customer, "complaint": _closed_complaint(client)}
    heads = {user: sign_in(client, user) for user in STAFF}
    for method, path, user, where, field, kind, others in STAFF_API:
        for value in DAYS if kind == "day" else INSTANTS:
            given = {**_filled(others, names), field: value}
            before = stored(rt)
            got = client.request(
                method,
                _filled(path, names),
                headers=heads[user],
                **({"json": given} if where == "json" else {"params": given}),
            )
            case = (method, path, field, value, got.status_code, got.text)
            assert got.status_code == 422, case
            errors = got.json()["detail"]
            assert any(e["loc"][-1] == field and SPAN in e["msg"] for e in errors), case
            assert stored(rt) == before, case


def test_an_as_at_without_offset_is_judged_again_in_the_councils_time_on_every_route(
    api: tuple[TestClient, Runtime],
) -> None:
    """Midnight of 1 January 1900 in a council east of Greenwich is still 1899 in UTC: every
    route that takes an `as_at` reads it in the council's time and then refuses it."""
    client, _ = api
    ref, _ = _lodged(client)
    head = sign_in(client, "cs")
    paths = [
        "/api/v1/requests/{ref}",
        "/api/v1/requests/{ref}/history",
        "/api/v1/requests/{ref}/timeline",
    ]
    for path in paths:
        url = path.format(ref=ref)
        outside = client.get(url, headers=head, params={"as_at": "1900-01-01T00:00:00"})
        assert outside.status_code == 422 and SPAN in outside.text, (path, outside.text)
        inside = client.get(url, headers=head, params={"as_at": "1900-01-02T00:00:00"})
        assert inside.status_code == 404 and "not yet lodged" in inside.text, (path, inside.text)


def test_the_domain_refuses_a_date_outside_the_calendar_whatever_the_interface(
    api: tuple[TestClient, Runtime],
) -> None:
    """The command handlers inherit the bound: a delay's new date, a complaint's dates and a
    customer's review dates, given straight to the domain."""
    from datetime import date

    from commands import customers as customer_cmds
    from commands import requests as cmds
    from domain.errors import OutOfBounds
    from domain.values import Actor, Conduct

    client, rt = api
    ref, customer = _lodged(client)
    actor = Actor(id="cs", role="customer-service")
    before = stored(rt)
    for day in (date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(OutOfBounds, match="new expected completion date must lie"):
            cmds.delay_request(
                cmds.DelayRequest(
                    council=COUNCIL, reference=ref, actor=actor, reason="Supply", until=day
                ),
                rt.ports,
            )
        with pytest.raises(OutOfBounds, match="review date must lie"):
            customer_cmds.declare_conduct(
                customer_cmds.DeclareConduct(
                    council=COUNCIL,
                    number=customer,
                    actor=Actor(id="co", role="complaints-officer"),
                    conduct=next(iter(Conduct)),
                    reason="Daily calls",
                    review_by=day,
                ),
                rt.directory_ports,
            )
    assert stored(rt) == before


# -- the staff web ---------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def web(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    settings = make_settings(tmp_path / "data", _url(request))
    with served(settings, STAFF, {u: ["roads"] for u in STAFF}, public_burst=10_000) as both:
        yield both


WEB_FORMS: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("cs", "{ref}", "delay", "until", {"reason": "Asphalt supply delayed"}),
    ("co", "{complaint}", "complaint/review", "on", {"reason": "The customer asked"}),
    (
        "co",
        "{complaint}",
        "complaint/review-decision",
        "on",
        {"decision": "completed", "text": "Upheld the finding"},
    ),
    ("co", "{complaint}", "complaint/ombudsman", "on", {"reason": "Referred"}),
]


def test_the_staff_web_refuses_every_date_outside_the_calendar_on_the_page(
    web: tuple[TestClient, Runtime],
) -> None:
    client, rt = web
    ref, _ = _lodged(client)
    names = {"ref": ref, "complaint": _closed_complaint(client)}
    for user, which, action, field, others in WEB_FORMS:
        browser = as_user(client, user)
        for value in DAYS:
            before = stored(rt)
            got = post_form(browser, which.format(**names), action, **others, **{field: value})
            case = (action, field, value, got.status_code)
            assert got.status_code == 422, case
            assert f"{field}: must lie {SPAN}" in got.text, case
            assert "Traceback" not in got.text and stored(rt) == before, case
    analyst = as_user(client, "an")
    for field, other in (("from", {"to": "2026-12-31"}), ("to", {"from": "2026-01-01"})):
        for value in DAYS:
            got = analyst.get("/staff/kpi", params={"by": "category", **other, field: value})
            assert got.status_code == 422 and f"{field}: must lie {SPAN}" in got.text, (
                field,
                value,
                got.status_code,
            )


# -- Open311 ---------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def open311(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    prepared = prepare(tmp_path / "prepared", database_url=_url(request))
    with serving(tmp_path, prepared) as api:
        yield api


OPEN311: list[tuple[dict[str, str], str]] = [
    *[
        ({"start_date": v}, f"start_date must lie {SPAN}")
        for v in INSTANTS
        if "+" in v or v.count("-") > 2
    ],
    *[
        ({"end_date": v}, f"end_date must lie {SPAN}")
        for v in INSTANTS
        if "+" in v or v.count("-") > 2
    ],
    ({"start_date": "0001-01-01T00:00:00"}, "start_date must be a W3C datetime with its offset"),
    ({"end_date": "9999-12-31T23:59:59"}, "end_date must be a W3C datetime with its offset"),
    ({"start_date": "8999-12-31T00:00:00Z"}, ""),  # within the span: a window past it is fine
]


def test_open311_refuses_every_instant_outside_the_calendar_in_its_error_list(
    open311: Any,
) -> None:
    for params, says in OPEN311:
        for fmt in ("json", "xml"):
            got = open311.client.get(f"{BASE}/requests.{fmt}", params=params)
            if not says:
                assert got.status_code == 200, (params, got.text)
                continue
            assert says in error_of(got, fmt, 400), params
    before = stored(open311.rt)
    for lat, long in (("nan", "149.5"), ("-34.4", "inf"), ("1e999", "149.5"), ("NaN", "NaN")):
        got = open311.post(lat=lat, long=long)
        assert "latitude" in error_of(got, "json", 400) or "longitude" in got.text, (lat, long)
    assert stored(open311.rt) == before


# -- the command line ------------------------------------------------------------------------

Crm = Callable[..., tuple[int, str]]


@pytest.fixture(params=BACKENDS)
def crm(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Crm]:
    url = _url(request)
    for name in ("CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_COUNCIL", "CRM_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    if url:
        monkeypatch.setenv("CRM_DATABASE_URL", url)
    add_staff(make_settings(tmp_path / "data", url), COUNCIL, STAFF, {"tl": ["roads"]})
    logs = structlog.get_config()

    def run(*args: str, user: str = "cs") -> tuple[int, str]:
        capsys.readouterr()
        try:
            code = cli.main(["--council", COUNCIL, "--as", user, *args])
        except SystemExit as exit_:  # argparse's refusal of a flag
            code = int(exit_.code or 0)
        out = capsys.readouterr()
        return code, out.out + out.err

    yield run
    structlog.configure(**logs)


LODGE_ARGS = [
    "lodge",
    "--category",
    "pothole",
    "--description",
    "Hole",
    "--name",
    "Ula Fenwick",
    "--phone",
    "0400 000 222",
]
# (user, the command before the flag, the flag, a day or an instant, what follows it)
CLI: list[tuple[str, list[str], str, str]] = [
    (
        "cs",
        [*LODGE_ARGS, "--channel", "letter"],
        "--received-at",
        "instant",
    ),
    (
        "cs",
        [*LODGE_ARGS, "--channel", "phone"],
        "--agreed-completion",
        "day",
    ),
    ("cs", ["delay", "{ref}", "--reason", "Supply"], "--until", "day"),
    ("cs", ["show", "{ref}"], "--as-at", "instant"),
    ("cs", ["history", "{ref}"], "--as-at", "instant"),
    ("cs", ["timeline", "{ref}"], "--as-at", "instant"),
    ("cs", ["queue", "--team", "roads"], "--as-at", "instant"),
    ("cs", ["sla", "breached"], "--as-at", "instant"),
    ("cs", ["sla", "breached"], "--now", "instant"),
    ("cs", ["sla", "sweep"], "--now", "instant"),
    ("an", ["audit", "--ref", "{ref}"], "--as-at", "instant"),
    ("an", ["audit", "--to", "2026-12-31"], "--from", "day"),
    ("an", ["audit", "--from", "2026-01-01"], "--to", "day"),
    ("an", ["kpi", "--by", "day", "--to", "2026-12-31"], "--from", "day"),
    ("an", ["kpi", "--by", "day", "--from", "2026-01-01"], "--to", "day"),
    (
        "an",
        ["kpi", "--by", "day", "--from", "2026-01-01", "--to", "2026-01-31"],
        "--now",
        "instant",
    ),
    ("cs", ["stats", "--by", "day,type"], "--from", "day"),
    ("cs", ["stats", "--by", "day,type"], "--to", "day"),
    ("rec", ["record", "due-for-disposal"], "--on", "day"),
    ("rec", ["record", "export", "--out", "{tmp}/x.zip", "--to", "2026-12-31"], "--from", "day"),
    ("rec", ["record", "export", "--out", "{tmp}/x.zip", "--from", "2026-01-01"], "--to", "day"),
    ("an", ["complaint", "report"], "--from", "day"),
    ("an", ["complaint", "report"], "--to", "day"),
    ("co", ["complaint", "review", "{ref}", "--reason", "Asked"], "--on", "day"),
    (
        "co",
        ["complaint", "review-decision", "{ref}", "--decision", "x", "--text", "t"],
        "--on",
        "day",
    ),
    ("co", ["complaint", "ombudsman", "{ref}", "--reason", "Referred"], "--on", "day"),
    (
        "co",
        [
            "customer",
            "declare",
            "{customer}",
            "--conduct",
            "unreasonable-persistence",
            "--reason",
            "Daily calls",
        ],
        "--review-by",
        "day",
    ),
    (
        "co",
        [
            "customer",
            "restrict",
            "{customer}",
            "--channel",
            "phone",
            "--reason",
            "Calls",
            "--review-by",
            "2099-01-01",
        ],
        "--until",
        "day",
    ),
    (
        "co",
        ["customer", "restrict", "{customer}", "--channel", "phone", "--reason", "Calls"],
        "--review-by",
        "day",
    ),
    ("co", ["customer", "review", "{customer}", "1", "--note", "Still"], "--next-review", "day"),
    ("co", ["customer", "reviews-due"], "--on", "day"),
]


def test_the_command_line_refuses_every_date_and_instant_outside_the_calendar_naming_the_flag(
    crm: Crm,
    tmp_path: Path,
) -> None:
    code, out = crm("lodge", "--json", *[a for k, v in LODGE.items() for a in (f"--{k}", v)])
    assert code == 0, out
    lodged = json.loads(out)
    names = {"ref": lodged["reference"], "customer": lodged["customer"], "tmp": str(tmp_path)}
    recorded = ("audit", "--from", "2000-01-01", "--to", "2100-01-01", "--json")
    before = crm(*recorded, user="an")
    assert before[0] == 0 and names["ref"] in before[1], before
    for user, command, flag, kind in CLI:
        for value in DAYS if kind == "day" else INSTANTS:
            args = [a.format(**names) for a in command]
            code, out = crm(*args, flag, value, user=user)
            case = (args, flag, value, code, out)
            assert code == 2 and flag in out and SPAN in out, case
            assert "Traceback" not in out, case
    assert crm(*recorded, user="an") == before  # nothing written
    for flag, command in (
        ("--interval", ["sla", "watch"]),
        ("--timeout", ["projections", "verify"]),
    ):
        for value in ("nan", "inf", "-1", "0"):
            code, out = crm(*command, flag, value, user=TEST_ADMIN)
            assert code == 2 and flag in out, (flag, value, code, out)
    code, out = crm("customer", "erase-unsaved", "--older-than", "999999999999", user=TEST_ADMIN)
    assert code == 2 and "--older-than" in out, out
