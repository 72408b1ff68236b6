"""Open311's two formats of the same answer: XML (its root and element names as the spec gives
them, a UTF-8 declaration, no namespace) and JSON (the spec's "Spark convention" mapping of the
XML: a repeated element becomes an array, an empty one null)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from fastapi.responses import JSONResponse, Response

FORMATS = ("json", "xml")
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
# Each list's element name: <services><service/>…, <service_requests><request/>… (the spec's)
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


class Open311Error(Exception):
    """An answer in Open311's error form: 400 bad input, 403 api_key, 404 not found."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def render(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    """`data` as JSON, or as XML under the element `root`."""
    if fmt == "json":
        return JSONResponse(data, status_code=status, media_type=JSON_TYPE)
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        _element(root, data), encoding="unicode"
    )
    return Response(body.encode("utf-8"), status_code=status, media_type=XML_TYPE)


def errors(fmt: str, status: int, *descriptions: str) -> Response:
    """The spec's error list; each `code` is the HTTP status."""
    return render(
        fmt if fmt in FORMATS else "json",
        "errors",
        [{"code": status, "description": " ".join(d.split())} for d in descriptions],
        status,
    )


def _element(name: str, value: Any) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, list):
        element.extend(_element(ITEM[name], item) for item in value)
    elif isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element
