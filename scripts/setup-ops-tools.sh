#!/usr/bin/env bash
# Installs the operator tools the metrics and forward-auth tests run: promtool (Debian's
# `prometheus` package), which lints a real scrape of /metrics, and nginx, which the
# forward-auth tests put in front of a real upstream. Idempotent: does nothing when both are
# installed. Debian's post-install scripts would start prometheus (on *:9090) and nginx (on
# *:80); a policy-rc.d that refuses (made and removed only if absent) keeps them stopped.
# Needs root (apt-get); scripts/test.sh calls it.
set -euo pipefail

PACKAGES=(prometheus nginx)
say() { echo "setup-ops-tools: $*" >&2; }

missing=()
for package in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null) == ii* ]] || missing+=("$package")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
    say "missing ${missing[*]}; run this script as root (or apt-get install them)"
    exit 1
fi

say "installing ${missing[*]}"
POLICY=/usr/sbin/policy-rc.d
ours=0
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    ours=1
fi
trap '((ours)) && rm -f "$POLICY"' EXIT
# Other installs may hold the dpkg lock for a while: wait for it rather than fail.
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}" >&2
}
apt_install || { apt-get -o DPkg::Lock::Timeout=600 update -q >&2 && apt_install; }
