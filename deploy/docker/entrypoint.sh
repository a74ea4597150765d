#!/bin/sh
# Entry point of every Xinfang service image: runs the service's database migrations, when the
# image has them, before the server starts; then becomes the given command (exec, so that the
# server is PID 1 and receives SIGTERM itself).
#
# The migration command is `xinfang-<service>-migrate` (XINFANG_SERVICE is set by each
# Dockerfile); it is idempotent, and replicas starting together migrate once (advisory lock).
# Migrations run only before the HTTP server (`uvicorn ...`), not before one-shot commands such
# as the topics job; XINFANG_MIGRATE=false skips them (e.g. when a separate Job runs them).
set -eu

if [ "${1:-}" = "uvicorn" ] && [ "${XINFANG_MIGRATE:-true}" = "true" ]; then
  migrate="xinfang-${XINFANG_SERVICE:?the image must set XINFANG_SERVICE}-migrate"
  if command -v "$migrate" >/dev/null 2>&1; then
    echo "entrypoint: running $migrate" >&2
    "$migrate"
  fi
fi

exec "$@"
