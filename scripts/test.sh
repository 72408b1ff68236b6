#!/usr/bin/env bash
# Sets up councilcrm and runs the whole test suite against real servers: it installs what is
# missing (pip packages; Java, Maven and PostgreSQL from Debian's packages), starts PostgreSQL
# and a single-node Kafka broker on loopback, runs the tests and the acceptance checks, and
# stops both servers again. Pass pytest arguments through, e.g. `scripts/test.sh -k kafka`.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then echo "need root to apt-get install $*" >&2; return 1; fi
  [[ -n ${APT_UPDATED:-} ]] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

started_here=""
if [[ -z ${CRM_TEST_DATABASE_URL:-} || -z ${CRM_TEST_KAFKA_BOOTSTRAP:-} ]]; then
  eval "$(python3 -m infra.services up)"
  export CRM_TEST_DATABASE_URL=$CRM_DATABASE_URL CRM_TEST_KAFKA_BOOTSTRAP=$CRM_KAFKA_BOOTSTRAP
  unset CRM_DATABASE_URL CRM_KAFKA_BOOTSTRAP
  started_here=1
fi
cleanup() { [[ -z $started_here ]] || python3 -m infra.services down || true; }
trap cleanup EXIT

python3 -m ruff check .                                                     # lint: code and tests
lint-imports --no-cache >/dev/null || { lint-imports --no-cache; exit 1; }   # imports point inward
python3 -m mypy --strict --no-incremental domain commands projections consumers infra  # typed strictly
python3 -m pytest -q -p no:cacheprovider "$@"

acceptance=../shared/acceptance
if [[ $# -eq 0 && -d $acceptance ]]; then
  bash "$acceptance/cli-lifecycle"
  for csv in ../shared/data/*.csv; do bash "$acceptance/boston-kpi" "$csv"; done
fi
