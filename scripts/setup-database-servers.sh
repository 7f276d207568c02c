#!/usr/bin/env bash
# Installs PostgreSQL and Redis, whose servers the store tests start themselves (initdb and
# pg_ctl, redis-server, each in a temporary directory on a free port; the packaged services
# stay stopped: see install-packages.sh).
# Idempotent. Needs root (apt-get); scripts/test.sh calls it.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh" setup-database-servers postgresql redis-server
