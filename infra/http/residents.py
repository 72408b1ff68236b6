"""The one way a resident's request arrives over HTTP: Open311's `POST requests` and the portal's
form both call `lodge`. The council's lodgement policy applies unchanged (a refused channel, an
anonymous request where the council refuses them); the request is recorded by the same command
handler the CLI and the staff API use, and the resident gets its reference and a token to
track it with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from commands import requests as cmds
from domain.council import Council
from domain.lodgement import make_intake
from domain.values import Actor, Channel
from infra.runtime import Runtime

CLIENT_ROLE = "client"  # recorded on requests lodged by a client (an app, the portal)
MAX_FIELD = 320
MAX_URL = 2000


@dataclass(frozen=True, kw_only=True)
class ResidentRequest:
    """What a resident (through an app or the portal) sends, in Open311's terms."""

    service_code: str
    description: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: str | None = None
    long: str | None = None
    media_url: str | None = None
    # the answers to the service's attributes (`attribute[code]`, `attribute[code][]`): every
    # request through Open311 or the portal was asked them (so a required one is required)
    attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Receipt:
    reference: str
    token: str
    service_notice: str


def lodge(
    rt: Runtime, council: Council, req: ResidentRequest, channel: Channel, actor: Actor
) -> Receipt:
    """Lodges `req` in `council` through `channel`; a `ValueError` or the policy's
    `DomainError` says why not (nothing written)."""
    lat, long = _point(req.lat, req.long)
    address = _text(req.address_string, "address_string")
    address_id = _text(req.address_id, "address_id")
    if lat is None and not address and not address_id:
        raise ValueError("say where the problem is: lat and long, address_string or address_id")
    name = (
        " ".join(
            p for p in (_text(req.first_name, "first_name"), _text(req.last_name, "last_name")) if p
        )
        or None
    )
    intake = make_intake(
        category=req.service_code,
        channel=channel,
        description=plain(req.description, "the description"),
        name=name,
        email=_text(req.email, "email"),
        phone=_text(req.phone, "phone"),
        address=address,
        lat=lat,
        long=long,
        address_id=address_id,
        zipcode=_text(req.zipcode, "zipcode"),
        media_url=_media_url(req.media_url),
        attributes={
            plain(code, "an attribute's code"): [plain(v, f"attribute[{code}]") for v in values]
            for code, values in req.attributes.items()
        },
    )
    done = cmds.lodge_request(
        cmds.LodgeRequest(council=council.id, intake=intake, actor=actor), rt.ports
    )
    token = rt.credentials.issue_request_token(council.id, done.reference, rt.clock())
    request = rt.ports.get(done.request_id, done.reference)
    notice = ""
    if request.complete_by is not None:
        due = request.complete_by.astimezone(ZoneInfo(council.calendar.timezone))
        notice = f"{council.name} expects to complete this request by {due:%-d %B %Y}."
    if not intake.identified(council.identified_by):
        notice += (
            " Without a way to contact you, the council cannot guarantee a resolution"
            " or tell you of its progress."
        )
    return Receipt(reference=done.reference, token=token, service_notice=notice.strip())


def plain(text: str, what: str) -> str:
    """`text`, if it holds no control character but line breaks and tabs (a NUL, say, that a
    database would refuse later)."""
    if any(ord(ch) < 32 and ch not in "\n\r\t" or ord(ch) == 127 for ch in text):
        raise ValueError(f"{what} contains a control character")
    return text


def _text(value: str | None, what: str) -> str | None:
    text = plain((value or "").strip(), what)
    if len(text) > MAX_FIELD:
        raise ValueError(f"{what} is longer than {MAX_FIELD} characters")
    return text or None


def _point(lat: str | None, long: str | None) -> tuple[float | None, float | None]:
    lat, long = (lat or "").strip(), (long or "").strip()
    if not lat and not long:
        return None, None
    if not (lat and long):
        raise ValueError("lat and long go together: send both, or neither")
    try:
        return float(lat), float(long)
    except ValueError:
        raise ValueError("lat and long must be decimal degrees (WGS84)") from None


def _media_url(value: str | None) -> str | None:
    """A link to media the client keeps (a photo): stored as given, never fetched here."""
    url = plain((value or "").strip(), "media_url")
    if not url:
        return None
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"media_url must be an http or https URL of at most {MAX_URL} characters")
    return url
