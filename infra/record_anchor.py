"""The council's record key (Ed25519) and signed anchors of the record chain's heads.

The private key is a PEM file outside the event store (default `<data dir>/record-keys/
<council>.ed25519`, or `CRM_RECORD_KEY_DIR`, or `--key FILE`), created with permissions 0600
in a 0700 folder, never overwritten; its public half sits beside it (`….ed25519.pub`). An
anchor is a JSON manifest — council, position, event count and head hash per log, time, the
key's fingerprint — with the signature over its canonical bytes (sorted keys, no spaces,
UTF-8). It is checked with the council's public key, never with a key the anchor carries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import DomainError
from infra.settings import Settings
from projections.record_chain import Head

FORMAT = "councilcrm record anchor v1"
FIELDS = ("format", "council", "time", "position", "event_count", "head_hash", "key")


class RecordKeyError(DomainError):
    """The council's record key is missing, exposed, or would be overwritten."""


class AnchorRejected(Exception):
    """An anchor that is not a genuine, signed anchor of this council's record: `kind` is
    `forged` (not signed by the council's key, or altered since) or `foreign` (another
    council's)."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind


def key_path(settings: Settings, council: str, given: Path | None = None) -> Path:
    if given is not None:
        return given
    folder = settings.record_key_dir or settings.data_dir / "record-keys"
    return folder / f"{council}.ed25519"


def public_path(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate(path: Path) -> str:
    """A new key at `path` (0600; its folder 0700 if created) and its public half beside it;
    refuses to replace an existing key (anchors signed with it would no longer verify)."""
    if path.exists():
        raise RecordKeyError(
            f"a record key exists already at {path}: keep it (anchors "
            "signed with it need it), or give another --key path"
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
    public = key.public_key()
    public_path(path).write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return fingerprint(public)


def load_private(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        raise RecordKeyError(f"no record key at {path}: create one with `crm record keygen`")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise RecordKeyError(f"the record key {path} is readable by others: chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RecordKeyError(f"{path} is not an Ed25519 key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """The public key from a `.pub` file, or from the private key file itself."""
    if path.suffix != ".pub" and not path.exists() and public_path(path).exists():
        path = public_path(path)
    if not path.exists():
        raise RecordKeyError(f"no record key at {path}: give --public-key FILE")
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_private(path).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise RecordKeyError(f"{path} is not an Ed25519 public key")
    return key


def canonical(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(
    key: Ed25519PrivateKey, council: str, heads: Mapping[str, Head], at: datetime
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "council": council,
        "time": at.isoformat(),
        "position": {log: h.position for log, h in heads.items()},
        "event_count": {log: h.event_count for log, h in heads.items()},
        "head_hash": {log: h.head_hash for log, h in heads.items()},
        "key": fingerprint(key.public_key()),
    }
    signature = base64.b64encode(key.sign(canonical(manifest))).decode()
    return {**manifest, "signature": signature}


def read(text: str, public: Ed25519PublicKey, council: str) -> dict[str, Any]:
    """The anchor's manifest if it is a genuine anchor of `council` signed with `public`."""
    try:
        anchor = json.loads(text)
        manifest = {k: anchor[k] for k in FIELDS}
        signature = base64.b64decode(anchor["signature"], validate=True)
        for name in ("position", "event_count", "head_hash"):
            if not isinstance(manifest[name], dict):
                raise TypeError(f"{name} is not an object")
    except (ValueError, KeyError, TypeError) as error:
        raise AnchorRejected("forged", f"not an anchor of this system ({error})") from None
    if set(anchor) != {*FIELDS, "signature"} or manifest["format"] != FORMAT:
        raise AnchorRejected("forged", "not an anchor of this system's format")
    if manifest["key"] != fingerprint(public):
        raise AnchorRejected("forged", "not signed with the council's record key")
    try:
        public.verify(signature, canonical(manifest))
    except InvalidSignature:
        raise AnchorRejected("forged", "its signature does not match its content") from None
    if manifest["council"] != council:
        raise AnchorRejected(
            "foreign", f"it anchors the record of {manifest['council']}, not {council}"
        )
    return manifest
