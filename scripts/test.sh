#!/usr/bin/env bash
# The whole test suite, as CI runs it: client venv, formatting, lints, then every test.
# Extra arguments go to `cargo nextest run`, e.g. scripts/test.sh -E 'test(vcd)'.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "System packages (PAM, xmlsec1)"
scripts/install-system-deps.sh

step "Directory servers for the LDAP source tests (slapd, Samba AD DC)"
scripts/setup-directory-servers.sh

step "PostgreSQL for the PostgreSQL store's tests"
scripts/setup-database-servers.sh

step "Python clients for the black-box tests"
TOLLGATE_TEST_VENV=$(scripts/setup-clients.sh)
export TOLLGATE_TEST_VENV
# In CI a black-box test must fail, never skip, when it cannot find its clients.
if [[ -n ${CI:-} && ${CI} != false ]]; then
    export TOLLGATE_REQUIRE_CLIENTS=1
fi

step "Operator tools for the metrics and forward-auth tests (promtool, nginx)"
scripts/setup-ops-tools.sh

if ! cargo nextest --version >/dev/null 2>&1; then
    step "Installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "The pytest plugin's wheel (maturin), into the client venv"
scripts/build-pytest-plugin.sh "$TOLLGATE_TEST_VENV" >/dev/null

step "cargo nextest run"
cargo nextest run --workspace --no-fail-fast "$@"
