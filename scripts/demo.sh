#!/usr/bin/env bash
# Sets up councilcrm and runs its guided demo on the embedded default (SQLite in ./.data,
# events delivered in-process). Needs only Python 3.11 and pip. The runtime dependencies come at
# their locked versions (requirements-runtime.lock, made by scripts/lock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-runtime.lock
python3 -m pip install --quiet --disable-pip-version-check --no-deps -e .
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/.data}
unset CRM_DATABASE_URL CRM_KAFKA_BOOTSTRAP
exec python3 -m infra.cli --council "${CRM_COUNCIL:-upper-lachlan}" demo
