#!/usr/bin/env bash
# Sets up councilcrm and runs its guided demo on the embedded default (SQLite in ./.data,
# events delivered in-process). Needs only Python 3.11 and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e .
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/.data}
unset CRM_DATABASE_URL CRM_KAFKA_BOOTSTRAP
exec python3 -m infra.cli --council "${CRM_COUNCIL:-upper-lachlan}" demo
