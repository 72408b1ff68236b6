"""What keeping a document with a request costs, beside the raw file operations it contains.

Run: ``python -m bench.attachments_bench [--rounds R] [--files N] [--size BYTES]`` (defaults:
10 rounds of 20 files of 1 MiB; about half a minute on the embedded default).

In interleaved rounds, on a `Runtime` built as the CLI builds one (SQLite in a temporary
folder):

- *attach*: `attach_file` as it is: the council's rules, the request loaded, the bytes sealed
  with AES-256-GCM under the customer's key, written content-addressed (temporary file,
  `fsync`, rename), the `AttachmentAdded` event saved;
- *raw write*: the same bytes' SHA-256, then the same temporary file, `fsync` and rename;
- *get*: `views.attachment_content` as it is: the row found by hash, the reader's right to the
  request checked, the stored file hashed against its name, opened, the content hashed;
- *raw read*: the same stored file read and hashed.

The median of the per-round ratios is the figure to quote on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from commands import attachments
from commands import requests as cmds
from domain.lodgement import make_intake
from domain.permissions import Viewer
from domain.values import Actor, Channel
from infra import views
from infra.attachments import DirectoryFileStore
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT, Settings

COUNCIL = "upper-lachlan"
DESK = Actor(id="cs", role="customer-service")
CS = Viewer(
    user_id="cs", role="customer-service", roles=frozenset({"customer-service"}), teams=frozenset()
)
PNG = b"\x89PNG\r\n\x1a\n"


def _raw_write(root: Path, data: bytes) -> Path:
    name = hashlib.sha256(data).hexdigest()
    target = root / name[:2] / name[2:4] / name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=None,
            kafka_bootstrap=None,
            config_dir=PROJECT_ROOT / "config",
        )
        os.environ.pop("CRM_ATTACHMENTS_DIR", None)
        rt = Runtime(settings)
        try:
            run(rt, Path(tmp) / "raw", args.rounds, args.files, args.size)
        finally:
            rt.close()


def run(rt: Runtime, raw_root: Path, rounds: int, files: int, size: int) -> None:
    c = rt.ports.council(COUNCIL)
    store = DirectoryFileStore.for_settings(rt.settings)
    intake = make_intake(
        category="pothole",
        channel=Channel.COUNTER,
        description="Bench",
        name="Bench Resident",
        phone="0400 000 000",
    )
    ref = cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=DESK), rt.ports
    ).reference
    views.attachments(rt, c, CS, ref, "bench")  # tables made, caught up: not timed
    times: dict[str, list[float]] = {k: [] for k in ("attach", "raw write", "get", "raw read")}
    for _ in range(rounds):
        contents = [PNG + os.urandom(size - len(PNG)) for _ in range(files)]
        started = time.perf_counter()
        hashes = [
            attachments.attach_file(
                attachments.AttachFile(
                    council=COUNCIL,
                    reference=ref,
                    actor=DESK,
                    filename="photo.png",
                    media_type="image/png",
                    content=data,
                ),
                rt.ports,
                store,
            ).sha256
            for data in contents
        ]
        times["attach"].append(time.perf_counter() - started)
        started = time.perf_counter()
        written = [_raw_write(raw_root, data) for data in contents]
        times["raw write"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for sha, data in zip(hashes, contents, strict=True):
            assert views.attachment_content(rt, c, CS, sha, "bench")[1] == data
        times["get"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for path in written:
            hashlib.sha256(path.read_bytes()).hexdigest()
        times["raw read"].append(time.perf_counter() - started)
    per_file = {k: statistics.median(v) / files * 1000 for k, v in times.items()}
    print(f"{rounds} rounds of {files} files of {size:,} bytes (SQLite, embedded default)")
    for k, ms in per_file.items():
        print(f"  {k:10} {ms:8.2f} ms per file (median round)")
    for slow, base in (("attach", "raw write"), ("get", "raw read")):
        ratios = [a / b for a, b in zip(times[slow], times[base], strict=True)]
        print(f"  {slow} / {base}: {statistics.median(ratios):.2f}× (median of per-round ratios)")


if __name__ == "__main__":
    main()
