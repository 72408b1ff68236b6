"""`crm attach REF FILE`, `crm attachments REF`, `crm attachment get HASH [--out FILE]`:
documents kept with a request, returned byte for byte."""

from __future__ import annotations

import argparse
import mimetypes
import sys
from pathlib import Path
from typing import Any

from commands import attachments as cmds
from infra import views
from infra.attachments import DirectoryFileStore
from infra.cli.common import authorized, council, emit_json, emit_table, runtime
from projections.envelope import to_plain


def media_type_of(path: Path, given: str | None) -> str:
    """`--type`, else what the file's name says (`application/octet-stream` if nothing)."""
    if given:
        return given.strip().lower()
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    return guessed or "application/octet-stream"


def run_attach(args: argparse.Namespace) -> None:
    c, rt = council(args), runtime(args)
    actor = authorized(args, c, "attach").actor
    path = Path(args.file)
    media_type = media_type_of(path, args.type)
    rule = c.attachments
    # refused before the file is read: a size the council does not take, or its type
    cmds.check_allowed(media_type, path.stat().st_size, rule.max_bytes, rule.media_types)
    cmd = cmds.AttachFile(
        council=c.id,
        reference=args.ref.strip().upper(),
        actor=actor,
        filename=path.name,
        media_type=media_type,
        content=path.read_bytes(),
        note=args.note,
    )
    done = cmds.attach_file(cmd, rt.ports, DirectoryFileStore.for_settings(rt.settings))
    emit_json(to_plain(done)) if args.json else print(done.sha256)


def run_list(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "attachments")
    rows = views.attachments(runtime(args), c, viewer, args.ref, "crm attachments")
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            rows,
            ["sha256", "media_type", "size", "filename", "uploaded_by", "attached_at"],
            c.calendar.timezone,
        )


def run_get(args: argparse.Namespace) -> None:
    c = council(args)
    viewer = authorized(args, c, "attachments")
    _, content = views.attachment_content(runtime(args), c, viewer, args.hash, "crm attachment get")
    if args.out:
        Path(args.out).write_bytes(content)
    elif sys.stdout.isatty():
        raise ValueError("the attachment is binary: give --out FILE (or redirect stdout)")
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()


def register(sub: Any) -> None:
    p = sub.add_parser(
        "attach", help="keep a document (photo, letter, form) with a request; prints its SHA-256"
    )
    p.add_argument("ref")
    p.add_argument("file")
    p.add_argument("--type", help="its media type (default: from the file's name)")
    p.add_argument("--note")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_attach)

    p = sub.add_parser("attachments", help="a request's attachments")
    p.add_argument("ref")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_list)

    p = sub.add_parser("attachment", help="read an attachment back, byte for byte")
    group = p.add_subparsers(dest="attachment_command", metavar="ACTION", required=True)
    q = group.add_parser("get", help="the attachment's content (hash checked on read)")
    q.add_argument("hash")
    q.add_argument("--out", help="write it to FILE (default: stdout, when not a terminal)")
    q.set_defaults(run=run_get)
