#!/usr/bin/env bash
# Installs the directory servers the LDAP identity-source tests start themselves: OpenLDAP
# (slapd, ldap-utils) and a Samba AD domain controller (samba, samba-ad-dc,
# samba-ad-provision, winbind). Idempotent: does nothing when every package is installed.
# Debian's post-install scripts would start slapd, smbd, nmbd and winbind on wildcard
# addresses; a policy-rc.d that refuses (made and removed only if absent) keeps them stopped.
# Needs root (apt-get); scripts/test.sh calls it.
set -euo pipefail

PACKAGES=(slapd ldap-utils samba samba-ad-dc samba-ad-provision winbind)
say() { echo "setup-directory-servers: $*" >&2; }

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
        --no-install-recommends "${PACKAGES[@]}" >&2
}
apt_install || { apt-get -o DPkg::Lock::Timeout=600 update -q >&2 && apt_install; }
