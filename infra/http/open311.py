"""Open311 GeoReport v2 at `/open311/v2/` (wiki.open311.org/GeoReport_v2), each resource in
`.json` and `.xml`: discovery, the council's services and their definitions, `POST requests`
(an API key from `crm apikeys add`), the public view of requests, and tokens.

`jurisdiction_id` is the council's id (`kalamunda`); it may be left out when the server serves
one council, and a POST's API key names its own council. `service_request_id` is the council's
reference. The public view never shows a contact detail, and shows a description only once
staff approved one for the public (`crm publish`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from commands.errors import RequestNotFound
from domain.attributes import LISTS, Attribute, InvalidAttributes
from domain.council import Council
from domain.errors import DomainError
from domain.values import Actor, Channel
from infra import views
from infra.credentials import InProgress
from infra.http import idempotency
from infra.http.auth import runtime_of
from infra.http.open311_format import FORMATS, Open311Error, errors, render
from infra.http.residents import CLIENT_ROLE, ResidentRequest, lodge, plain
from projections.public_requests import MAX_ROWS, PublicFilter

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
WINDOW = timedelta(days=90)  # the spec's default span of GET requests, and its longest
STARTED = datetime.now(UTC)  # the service list is read from configuration at start

ERROR = {"description": "the spec's list of errors ({code, description})"}
router = APIRouter(
    prefix="/open311/v2",
    tags=["open311"],
    responses={
        200: {"content": {"application/json": {}, "text/xml": {}}},
        400: ERROR,
        403: ERROR,
        404: ERROR,
    },
)
Param = Annotated[str | None, Query()]
Format = Annotated[str, Path(description="json or xml", json_schema_extra={"enum": list(FORMATS)})]
Instant = Annotated[
    str | None,
    Query(description="a W3C datetime with its offset", json_schema_extra={"format": "date-time"}),
]
Field = Annotated[str | None, Form()]


def answer(fmt: str, make: Callable[[], tuple[str, Any]]) -> Response:
    """`make()`'s (root, data) in `fmt`, or its failure in Open311's error form."""
    if fmt not in FORMATS:
        return errors("json", 404, f"no format {fmt!r}: use .json or .xml")
    try:
        root, data = make()
    except Open311Error as e:
        return errors(fmt, e.status, e.description)
    except InvalidAttributes as e:  # every problem with the answers, each an error
        return errors(fmt, 400, *e.problems)
    except RequestNotFound as e:
        return errors(fmt, 404, str(e))
    except InProgress as e:
        return errors(fmt, 409, str(e))
    except (DomainError, ValueError) as e:  # the council's policy, or bad input
        return errors(fmt, 400, str(e))
    return render(fmt, root, data)


def served_council(request: Request, jurisdiction_id: str | None) -> Council:
    """The council `jurisdiction_id` names, or the one served."""
    served: list[str] = request.app.state.councils
    wanted = (jurisdiction_id or "").strip()
    if wanted and wanted not in served:
        raise Open311Error(
            404, f"jurisdiction_id {wanted!r} not found (served: {', '.join(served)})"
        )
    if not wanted and len(served) > 1:
        raise Open311Error(400, f"jurisdiction_id was not provided (one of {', '.join(served)})")
    return runtime_of(request).ports.council(wanted or served[0])


@router.get("/discovery.{fmt}")
def discovery(request: Request, fmt: Format) -> Response:
    """Where the endpoint is and what it speaks (the Service Discovery spec)."""
    changeset = STARTED.strftime("%Y-%m-%d %H:%M")

    def make() -> tuple[str, Any]:
        return "discovery", {
            "changeset": changeset,
            "contact": "Ask the council's customer service for help with this service.",
            "key_service": "API keys are issued by the council's administrators "
            "(crm apikeys add NAME).",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": str(request.base_url).rstrip("/") + router.prefix,
                    "changeset": changeset,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }

    return answer(fmt, make)


def _service(c: Council, code: str) -> dict[str, Any]:
    k = c.categories[code]
    team = c.teams.get(k.team)
    target = f"; completed within {k.complete_days} business days" if k.complete_days else ""
    return {
        "service_code": k.code,
        "service_name": k.name,
        "description": f"{k.name}{target}",
        "metadata": bool(k.attributes),
        "type": "realtime",
        "keywords": ", ".join(k.code.split("-")),
        "group": team.name if team else k.team,
    }


@router.get("/services.{fmt}")
def services(request: Request, fmt: Format, jurisdiction_id: Param = None) -> Response:
    """The council's request categories."""

    def make() -> tuple[str, Any]:
        c = served_council(request, jurisdiction_id)
        return "services", [_service(c, k.code) for k in c.categories.values() if not k.imported]

    return answer(fmt, make)


