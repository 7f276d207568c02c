#!/usr/bin/env bash
# Builds the pytest plugin's wheel (python/pytest-tollgate: the plugin and the tollgate binary)
# with the venv's maturin and installs it into that venv, replacing any earlier build. Prints the
# wheel's path on stdout; progress goes to stderr.
#
# The binary is a dev-profile build in the suite's own target directory (CARGO_TARGET_DIR, else
# <repo>/target): maturin leaves RUSTFLAGS alone and passes no --target on Linux, so the
# dependencies compiled for the tests are reused. The one difference is Cargo's feature
# resolution: `tollgate` alone (what maturin's `cargo rustc` builds) does not get the features the
# workspace's dev-dependencies add (tokio's test-util, hyper's client, the stores' `testing`), so
# the first build compiles those crates once more, beside the test build's; later builds are
# fresh.
#
# usage: scripts/build-pytest-plugin.sh VENV    (VENV as scripts/setup-clients.sh prints it)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${1:?usage: $0 VENV}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$REPO/$TARGET_DIR
WHEELS=$TARGET_DIR/pytest-tollgate-wheels

say() { echo "build-pytest-plugin: $*" >&2; }

[[ -x $VENV/bin/maturin ]] || { say "$VENV has no maturin: run scripts/setup-clients.sh"; exit 1; }

rm -rf "$WHEELS"
say "building the wheel (dev profile, target dir $TARGET_DIR)"
# Deflate level 1: the binary is a debug build of about 100 MB, and this wheel only goes
# into the local venv.
(cd "$REPO/python/pytest-tollgate" &&
    CARGO_TARGET_DIR=$TARGET_DIR "$VENV/bin/maturin" build --profile dev --out "$WHEELS" \
        --compression-method deflated --compression-level 1 >&2)
wheels=("$WHEELS"/pytest_tollgate-*.whl)
[[ ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || { say "expected one wheel in $WHEELS, found: ${wheels[*]}"; exit 1; }
say "installing ${wheels[0]##*/}"
# The version is the same from one build to the next: --force-reinstall replaces the last one.
# --no-deps: its one dependency, pytest, is pinned in the venv already.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "${wheels[0]}" >&2
echo "${wheels[0]}"
