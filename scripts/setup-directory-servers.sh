#!/usr/bin/env bash
# Installs the directory servers the LDAP identity-source tests start themselves: OpenLDAP
# (slapd, ldap-utils) and a Samba AD domain controller (samba, samba-ad-dc,
# samba-ad-provision, winbind). Idempotent; their services stay stopped (see
# install-packages.sh). Needs root (apt-get); scripts/test.sh calls it.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh" setup-directory-servers \
    slapd ldap-utils samba samba-ad-dc samba-ad-provision winbind
