#!/usr/bin/env bash
# Installs the Debian packages named after the first argument (a label for messages) unless
# they are all installed already. Debian's post-install scripts would start the services some
# of them ship (on wildcard addresses): a policy-rc.d that refuses (made and removed only if
# absent) keeps them stopped; the tests start their own. Needs root (apt-get).
# Usage: scripts/install-packages.sh LABEL PACKAGE...
set -euo pipefail

label=$1
shift
say() { echo "$label: $*" >&2; }

missing=()
for package in "$@"; do
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
