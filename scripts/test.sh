#!/usr/bin/env bash
# Sets up councilcrm and runs every check against real servers. It installs what is missing
# (Java, Maven, Chromium and its driver from Debian's packages; PostgreSQL too, through infra.services) and exactly the
# locked Python packages (requirements.lock, made by scripts/lock.sh); starts PostgreSQL and a
# single-node Kafka broker on loopback (CRM_PG_PORT, CRM_KAFKA_PORT); runs ruff, import-linter,
# mypy --strict, pytest and the acceptance checks; and stops both servers again, whatever happens.
# A server that does not start ends the run at once, with that server's own error.
#
# The servers named by the caller's CRM_DATABASE_URL / CRM_KAFKA_BOOTSTRAP are never used: only
# when both CRM_TEST_DATABASE_URL and CRM_TEST_KAFKA_BOOTSTRAP are set are those servers used
# (and neither started nor stopped). Pass pytest arguments through, e.g. `scripts/test.sh -k kafka`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test.sh: $*" >&2; }

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then say "need root to apt-get install $*"; return 1; fi
  [[ -n ${APT_UPDATED:-} ]] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven
# the browser test's headless Chromium and its WebDriver (Debian's packages)
{ command -v chromium && command -v chromedriver; } >/dev/null || apt_install chromium chromium-driver

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"
}
pip_install -r requirements.lock         # every dependency, at its locked version and hash
pip_install --no-deps -e .               # this checkout, nothing else

# Which servers: the caller's only when both CRM_TEST_* name them, else this checkout's own.
test_db=${CRM_TEST_DATABASE_URL:-}
test_kafka=${CRM_TEST_KAFKA_BOOTSTRAP:-}
# No other CRM_ setting of the caller's reaches the tests (servers, data folder, council, topic…);
# only the ports this checkout's own servers use.
for var in $(compgen -e); do
  case $var in
    CRM_PG_PORT | CRM_KAFKA_PORT) ;;
    CRM_*) unset "$var" ;;
  esac
done

started_here=""
stop_servers() {
  [[ -z $started_here ]] && return
  python3 -m infra.services down || say "could not stop the test servers (see above)"
}
trap stop_servers EXIT          # installed before anything starts: a half-done start is undone
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n $test_db && -n $test_kafka ]]; then
  say "using the servers CRM_TEST_DATABASE_URL and CRM_TEST_KAFKA_BOOTSTRAP name"
else
  [[ -z $test_db && -z $test_kafka ]] ||
    say "only one of CRM_TEST_DATABASE_URL / CRM_TEST_KAFKA_BOOTSTRAP is set: starting both servers"
  started_here=1
  if ! addresses=$(python3 -m infra.services up); then
    say "a test server did not start; its error is above"
    exit 1
  fi
  eval "$addresses"                    # export CRM_DATABASE_URL=… CRM_KAFKA_BOOTSTRAP=…
  test_db=$CRM_DATABASE_URL test_kafka=$CRM_KAFKA_BOOTSTRAP
  unset CRM_DATABASE_URL CRM_KAFKA_BOOTSTRAP
fi
export CRM_TEST_DATABASE_URL=$test_db CRM_TEST_KAFKA_BOOTSTRAP=$test_kafka

python3 -m ruff check .                                                     # code, tests, benches
python3 -m ruff format --check . >/dev/null || { python3 -m ruff format --check .; exit 1; }  # one layout
lint-imports --no-cache >/dev/null || { lint-imports --no-cache; exit 1; }   # imports point inward
python3 -m mypy --strict --no-incremental domain commands projections consumers infra

python3 -m pytest -q -p no:cacheprovider "$@"     # -rfEs --strict-markers: see pyproject.toml

acceptance=../shared/acceptance
if [[ $# -eq 0 && -d $acceptance ]]; then
  bash "$acceptance/cli-lifecycle"
  for csv in data/boston311/*.csv; do bash "$acceptance/boston-kpi" "$csv"; done
fi
