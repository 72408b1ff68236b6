#!/usr/bin/env bash
# Regenerates the lock files from the dependencies in pyproject.toml, with pip-tools' pip-compile
# (run from a throw-away virtual environment) on this machine's Python 3.11:
#   requirements.lock          every dependency, runtime and test: exact versions and hashes
#                              (scripts/test.sh and CI install from it)
#   requirements-runtime.lock  the runtime dependencies alone, at the same versions
#                              (scripts/demo.sh installs from it)
# Versions already in the lock files are kept where pyproject.toml still allows them; pass
# `--upgrade` (or `--upgrade-package NAME`) to move to newer releases. Commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check 'pip-tools==7.6.2'

export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
compile=("$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras
         --no-emit-index-url --no-emit-find-links "$@")
"${compile[@]}" --extra test --output-file requirements.lock pyproject.toml
"${compile[@]}" --constraint requirements.lock --output-file requirements-runtime.lock pyproject.toml
