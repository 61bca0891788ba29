#!/usr/bin/env bash
# What the benchmark needs that does not come from npm, from Debian's packages: nginx (a peer) and
# curl (the client of the large downloads).
set -euo pipefail
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]} from Debian's packages"
  run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts its own nginx on port 80 after installing; the benchmark runs its own on free ports.
nginx -V 2>&1 | grep -q http_dav_module || { echo "bench: this nginx lacks the WebDAV module" >&2; exit 1; }