def _attribute(a: Attribute) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "variable": a.variable,
        "code": a.code,
        "datatype": a.datatype,
        "required": a.required,
        "datatype_description": a.datatype_description,
        "order": a.order,
        "description": a.description,
    }
    if a.datatype in LISTS:
        shown["values"] = [{"key": v.key, "name": v.name} for v in a.values]
    return shown


@router.get("/services/{service_code}.{fmt}")
def service_definition(
    request: Request, service_code: str, fmt: Format, jurisdiction_id: Param = None
) -> Response:
    """A category's attributes (the council's configuration), in the spec's fields and order:
    `variable`, `code`, `datatype`, `required`, `datatype_description`, `order`, `description`
    and, for the list datatypes, `values` ({`key`, `name`})."""

    def make() -> tuple[str, Any]:
        c = served_council(request, jurisdiction_id)
        if service_code not in c.categories or c.categories[service_code].imported:
            raise Open311Error(404, f"service_code {service_code!r} not found")
        return "service_definition", {
            "service_code": service_code,
            "attributes": [
                _attribute(a)
                for a in sorted(
                    c.categories[service_code].attributes, key=lambda a: (a.order, a.code)
                )
            ],
        }

    return answer(fmt, make)


async def form_of(request: Request) -> FormData:
    """The request's form as parsed (every field, `attribute[code]` ones too)."""
    return await request.form()


ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,64})\](\[\])?")


def answers_in(form: FormData) -> dict[str, list[str]]:
    """The form's `attribute[code]` (one value) and `attribute[code][]` (each of a
    multivaluelist's) fields, by code."""
    answers: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        found = ATTRIBUTE.fullmatch(name)
        if found and isinstance(value, str):
            answers.setdefault(found.group(1), []).append(value)
    return answers


def form_bytes(form: FormData) -> bytes:
    """The form's fields in one order, for the idempotency record's hash."""
    return urlencode(sorted((k, v) for k, v in form.multi_items() if isinstance(v, str))).encode()


@router.post("/requests.{fmt}")
def create_request(
    request: Request,
    fmt: Format,
    form: Annotated[FormData, Depends(form_of)],
    api_key: Field = None,
    jurisdiction_id: Field = None,
    service_code: Field = None,
    lat: Field = None,
    long: Field = None,
    address_string: Field = None,
    address_id: Field = None,
    zipcode: Field = None,
    email: Field = None,
    device_id: Field = None,
    account_id: Field = None,
    first_name: Field = None,
    last_name: Field = None,
    phone: Field = None,
    description: Field = None,
    media_url: Field = None,
    idempotency_key: Annotated[str | None, Header(alias=idempotency.HEADER)] = None,
) -> Response:
    """Lodges a request (form-encoded; `api_key` required). Answers its `service_request_id`
    (the council's reference) and a `token` the resident keeps to track it. With an
    `Idempotency-Key`, a retry answers the first attempt's result and lodges nothing."""
    replayed = False

    def make() -> tuple[str, Any]:
        nonlocal replayed
        rt = runtime_of(request)
        key = rt.credentials.api_key((api_key or "").strip())
        if key is None:
            raise Open311Error(403, "api_key is missing or invalid")
        if key.council not in request.app.state.councils or (
            jurisdiction_id and jurisdiction_id.strip() != key.council
        ):
            raise Open311Error(403, "this api_key is not valid for this jurisdiction_id")
        c = served_council(request, key.council)
        code = (service_code or "").strip()
        if not code:
            raise Open311Error(400, "service_code was not provided")
        if code not in c.categories or c.categories[code].imported:
            raise Open311Error(404, f"service_code {code!r} not found")

        def act() -> tuple[int, dict[str, Any]]:
            receipt = lodge(
                rt,
                c,
                ResidentRequest(
                    service_code=code,
                    description=description or "",
                    first_name=first_name,
                    last_name=last_name,
                    email=email,
                    phone=phone,
                    address_string=address_string,
                    address_id=address_id,
                    zipcode=zipcode,
                    lat=lat,
                    long=long,
                    media_url=media_url,
                    attributes=answers_in(form),
                ),
                Channel(key.channel),
                Actor(id=f"open311:{key.name}", role=CLIENT_ROLE),
            )
            return 200, {
                "service_request_id": receipt.reference,
                "token": receipt.token,
                "service_notice": receipt.service_notice or None,
                "account_id": None,
            }

        _status, created, replayed = idempotency.once(
            rt,
            c.id,
            f"apikey:{key.name}",
            idempotency_key,
            form_bytes(form),
            act,
            secrets=("token",),
        )
        return "service_requests", [created]

    answered = answer(fmt, make)
    if replayed:
        answered.headers["Idempotent-Replayed"] = "true"
    return answered


