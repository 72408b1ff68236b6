"""A staff API call that changes something, as one dependency: who made it (permitted the route's
action), its raw body and `Idempotency-Key`, and the answer it gets. `Call.once` acts once per
key and replays the first answer on a retry; `RequestCall.command` runs a request's command,
conditional on `If-Match` (the version the caller saw).

A route declares one parameter instead of six:

    @router.post("/requests/{reference}/assign", response_model=Outcome)
    def assign(body: AssignIn, call: Annotated[RequestCall, request_call_by("assign")]) -> …:
        return call.command(cmds.AssignRequest, team=body.team, officer=body.officer)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, Response

from commands import requests as cmds
from infra.http import idempotency
from infra.http.auth import Staff, runtime_of, staff
from infra.runtime import Runtime

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


async def raw_body(request: Request) -> bytes:
    return await request.body()


def run_once(
    request: Request,
    who: Staff,
    key: str | None,
    body: bytes,
    status: int,
    act: Callable[[], dict[str, Any]],
    response: Response,
) -> dict[str, Any]:
    """`act()` once per idempotency key; its answer (and the ETag) replayed on a retry. The
    key holds for the one route and body it was first sent with (another path or query —
    say, another request's reference — counts as another body: refused)."""
    try:
        done, answer, replayed = idempotency.once(
            runtime_of(request),
            who.council.id,
            f"user:{who.viewer.user_id}",
            key,
            idempotency.fingerprint(
                request.method, str(request.url.path), str(request.url.query), body
            ),
            lambda: (status, act()),
        )
    except ValueError as bad:
        raise HTTPException(400, str(bad)) from None
    response.status_code = done
    if "version" in answer:
        response.headers["ETag"] = f'"{answer["version"]}"'
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@dataclass(frozen=True)
class Call:
    """A call that changes something: who made it, what they sent, and where its answer goes."""

    request: Request
    response: Response
    who: Staff
    raw: bytes
    idempotency_key: str | None

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.request)

    def once(self, status: int, act: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`act()`'s answer with `status`, acted once per idempotency key (`run_once`)."""
        return run_once(
            self.request, self.who, self.idempotency_key, self.raw, status, act, self.response
        )


@dataclass(frozen=True)
class RequestCall(Call):
    """A call on the request named in the path, conditional on `If-Match` when given."""

    reference: str
    if_match: str | None

    def command(
        self,
        make: Callable[..., Any],
        handle: Callable[[Any, Any], cmds.Result] = cmds.handle,
        **fields: Any,
    ) -> dict[str, Any]:
        """Runs the command `make(**fields)` on the request through `handle`, once per key;
        the answer is the request's new version and position."""

        def act() -> dict[str, Any]:
            cmd = make(
                council=self.who.council.id,
                reference=self.reference.strip().upper(),
                actor=self.who.viewer.actor,
                expected_version=expected_version(self.if_match),
                **fields,
            )
            return outcome(handle(cmd, self.runtime.ports))

        return self.once(200, act)


# The dependencies below take `action` from their closure: it is given as a default, which is
# evaluated where it is written (an annotation is a string read in the module's globals).


def call_by(action: str) -> Any:
    """The dependency giving a `Call` made by staff permitted `action`."""

    async def dependency(
        request: Request,
        response: Response,
        who: Staff = Depends(staff(action)),  # noqa: B008 (see above)
        raw: bytes = Depends(raw_body),
        idempotency_key: IdempotencyKey = None,
    ) -> Call:
        return Call(request, response, who, raw, idempotency_key)

    return Depends(dependency)


def request_call_by(action: str) -> Any:
    """The dependency giving a `RequestCall` on `/…/{reference}/…` made by staff permitted
    `action`."""

    async def dependency(
        reference: str,
        request: Request,
        response: Response,
        who: Staff = Depends(staff(action)),  # noqa: B008 (see above)
        raw: bytes = Depends(raw_body),
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RequestCall:
        return RequestCall(request, response, who, raw, idempotency_key, reference, if_match)

    return Depends(dependency)


def outcome(done: cmds.Result) -> dict[str, Any]:
    return {
        "request_id": str(done.request_id),
        "reference": done.reference,
        "version": done.version,
        "position": done.position,
    }


def expected_version(if_match: str | None) -> int | None:
    """The version `If-Match` names (None for none, or `*`); 400 for anything but a version."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise HTTPException(
            400, f"If-Match must be a request's version (an ETag), got {if_match!r}"
        )
    return int(text)
