#!/usr/bin/env bash
# Debian packages the build and the tests need beyond a Rust toolchain, installed only when
# one is missing (as root; prints what to run otherwise). scripts/test.sh calls it first.
#   libpam0g-dev  libpam.so to link the `pam` identity source against
#   xmlsec1       an independent XML-DSig implementation the SAML tests sign assertions with
#   openssl       holder-of-key proofs in the SAML tests
set -euo pipefail

packages=(libpam0g-dev xmlsec1 openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) != 0 ]]; then
    echo "missing Debian packages: ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
