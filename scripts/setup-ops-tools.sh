#!/usr/bin/env bash
# Installs the operator tools the metrics and forward-auth tests run: promtool (Debian's
# `prometheus` package), which lints a real scrape of /metrics, and nginx, which the
# forward-auth tests put in front of a real upstream. Idempotent; their services stay stopped
# (see install-packages.sh). Needs root (apt-get); scripts/test.sh calls it.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh" setup-ops-tools prometheus nginx
