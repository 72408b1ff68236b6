"""The residents' portal (Kalamunda's strategy: submit and track requests 24/7): `/portal` to
report a problem, `/portal/track` to follow it by reference and tracking code. Server-rendered,
no script, usable on a phone and by keyboard alone.

A report goes through `residents.lodge`, the code path of Open311's `POST requests`, on the
channel `web-portal`; tracking shows the same public view as Open311. Forms carry a CSRF token
(a signed double submit: a random value in a strict same-site cookie, and the same value with
its HMAC under a per-process secret in the form)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from commands.errors import RequestNotFound
from domain.council import Council
from domain.errors import DomainError
from domain.lodgement import describe_rules
from domain.values import Actor, Channel
from infra import views
from infra.credentials import InProgress
from infra.http import idempotency
from infra.http.auth import runtime_of
from infra.http.error_pages import error_page
from infra.http.open311 import form_of, served_council
from infra.http.open311_format import Open311Error
from infra.http.residents import CLIENT_ROLE, Receipt, ResidentRequest, lodge

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/portal", tags=["portal"], include_in_schema=False)

CSRF_COOKIE = "portal_csrf"
NONCE = re.compile(r"[A-Za-z0-9_-]{22}")
_SECRET = secrets.token_bytes(32)  # per process: a restart asks open forms to be sent again
PORTAL = Actor(id="portal", role=CLIENT_ROLE)
EMPTY_FORM = FormData()
Text = Annotated[str, Form(max_length=4000)]
SUBMIT_FIELDS = (
    "service_code",
    "description",
    "address_string",
    "zipcode",
    "media_url",
    "first_name",
    "last_name",
    "email",
    "phone",
)


def _sign(nonce: str) -> str:
    return hmac.new(_SECRET, nonce.encode(), hashlib.sha256).hexdigest()


def _csrf_valid(request: Request, token: str) -> bool:
    nonce, _, signature = token.partition(".")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return (
        bool(nonce)
        and hmac.compare_digest(cookie, nonce)
        and hmac.compare_digest(signature, _sign(nonce))
    )


def _page(
    request: Request, council: Council, name: str, status: int = 200, **context: Any
) -> Response:
    """Renders `portal/<name>.html` with a CSRF token for the browser's cookie (a new one if
    it has none), so a form sent from an older page of the same visit still counts."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if not NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(16)
    jurisdiction = request.query_params.get("jurisdiction_id")
    response = templates.TemplateResponse(
        request,
        f"portal/{name}.html",
        {
            "council": council,
            "page": name,
            "csrf": f"{nonce}.{_sign(nonce)}",
            "query": "?" + urlencode({"jurisdiction_id": jurisdiction}) if jurisdiction else "",
            "problems": [],
            "form": {},
            "when": _when,
            "idempotency_key": secrets.token_urlsafe(16),
            **context,
        },
        status_code=status,
    )
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        path="/portal",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _when(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%-d %B %Y, %-I:%M %p")


def _submit_context(council: Council) -> dict[str, Any]:
    services = [k for k in council.categories.values() if not k.imported]
    return {
        "services": services,
        "max_description": council.description_max_chars,
        "answers": {},
        "identification": "Give "
        + describe_rules(council.identified_by)
        + " so we can tell you how it goes.",
    }


def _council(request: Request, jurisdiction_id: str | None) -> Council | Response:
    try:
        return served_council(request, jurisdiction_id)
    except Open311Error as e:
        return error_page(request, e.status, e.description)


@router.get("")
def submit_form(
    request: Request, jurisdiction_id: Annotated[str | None, Query()] = None
) -> Response:
    council = _council(request, jurisdiction_id)
    if isinstance(council, Response):
        return council
    return _page(request, council, "submit", **_submit_context(council))


@router.post("")
def submit(
    request: Request,
    csrf_token: Text = "",
    service_code: Text = "",
    description: Text = "",
    address_string: Text = "",
    zipcode: Text = "",
    media_url: Text = "",
    first_name: Text = "",
    last_name: Text = "",
    email: Text = "",
    phone: Text = "",
    idempotency_key: Annotated[str, Form(max_length=200)] = "",
    jurisdiction_id: Annotated[str | None, Query()] = None,
    key_header: Annotated[str | None, Header(alias=idempotency.HEADER)] = None,
    sent: Annotated[FormData, Depends(form_of)] = EMPTY_FORM,
) -> Response:
    """Lodges the report once: the form carries an idempotency key of its own (or the
    `Idempotency-Key` header does), so a form sent twice (a double click, a reload after a lost
    answer) shows the first receipt again and lodges nothing more."""
    council = _council(request, jurisdiction_id)
    if isinstance(council, Response):
        return council
    form = dict(
        zip(
            SUBMIT_FIELDS,
            (
                service_code,
                description,
                address_string,
                zipcode,
                media_url,
                first_name,
                last_name,
                email,
                phone,
            ),
            strict=True,
        )
    )
    once_key = key_header or idempotency_key or None
    answers = _answers(sent, service_code)
    context: dict[str, Any] = {
        **_submit_context(council),
        "form": form,
        "answers": {service_code: answers},
    }
    if once_key:  # the form sent again keeps its key
        context["idempotency_key"] = once_key
    if not _csrf_valid(request, csrf_token):
        return _page(
            request,
            council,
            "submit",
            403,
            **context,
            problems=["This form had expired. Check your answers and send it again."],
        )
    problems = [
        f"Choose {what}."
        for what, given in (("what the problem is", service_code), ("where it is", address_string))
        if not given
    ]
    if not description.strip():
        problems.append("Describe the problem.")
    if not problems:
        rt = runtime_of(request)

        def act() -> tuple[int, dict[str, Any]]:
            receipt = lodge(
                rt, council, ResidentRequest(**form, attributes=answers), Channel.WEB_PORTAL, PORTAL
            )
            return 201, {
                "reference": receipt.reference,
                "token": receipt.token,
                "service_notice": receipt.service_notice,
            }

        body = urlencode(
            sorted(
                [
                    *form.items(),
                    *((f"attribute[{code}]", v) for code, vs in answers.items() for v in vs),
                ]
            )
        ).encode()
        browser = request.cookies.get(CSRF_COOKIE, "")
        try:
            _status, done, _replayed = idempotency.once(
                rt, council.id, f"portal:{browser}", once_key, body, act, secrets=("token",)
            )
        except InProgress:
            problems.append(
                "This report is already being sent: wait a moment, then look for its reference."
            )
            return _page(request, council, "submit", 409, problems=problems, **context)
        except (DomainError, ValueError) as refused:
            problems.append(str(refused))
        else:
            return _page(request, council, "submitted", 201, receipt=Receipt(**done))
    return _page(request, council, "submit", 400, problems=problems, **context)


def _answers(sent: FormData, service_code: str) -> dict[str, list[str]]:
    """The chosen service's answers (`answer.<service>.<code>`, as the form names them; the
    questions of the other services are left out)."""
    prefix = f"answer.{service_code}."
    answers: dict[str, list[str]] = {}
    for name, value in sent.multi_items():
        if service_code and name.startswith(prefix) and isinstance(value, str):
            answers.setdefault(name[len(prefix) :], []).append(value)
    return answers


@router.get("/track")
def track_form(
    request: Request, jurisdiction_id: Annotated[str | None, Query()] = None
) -> Response:
    council = _council(request, jurisdiction_id)
    if isinstance(council, Response):
        return council
    return _page(request, council, "track")


@router.post("/track")
def track(
    request: Request,
    csrf_token: Text = "",
    reference: Text = "",
    token: Text = "",
    jurisdiction_id: Annotated[str | None, Query()] = None,
) -> Response:
    """The request, if `token` is the tracking code issued for `reference`."""
    council = _council(request, jurisdiction_id)
    if isinstance(council, Response):
        return council
    ref = reference.strip().upper()
    if not _csrf_valid(request, csrf_token):
        return _page(
            request,
            council,
            "track",
            403,
            form={"reference": ref},
            problems=["This form had expired. Please send it again."],
        )
    rt = runtime_of(request)
    if ref and rt.credentials.request_of_token(council.id, token.strip()) == ref:
        try:
            shown = views.public_request(rt, council, ref)
        except RequestNotFound:
            pass
        else:
            return _page(request, council, "track", shown=shown, form={"reference": ref})
    return _page(
        request,
        council,
        "track",
        404,
        form={"reference": ref},
        problems=["No request has this reference and tracking code. Check both."],
    )


@router.get("/portal.css")
def stylesheet() -> Response:
    css = (HERE / "templates" / "portal" / "portal.css").read_text(encoding="utf-8")
    return Response(
        css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "public, max-age=3600"}
    )
