#!/usr/bin/env bash
# Installs PostgreSQL, whose initdb and pg_ctl the PostgreSQL store's tests run to start
# servers of their own (its packaged cluster stays stopped: see install-packages.sh).
# Idempotent. Needs root (apt-get); scripts/test.sh calls it.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh" setup-database-servers postgresql
