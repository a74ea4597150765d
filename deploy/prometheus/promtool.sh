#!/usr/bin/env bash
# promtool from Debian's prometheus package, unpacked into a cache (no root, nothing installed).
#
#   deploy/prometheus/promtool.sh fetch     download and unpack once (promtool and the server);
#                                           prints promtool's path
#   deploy/prometheus/promtool.sh path      print the binary's path (fetching it if missing)
#
# `apt-get download` needs only read access to the apt lists; run `apt-get update` once on a
# machine that has never had one.
set -euo pipefail

CACHE="${XINFANG_TOOLS_CACHE:-$HOME/.cache/xinfang/tools}"
BIN="$CACHE/bin/promtool-debian"
SERVER="$CACHE/bin/prometheus-debian"  # the server too: `make up` runs it when present

fetch() {
  if [ -x "$BIN" ] && [ -x "$SERVER" ]; then echo "$BIN"; return 0; fi
  command -v apt-get >/dev/null || { echo "promtool: apt-get is needed (Debian packages)" >&2; exit 1; }
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || {
    echo "promtool: 'apt-get download prometheus' failed; run 'apt-get update' and try again" >&2
    exit 1
  }
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  mkdir -p "$CACHE/bin"
  mv "$tmp/root/usr/bin/promtool" "$BIN"
  mv "$tmp/root/usr/bin/prometheus" "$SERVER"
  echo "$BIN"
}

case "${1:-path}" in
  fetch | path) fetch ;;
  *) echo "usage: $0 fetch|path" >&2; exit 2 ;;
esac
