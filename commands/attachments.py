"""Documents kept with a request (seed 002: "documentation and forms associated with the
request will be housed in the CRM system"): refused when oversize or of a type the council
does not take (`[attachments]`), sealed under the request's data key — the customer's own when
the request names one, so erasing the customer makes the document unreadable for good."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from commands.ports import FileStore, Opener, Ports
from commands.request_store import RequestCommand, Result, load_request, save_request
from domain.bounds import require_free_text
from domain.errors import InvalidCommand

# What a file's first bytes must be for the types whose content can be told apart, so a
# renamed executable is not taken as a photo.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


class AttachmentRefused(InvalidCommand):
    """Oversize, a type the council does not take, or content that is not of its type."""


class AttachmentUnreadable(InvalidCommand):
    """The document's key was destroyed (its customer was erased): it cannot be read."""


@dataclass(frozen=True, kw_only=True)
class AttachFile(RequestCommand):
    filename: str
    media_type: str
    content: bytes
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Attached(Result):
    sha256: str
    size: int
    media_type: str


def check_allowed(media_type: str, size: int, most: int, allowed: frozenset[str]) -> None:
    """Refuses before anything is read or written: the council's limit and types."""
    if size > most:
        raise AttachmentRefused(f"the file is {size:,} bytes: the council takes at most {most:,}")
    if media_type not in allowed:
        raise AttachmentRefused(
            f"the council does not take {media_type} files (accepted: {', '.join(sorted(allowed))})"
        )


def attach_file(cmd: AttachFile, ports: Ports, files: FileStore) -> Attached:
    council = ports.council(cmd.council)
    rule = council.attachments
    check_allowed(cmd.media_type, len(cmd.content), rule.max_bytes, rule.media_types)
    signatures = SIGNATURES.get(cmd.media_type)
    if signatures and not cmd.content.startswith(signatures):
        raise AttachmentRefused(f"the file's content is not {cmd.media_type}")
    if not cmd.content:
        raise AttachmentRefused("the file is empty")
    if cmd.note:
        require_free_text(cmd.note, "an attachment's note")
    request = load_request(ports, cmd)
    now = ports.now()
    sealer = ports.vault.sealer(request.data_key, council.id, now)
    sha = hashlib.sha256(cmd.content).hexdigest()
    filename = sealer.seal(cmd.filename.strip() or "attachment")
    assert filename is not None
    # sealed with a fresh nonce, the blob is this attempt's alone: if the event is not
    # recorded (refused, or another change won), it is removed again
    blob = files.put(sealer.seal_bytes(cmd.content))
    try:
        request.attach(
            sha256=sha,
            blob=blob,
            media_type=cmd.media_type,
            size=len(cmd.content),
            filename=filename,
            note=cmd.note,
            occurred_at=now,
            actor=cmd.actor,
        )
        saved = save_request(ports, request)
    except BaseException:
        files.discard(blob)
        raise
    return Attached(**vars(saved), sha256=sha, size=len(cmd.content), media_type=cmd.media_type)


def read_content(files: FileStore, opener: Opener, blob: str, sha256: str) -> bytes:
    """The document as attached: its stored bytes checked against their name, opened (their
    seal authenticates them), and checked against the content's recorded SHA-256."""
    stored = files.get(blob)
    try:
        content = opener.open_bytes(stored)
    except ValueError as e:
        raise InvalidCommand(f"the stored file {blob} was altered ({e}): refused") from None
    if content is None:
        raise AttachmentUnreadable(
            f"attachment {sha256} cannot be read: its customer's personal data was erased"
        )
    if hashlib.sha256(content).hexdigest() != sha256:
        raise InvalidCommand(f"attachment {sha256} does not match its recorded SHA-256: refused")
    return content