@router.get("/requests.{fmt}")
def list_requests(
    request: Request,
    fmt: Format,
    jurisdiction_id: Param = None,
    service_request_id: Param = None,
    service_code: Param = None,
    start_date: Instant = None,
    end_date: Instant = None,
    status: Param = None,
) -> Response:
    """Requests lodged in a span of at most 90 days (by default the last 90), newest first, at
    most 1,000; `service_request_id` (comma-separated) overrides every other filter."""

    def make() -> tuple[str, Any]:
        c = served_council(request, jurisdiction_id)
        refs = _listed(service_request_id)
        if refs:
            if len(refs) > MAX_ROWS:
                raise Open311Error(400, f"at most {MAX_ROWS} service_request_id at once")
            f = PublicFilter(council=c.id, references=[r.upper() for r in refs])
        else:
            start, end = _window(runtime_of(request).clock(), start_date, end_date)
            f = PublicFilter(
                council=c.id,
                categories=_listed(service_code) or None,
                statuses=_statuses(status),
                start=start,
                end=end,
            )
        return "service_requests", views.public_requests(runtime_of(request), c, f)

    return answer(fmt, make)


@router.api_route(
    "/requests.{fmt}", methods=["PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False
)
def other_method(fmt: Format) -> Response:
    """GET and POST share this path as two routes; one answer names both (Starlette's own
    405 would name only the first)."""
    answered = errors(fmt, 405, "requests takes GET (the list) or POST (a new request)")
    answered.headers["Allow"] = "GET, POST"
    return answered


@router.get("/requests/{service_request_id}.{fmt}")
def one_request(
    request: Request, service_request_id: str, fmt: Format, jurisdiction_id: Param = None
) -> Response:
    def make() -> tuple[str, Any]:
        c = served_council(request, jurisdiction_id)
        ref = plain(service_request_id, "service_request_id")
        return "service_requests", [views.public_request(runtime_of(request), c, ref)]

    return answer(fmt, make)


@router.get("/tokens/{token}.{fmt}")
def from_token(
    request: Request, token: str, fmt: Format, jurisdiction_id: Param = None
) -> Response:
    """The `service_request_id` a token was issued for."""

    def make() -> tuple[str, Any]:
        c = served_council(request, jurisdiction_id)
        reference = runtime_of(request).credentials.request_of_token(c.id, token)
        if reference is None:
            raise Open311Error(404, "token not found")
        return "service_requests", [{"service_request_id": reference, "token": token}]

    return answer(fmt, make)


def _listed(text: str | None) -> list[str]:
    return [part.strip() for part in plain(text or "", "a filter").split(",") if part.strip()]


def _statuses(text: str | None) -> list[str] | None:
    wanted = _listed(text)
    unknown = [s for s in wanted if s not in ("open", "closed")]
    if unknown:
        raise Open311Error(400, f"status {unknown[0]!r} is not open or closed")
    return wanted or None


def _instant(text: str, name: str) -> datetime:
    instant: datetime | None
    try:
        instant = datetime.fromisoformat(text.strip())  # takes "Z" since Python 3.11
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise Open311Error(
            400, f"{name} must be a W3C datetime with its offset, e.g. 2026-01-01T00:00:00Z"
        )
    if not views.within_calendar(instant):
        raise Open311Error(400, f"{name} must lie {views.CALENDAR_SPAN}")
    return instant


def _window(
    now: datetime, start_date: str | None, end_date: str | None
) -> tuple[datetime, datetime]:
    """[start, end], at most 90 days: the last 90 days unless the caller says otherwise."""
    start = _instant(start_date, "start_date") if start_date and start_date.strip() else None
    end = _instant(end_date, "end_date") if end_date and end_date.strip() else None
    if start is None and end is None:
        return now - WINDOW, now
    if start is None:
        assert end is not None
        return end - WINDOW, end
    if end is None:
        return start, start + WINDOW
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end
