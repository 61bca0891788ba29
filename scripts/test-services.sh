#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up on loopback: PostgreSQL (127.0.0.1:5432, database
# `test`, trust for the current user) and Redis (127.0.0.1:6379), and that the browser the browser
# tests drive is there (Debian's Chromium). A stopped server is started; a missing one is installed
# from Debian's packages (root or sudo needed). Skipped when the test environment names its own
# (AFFIX_TEST_DATABASE_URL, AFFIX_TEST_REDIS_URL, AFFIX_TEST_CHROMIUM).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "need root for: $*" >&2; return 1; fi; }
apt_install() {
  echo "test-services: installing $* from Debian's packages"
  if [ ! -f /tmp/.affix-apt-updated ]; then as_root apt-get update -qq && touch /tmp/.affix-apt-updated; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  [ -n "${AFFIX_TEST_DATABASE_URL:-}" ] && return 0
  postgres_up && return 0
  local fresh=0
  if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fresh=1; fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  if [ "$fresh" = 1 ]; then
    # A server of our own making: trust on loopback, as the tests expect.
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  echo "test-services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
  postgres_up || { echo "test-services: PostgreSQL did not come up" >&2; return 1; }
  local user
  user=$(id -un)
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='$user'\" | grep -q 1 || createuser -s '$user'"
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb -O '$user' test"
}

redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  [ -n "${AFFIX_TEST_REDIS_URL:-}" ] && return 0
  redis_up && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  echo "test-services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp >/dev/null
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up || { echo "test-services: Redis did not come up" >&2; return 1; }
}

ensure_chromium() {
  [ -n "${AFFIX_TEST_CHROMIUM:-}" ] && return 0
  [ -x /usr/bin/chromium ] && return 0
  apt_install chromium
  [ -x /usr/bin/chromium ] || { echo "test-services: Chromium did not install" >&2; return 1; }
}

ensure_postgres
ensure_redis
ensure_chromium
