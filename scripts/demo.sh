#!/usr/bin/env bash
# Sets up councilcrm and runs it on the embedded default (SQLite in ./.data, events delivered
# in-process). Needs only Python 3.11 and pip. The runtime dependencies come at their locked
# versions (requirements-runtime.lock, made by scripts/lock.sh).
#
#   bash scripts/demo.sh          the server: a demo council with demo staff (fresh passwords,
#                                 printed) and a handful of requests, on http://127.0.0.1:8080
#                                 (CRM_HOST, CRM_PORT to change); Ctrl-C stops it
#   bash scripts/demo.sh --tour   the guided tour on the command line instead
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-runtime.lock
python3 -m pip install --quiet --disable-pip-version-check --no-deps -e .
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/.data}
unset CRM_DATABASE_URL CRM_KAFKA_BOOTSTRAP
council=${CRM_COUNCIL:-upper-lachlan}
if [[ ${1:-} == --tour ]]; then
  exec python3 -m infra.cli --council "$council" demo
fi
exec python3 -m infra.cli --council "$council" serve --demo \
  --host "${CRM_HOST:-127.0.0.1}" --port "${CRM_PORT:-8080}"
