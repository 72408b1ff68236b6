"""A fresh clone is self-contained: no tracked file reads a `shared` folder beside the project.

The Boston 311 files the tests, benchmarks and README use live in `data/boston311/`. The only
files allowed to mention `../shared` are the test command and the CI entry point, which run the
optional acceptance checks when that folder happens to exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"scripts/test.sh", ".ci/run", "tests/unit/test_self_contained.py"}

OUTSIDE_SHARED = [
    re.compile(r"\.\.[\\/]+shared\b"),  # ../shared, ..\shared
    re.compile(r"\bparents?\b.*[\"']shared[\"']"),  # X.parent / "shared", parents[1] / 'shared'
    re.compile(r"/\s*[\"']shared[\"']"),  # anything / "shared"
    re.compile(r"[\"']\.\.[\"']\s*,\s*[\"']shared[\"']"),  # os.path.join(root, "..", "shared")
]


def refers_outside(line: str) -> bool:
    return any(p.search(line) for p in OUTSIDE_SHARED)


def tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.fail("git is needed to list the project's files")
    done = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"git ls-files failed in {ROOT}: {done.stderr.decode(errors='replace')}")
    return [name for name in done.stdout.decode().split("\0") if name]


@pytest.mark.parametrize(
    "line",
    [
        'DATA = PROJECT_ROOT.parent / "shared" / "data"',
        "FILE = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'x.csv'",
        "crm import ../shared/data/boston311_animal_2018.csv",
        "# the Boston 311 exports in ../shared/data",
        'base = here / "shared"',
        'os.path.join(ROOT, "..", "shared", "data")',
        "..\\shared\\data\\x.csv",
    ],
)
def test_the_patterns_catch_a_shared_folder_beside_the_project(line: str) -> None:
    assert refers_outside(line)


@pytest.mark.parametrize(
    "line",
    [
        'DATA = PROJECT_ROOT / "data" / "boston311"',
        "the figure to quote on a shared machine",
        '"""One bench database and topic on the shared servers."""',
        "folder.mkdir(parents=True, exist_ok=True)",
    ],
)
def test_the_patterns_leave_other_uses_of_the_word_alone(line: str) -> None:
    assert not refers_outside(line)


def test_the_boston_files_are_part_of_the_project() -> None:
    files = set(tracked_files())
    assert {
        "data/boston311/boston311_animal_2018.csv",
        "data/boston311/boston311_100_qsv.csv",
        "data/boston311/README.md",
    } <= files


def test_no_tracked_file_refers_to_a_shared_folder_outside_the_project() -> None:
    found = []
    for name in tracked_files():
        if name in ALLOWED:
            continue
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [
            f"{name}:{n}: {line.strip()}"
            for n, line in enumerate(text.splitlines(), 1)
            if refers_outside(line)
        ]
    assert not found, "files outside the project are not in a fresh clone:\n" + "\n".join(found)
