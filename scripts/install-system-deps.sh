#!/usr/bin/env bash
# Debian packages the build and the PAM/SAML tests need beyond a Rust toolchain, installed
# when missing (see install-packages.sh). Needs root (apt-get); scripts/test.sh calls it.
#   libpam0g-dev  libpam.so to link the `pam` identity source against
#   xmlsec1       an independent XML-DSig implementation the SAML tests sign assertions with
#   openssl       holder-of-key proofs in the SAML tests; SHA-512-crypt hashes (passwd -6) to import
#   apache2-utils htpasswd -B: bcrypt hashes to import in the imported-hash tests
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh" install-system-deps libpam0g-dev xmlsec1 openssl apache2-utils
