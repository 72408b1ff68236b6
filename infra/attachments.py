"""The attachments' file store: sealed bytes kept content-addressed beside the data.

Each blob is named by the SHA-256 of the bytes stored (`ab/cd/abcd…`), written to a temporary
file and renamed into place (a crash leaves no half-written blob under a real name), and
checked against its name on every read: a file changed on disk is refused, never served. On
the embedded default the store is `<CRM_DATA_DIR>/attachments`; `CRM_ATTACHMENTS_DIR` puts it
elsewhere (a mounted volume in production). The bytes are sealed before they get here
(`Sealer.seal_bytes`), so the store never holds a resident's document in the clear.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from infra.settings import Settings

ATTACHMENTS_DIR_VAR = "CRM_ATTACHMENTS_DIR"


class TamperedFile(ValueError):
    """A stored file no longer hashes to its name (or fails its seal): it is not served."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _valid_name(name: str) -> str:
    if len(name) != 64 or name.strip("0123456789abcdef"):
        raise ValueError(f"not a SHA-256 in hex: {name[:80]!r}")
    return name


class DirectoryFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_settings(cls, settings: Settings) -> DirectoryFileStore:
        configured = os.environ.get(ATTACHMENTS_DIR_VAR)
        return cls(Path(configured) if configured else settings.data_dir / "attachments")

    def path(self, name: str) -> Path:
        name = _valid_name(name)
        return self.root / name[:2] / name[2:4] / name

    def put(self, blob: bytes) -> str:
        name = sha256_hex(blob)
        target = self.path(name)
        if target.exists() and sha256_hex(target.read_bytes()) == name:
            return name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def discard(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def get(self, name: str) -> bytes:
        target = self.path(name)
        try:
            blob = target.read_bytes()
        except FileNotFoundError:
            raise TamperedFile(
                f"the stored file {name} is missing from the store: refused"
            ) from None
        if sha256_hex(blob) != name:
            raise TamperedFile(
                f"the stored file {name} was altered (its SHA-256 no longer matches): refused"
            )
        return blob
