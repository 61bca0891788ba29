#!/usr/bin/env bash
# The benchmark's peers that do not come from npm: nginx, from Debian's packages.
set -euo pipefail
if ! command -v nginx >/dev/null; then
  echo "bench: installing nginx from Debian's packages"
  run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
# Debian starts its own nginx on port 80 after installing; the benchmark runs its own on free ports.
nginx -V 2>&1 | grep -q http_dav_module || { echo "bench: this nginx lacks the WebDAV module" >&2; exit 1; }
